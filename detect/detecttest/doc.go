// Package detecttest holds conformance checks for implementations of the
// detect package's interfaces, so that a Counters kept in another store (a
// Redis Cluster, a database) is held to the same contract as the in-memory
// one:
//
//	func TestMyCounters(t *testing.T) {
//		detecttest.RunCounters(t, newMyCounters(t), "test:")
//	}
package detecttest
