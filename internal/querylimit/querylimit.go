// Package querylimit turns the Limit field of secmon's query types into the
// number of rows a Store returns, so every Store in this module reads it the
// same way.
package querylimit

import "github.com/secmon-go/secmon"

// Clamp returns the effective limit for a query's Limit field:
// secmon.DefaultQueryLimit for zero or less, at most secmon.MaxQueryLimit.
func Clamp(n int) int {
	switch {
	case n <= 0:
		return secmon.DefaultQueryLimit
	case n > secmon.MaxQueryLimit:
		return secmon.MaxQueryLimit
	}
	return n
}

// ClampTop returns the effective number of entries for a
// secmon.TopQuery's Limit: secmon.DefaultTopLimit for zero or less, at most
// secmon.MaxTopLimit.
func ClampTop(n int) int {
	switch {
	case n <= 0:
		return secmon.DefaultTopLimit
	case n > secmon.MaxTopLimit:
		return secmon.MaxTopLimit
	}
	return n
}
