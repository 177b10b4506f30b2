package pgstore

// UseStagedInserts makes s write every event and activity batch through a
// temporary table, the path a retried batch takes, so tests and benchmarks
// can exercise and compare it.
func UseStagedInserts(s *Store) { s.mode = insertStaged }
