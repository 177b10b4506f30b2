// Package benchmarks measures secmon side by side with peer libraries.
//
// It is its own module so that the peers never enter secmon's go.mod.
package benchmarks
