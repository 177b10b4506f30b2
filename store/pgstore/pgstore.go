package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
)

// Defaults for the zero fields of Config.
const (
	DefaultSchema           = "secmon"
	DefaultStatementTimeout = 5 * time.Second
	DefaultPartitionsAhead  = 7
	// DefaultPurgeBatch is how many rows one DELETE of Purge aims at.
	DefaultPurgeBatch = 10000
)

// Limits on Config.
const (
	MaxPartitionsAhead = 366
	MaxPurgeBatch      = 1000000
)

// AlertChannel is the LISTEN/NOTIFY channel on which the schema announces
// every inserted or changed alert; the payload is the alert ID.
const AlertChannel = "secmon_alerts"

// Config configure a Store. The zero value means the defaults.
type Config struct {
	// Schema is the schema the secmon migrations were applied to (see package
	// sqlschema). Default DefaultSchema ("secmon"). It must be a plain
	// identifier: a letter or '_' followed by letters, digits or '_', at
	// most 63 bytes.
	Schema string
	// StatementTimeout bounds each statement the Store sends: when it passes,
	// the statement is cancelled and the call fails with an error matching
	// ErrStatementTimeout, so a slow or locked database fails fast instead
	// of piling up callers. Default DefaultStatementTimeout (5s); negative
	// means no bound beyond the caller's context.
	StatementTimeout time.Duration
	// PartitionsAhead is how many days of event partitions Maintain keeps
	// created beyond today. Default DefaultPartitionsAhead (7); at most
	// MaxPartitionsAhead.
	PartitionsAhead int
	// PurgeBatch is how many rows one DELETE of Purge removes: at most
	// that many from sessions and alerts, and about that many from events
	// and activity, which go in adaptive time slices. EraseUser deletes a
	// user's events and activity in batches of this many rows too. Default
	// DefaultPurgeBatch; at most MaxPurgeBatch.
	PurgeBatch int
	// PairRollupTypes are the event types counted, at write time, by hour,
	// type, IP group and user in the schema's pair rollup
	// (event_pairs_hourly), from which Top answers a query whose Types are
	// all among them; any other Top query reads the events. Nil means
	// DefaultPairRollupTypes, the failures the dashboard ranks, for which
	// migration 006_rollups filled the rollup; an empty non-nil slice keeps
	// no pairs. Every Store writing to a schema must use the same set.
	// Adding a type to it on a schema that already holds events of that type
	// needs [Store.RebuildRollups] over the retained range, or Top misses the
	// events written before.
	PairRollupTypes []secmon.EventType
	// RawReports makes Hourly and Top compute every figure from the events,
	// as if there were no rollups (which are still maintained). The results
	// are the same; it is for comparing the two and for schemas whose events
	// are also written by other means than the Store.
	RawReports bool
	// Clock stamps updated_at on alerts. Nil means the system clock.
	Clock secmon.Clock
	// Logger receives maintenance and subscription records (partitions
	// created or dropped, reconnections). Nil means silent.
	Logger *slog.Logger
}

var plainIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func (o Config) withDefaults() (Config, error) {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if !plainIdentifier.MatchString(o.Schema) {
		return o, &secmon.FieldError{Field: "Schema", Reason: "must be a plain identifier of at most 63 bytes"}
	}
	switch {
	case o.StatementTimeout == 0:
		o.StatementTimeout = DefaultStatementTimeout
	case o.StatementTimeout < 0:
		o.StatementTimeout = 0
	}
	switch {
	case o.PartitionsAhead == 0:
		o.PartitionsAhead = DefaultPartitionsAhead
	case o.PartitionsAhead < 0 || o.PartitionsAhead > MaxPartitionsAhead:
		return o, &secmon.FieldError{Field: "PartitionsAhead", Reason: fmt.Sprintf("must be between 1 and %d", MaxPartitionsAhead)}
	}
	switch {
	case o.PurgeBatch == 0:
		o.PurgeBatch = DefaultPurgeBatch
	case o.PurgeBatch < 0 || o.PurgeBatch > MaxPurgeBatch:
		return o, &secmon.FieldError{Field: "PurgeBatch", Reason: fmt.Sprintf("must be between 1 and %d", MaxPurgeBatch)}
	}
	if o.PairRollupTypes == nil {
		o.PairRollupTypes = DefaultPairRollupTypes
	}
	for _, t := range o.PairRollupTypes {
		if t == "" {
			return o, &secmon.FieldError{Field: "PairRollupTypes", Reason: "holds an empty type"}
		}
	}
	if o.Clock == nil {
		o.Clock = secmon.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Store is the PostgreSQL secmon.Store. It is safe for concurrent use. It
// holds no connection of its own and starts no goroutine: every call borrows
// a connection from the caller's pool, which the Store never closes.
type Store struct {
	pool *pgxpool.Pool
	opts Config

	// Schema-qualified, quoted table names.
	events, eventsDefault, sessions, activity, alerts, blocks string
	// The rollups: hourly counts by type and severity, and by type, IP
	// group and user for pairTypes.
	hourly, pairs string
	pairTypes     map[secmon.EventType]bool
	// blockChannel is the schema's NOTIFY channel for blocks.
	blockChannel string
	// Quoted name of the ensure_event_partitions function.
	ensurePartitions string

	mode insertMode // how idempotent batches are written; benchmarks compare the modes
	// skipRollups leaves the rollups out of InsertEvents; benchmarks
	// measure their cost with it.
	skipRollups bool
	// copyRefused is set once the server refuses COPY into the tables
	// because row-level security applies to the connecting role; batches
	// are then staged.
	copyRefused atomic.Bool
}

var (
	_ secmon.Store           = (*Store)(nil)
	_ secmon.Maintainer      = (*Store)(nil)
	_ secmon.AlertSubscriber = (*Store)(nil)
	_ secmon.BlockSubscriber = (*Store)(nil)
)

// New returns a Store over pool, which the caller owns and must keep open
// while the Store is in use. The schema must already hold the secmon
// migrations (sqlschema.Migrate); New does not touch the database. An
// invalid option is an error matching secmon.ErrInvalid.
func New(pool *pgxpool.Pool, opts Config) (*Store, error) {
	if pool == nil {
		return nil, &secmon.FieldError{Field: "pool", Reason: "is nil"}
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	q := func(name string) string { return pgx.Identifier{o.Schema, name}.Sanitize() }
	pairTypes := make(map[secmon.EventType]bool, len(o.PairRollupTypes))
	for _, t := range o.PairRollupTypes {
		pairTypes[t] = true
	}
	o.PairRollupTypes = slices.Clone(o.PairRollupTypes)
	return &Store{
		pool:             pool,
		opts:             o,
		events:           q("security_events"),
		eventsDefault:    q("security_events_default"),
		sessions:         q("active_sessions"),
		activity:         q("user_activity"),
		alerts:           q("security_alerts"),
		blocks:           q("blocks"),
		hourly:           q("events_hourly"),
		pairs:            q("event_pairs_hourly"),
		pairTypes:        pairTypes,
		blockChannel:     blockChannelFor(o.Schema),
		ensurePartitions: q("ensure_event_partitions"),
	}, nil
}

// Schema returns the schema the Store reads and writes.
func (s *Store) Schema() string { return s.opts.Schema }

// stmt bounds one statement by the configured timeout. Call the returned
// function when the statement (and the reading of its rows) is done.
func (s *Store) stmt(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opts.StatementTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, s.opts.StatementTimeout, errStatementTimeoutCause)
}
