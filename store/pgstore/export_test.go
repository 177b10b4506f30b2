package pgstore

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
)

// UseStagedInserts makes s write every event and activity batch through a
// temporary table, the path a retried batch takes, so tests and benchmarks
// can exercise and compare it.
func UseStagedInserts(s *Store) { s.mode = insertStaged }

// Pool returns the pool s writes through.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// PairRolledUp reports whether events of type t are kept in the pair
// rollup.
func (s *Store) PairRolledUp(t secmon.EventType) bool { return s.pairTypes[t] }

// SkipRollupWrites makes s write events without adding them to the
// rollups, so benchmarks can measure what the rollups cost a write.
func SkipRollupWrites(s *Store) { s.skipRollups = true }
