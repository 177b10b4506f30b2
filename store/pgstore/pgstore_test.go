package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/faulttest"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
	"github.com/secmon-go/secmon/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(testenv.M(m)) }

// setup returns a store on a freshly migrated schema of its own.
func setup(t *testing.T, pool *pgxpool.Pool, opts pgstore.Config) *pgstore.Store {
	t.Helper()
	opts.Schema = sqlschematest.NewSchema(t, pool)
	s, err := pgstore.New(pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	pool := sqlschematest.Pool(t)
	storetest.Run(t, func(t *testing.T) secmon.Store { return setup(t, pool, pgstore.Config{}) })
}

// TestConformanceStaged runs the suite with every batch written through the
// staging table, the path retried batches take.
func TestConformanceStaged(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	pool := sqlschematest.Pool(t)
	storetest.Run(t, func(t *testing.T) secmon.Store {
		s := setup(t, pool, pgstore.Config{})
		pgstore.UseStagedInserts(s)
		return s
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects lazily
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pgstore.New(nil, pgstore.Config{}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("New(nil pool) = %v, want ErrInvalid", err)
	}
	for _, o := range []pgstore.Config{
		{Schema: `secmon"; DROP TABLE x; --`},
		{Schema: "has space"},
		{Schema: strings.Repeat("a", 64)},
		{Schema: "1abc"},
		{PartitionsAhead: -1},
		{PartitionsAhead: pgstore.MaxPartitionsAhead + 1},
		{PurgeBatch: -5},
	} {
		if _, err := pgstore.New(pool, o); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want ErrInvalid", o, err)
		}
	}
	s, err := pgstore.New(pool, pgstore.Config{})
	if err != nil || s.Schema() != pgstore.DefaultSchema {
		t.Errorf("New with defaults = %v, %v; want schema %q", s, err, pgstore.DefaultSchema)
	}
}

// TestErrorsHideSecrets checks that a connection failure names the
// operation but not the password of the pool's connection string.
func TestErrorsHideSecrets(t *testing.T) {
	const password = "s3cret-Pa55word"
	pool := sqlschematest.HangUpPool(t, password)
	s, err := pgstore.New(pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.QueryEvents(t.Context(), secmon.EventQuery{})
	if err == nil {
		t.Fatal("QueryEvents against a server that hangs up succeeded")
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error reveals the password: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "pgstore: query events: ") {
		t.Errorf("error %q does not name the operation", err)
	}
	var pe *pgstore.Error
	if !errors.As(err, &pe) || pe.Op != "query events" {
		t.Errorf("error %v is not a *pgstore.Error for query events", err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func table(s *pgstore.Store, name string) string {
	return pgx.Identifier{s.Schema(), name}.Sanitize()
}

func events(n int, start time.Time, step time.Duration) []secmon.Event {
	evs := make([]secmon.Event, n)
	for i := range evs {
		evs[i] = secmon.Event{
			ID: secmon.NewID(), Time: start.Add(time.Duration(i) * step), Type: secmon.EventLoginFailure,
			UserID: fmt.Sprintf("u%d", i%10), Metadata: map[string]string{"i": fmt.Sprint(i)},
		}
	}
	return evs
}

func TestRetriedBatchLeavesNoDuplicates(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := setup(t, pool, pgstore.Config{})
	now := time.Now().UTC()
	if _, err := s.Maintain(t.Context(), now, secmon.RetentionPolicy{}); err != nil {
		t.Fatal(err)
	}
	batch := events(3000, now.Add(-time.Hour), time.Second)
	for range 3 {
		if err := s.InsertEvents(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	// A retry that overlaps a new batch: the new rows go in, the old are skipped.
	more := append(events(500, now.Add(-30*time.Minute), time.Millisecond), batch[1000:2000]...)
	if err := s.InsertEvents(t.Context(), more); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM "+table(s, "security_events")); n != 3500 {
		t.Errorf("%d rows stored, want 3500", n)
	}
	if n := count(t, pool, "SELECT count(DISTINCT id) FROM "+table(s, "security_events")); n != 3500 {
		t.Errorf("%d distinct IDs stored, want 3500", n)
	}
}

// partitionOf returns the partition each of ids is stored in.
func partitionOf(t *testing.T, pool *pgxpool.Pool, s *pgstore.Store, e secmon.Event) string {
	t.Helper()
	var name string
	err := pool.QueryRow(t.Context(), "SELECT tableoid::regclass::text FROM "+table(s, "security_events")+" WHERE id = $1", e.ID).Scan(&name)
	if err != nil {
		t.Fatalf("finding the partition of %v: %v", e.ID, err)
	}
	return name[strings.LastIndexByte(name, '.')+1:]
}

func TestDefaultPartitionRowsMoveOnMaintain(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := setup(t, pool, pgstore.Config{PartitionsAhead: 2})
	now := time.Date(2026, 5, 10, 15, 0, 0, 0, time.UTC)
	// Before any maintenance, and far ahead of the partitions it creates,
	// rows land in the default partition and the insert succeeds.
	early := secmon.Event{ID: secmon.NewID(), Time: now, Type: secmon.EventLogout}
	late := secmon.Event{ID: secmon.NewID(), Time: now.AddDate(0, 0, -3), Type: secmon.EventLogout}
	future := secmon.Event{ID: secmon.NewID(), Time: now.AddDate(0, 0, 20), Type: secmon.EventLogout}
	if err := s.InsertEvents(t.Context(), []secmon.Event{early, late, future}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []secmon.Event{early, late, future} {
		if p := partitionOf(t, pool, s, e); p != `security_events_default` {
			t.Errorf("event at %v stored in %s, want the default partition", e.Time, p)
		}
	}
	res, err := s.Maintain(t.Context(), now, secmon.RetentionPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	// Yesterday, today and two days ahead, plus the day of the late event.
	if res.Skipped || res.PartitionsCreated != 5 {
		t.Errorf("Maintain = %+v, want 5 partitions created", res)
	}
	if p := partitionOf(t, pool, s, early); p != "security_events_p20260510" {
		t.Errorf("today's event is in %s after Maintain", p)
	}
	if p := partitionOf(t, pool, s, late); p != "security_events_p20260507" {
		t.Errorf("a late event is in %s after Maintain", p)
	}
	if p := partitionOf(t, pool, s, future); p != "security_events_default" {
		t.Errorf("an event beyond the partitions kept ahead is in %s, want the default partition", p)
	}
	// Once the clock reaches its day, it moves too.
	if _, err := s.Maintain(t.Context(), future.Time, secmon.RetentionPolicy{Events: -1}); err != nil {
		t.Fatal(err)
	}
	if p := partitionOf(t, pool, s, future); p != "security_events_p20260530" {
		t.Errorf("the future event is in %s once its day came", p)
	}
	if n := count(t, pool, "SELECT count(*) FROM "+table(s, "security_events_default")); n != 0 {
		t.Errorf("default partition holds %d rows after Maintain, want 0", n)
	}
	got, err := s.QueryEvents(t.Context(), secmon.EventQuery{})
	if err != nil || len(got) != 3 {
		t.Errorf("QueryEvents after moves = %d events, %v; want 3", len(got), err)
	}
}

func partitions(t *testing.T, pool *pgxpool.Pool, s *pgstore.Store) []string {
	t.Helper()
	return sqlschematest.Strings(t, pool, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = $1::regclass ORDER BY 1`, table(s, "security_events"))
}

func TestPurgeDropsWholePartitions(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := setup(t, pool, pgstore.Config{PartitionsAhead: 1, PurgeBatch: 7})
	day0 := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.Maintain(t.Context(), day0.Add(24*time.Hour), secmon.RetentionPolicy{Events: -1}); err != nil {
		t.Fatal(err)
	}
	// p20260701 .. p20260703 exist now. Fill 2026-07-01 with 100 rows and
	// 2026-07-02 with 30 rows in its first hour and 5 later.
	evs := append(events(100, day0.Add(time.Hour), time.Minute), events(30, day0.Add(24*time.Hour), time.Minute)...)
	evs = append(evs, events(5, day0.Add(36*time.Hour), time.Minute)...)
	if err := s.InsertEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	before := partitions(t, pool, s)
	// Cutoff 2026-07-02 01:00: July 1st ends before it and goes whole; the
	// first hour of July 2nd goes in time slices sized for 7 rows.
	now := day0.Add(25*time.Hour + 10*24*time.Hour)
	res, err := s.Purge(t.Context(), secmon.RetentionPolicy{Events: 10 * 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.PartitionsDropped != 1 || res.Events != 130 {
		t.Errorf("Purge = %+v, want 1 partition (July 1st) and 130 events", res)
	}
	after := partitions(t, pool, s)
	for _, gone := range []string{"security_events_p20260701"} {
		if !slices.Contains(before, gone) || slices.Contains(after, gone) {
			t.Errorf("partition %s: before %v, after %v; want it dropped", gone, before, after)
		}
	}
	if !slices.Contains(after, "security_events_p20260702") || !slices.Contains(after, "security_events_default") {
		t.Errorf("partitions after purge: %v", after)
	}
	if n := count(t, pool, "SELECT count(*) FROM "+table(s, "security_events")); n != 5 {
		t.Errorf("%d events left, want 5", n)
	}
}

func TestMaintainSkippedWhileAnotherHoldsTheLock(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := setup(t, pool, pgstore.Config{})
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	const key = "pg_catalog.hashtextextended('secmon.maintain:' || $1, 0)"
	var ok bool
	if err := conn.QueryRow(t.Context(), "SELECT pg_try_advisory_lock("+key+")", s.Schema()).Scan(&ok); err != nil || !ok {
		t.Fatalf("taking the maintenance lock: %v, %v", ok, err)
	}
	now := time.Now()
	res, err := s.Maintain(t.Context(), now, secmon.RetentionPolicy{})
	if err != nil || !res.Skipped || res.PartitionsCreated != 0 {
		t.Errorf("Maintain while locked = %+v, %v; want Skipped", res, err)
	}
	if _, err := conn.Exec(t.Context(), "SELECT pg_advisory_unlock("+key+")", s.Schema()); err != nil {
		t.Fatal(err)
	}
	res, err = s.Maintain(t.Context(), now, secmon.RetentionPolicy{})
	if err != nil || res.Skipped || res.PartitionsCreated != pgstore.DefaultPartitionsAhead+2 {
		t.Errorf("Maintain after unlock = %+v, %v; want %d partitions created", res, err, pgstore.DefaultPartitionsAhead+2)
	}
	// The lock was released: the other session can take it again.
	if err := conn.QueryRow(t.Context(), "SELECT pg_try_advisory_lock("+key+")", s.Schema()).Scan(&ok); err != nil || !ok {
		t.Errorf("lock after Maintain: %v, %v; want it free", ok, err)
	}
	if _, err := conn.Exec(t.Context(), "SELECT pg_advisory_unlock("+key+")", s.Schema()); err != nil {
		t.Fatal(err)
	}
}

// sessionAt is the time of the one heartbeat sessionStore stores.
var sessionAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// sessionStore returns a store with the given statement timeout on a new
// schema holding one session, s1, last seen at sessionAt.
func sessionStore(t *testing.T, pool *pgxpool.Pool, timeout time.Duration) *pgstore.Store {
	t.Helper()
	s := setup(t, pool, pgstore.Config{StatementTimeout: timeout})
	if err := s.UpsertSessions(t.Context(), []secmon.SessionBeat{{SessionID: "s1", UserID: "u", Time: sessionAt}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// lockSession begins a transaction on pool that locks the row of session
// s1 in s's schema (FOR UPDATE) and returns it with the server process ID
// holding the lock. The transaction is rolled back when t ends unless it
// was ended before.
func lockSession(t *testing.T, pool *pgxpool.Pool, s *pgstore.Store) (pgx.Tx, int) {
	t.Helper()
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	var holder int
	if err := tx.QueryRow(t.Context(), "SELECT pg_backend_pid() FROM "+table(s, "active_sessions")+" WHERE session_id = 's1' FOR UPDATE").Scan(&holder); err != nil {
		t.Fatal(err)
	}
	return tx, holder
}

func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := sessionStore(t, pool, 300*time.Millisecond)
	at := sessionAt
	// Another transaction holds the row: the revocation waits on its lock
	// until the statement timeout cancels it.
	tx, _ := lockSession(t, pool, s)
	err := s.RevokeSession(t.Context(), "s1", at)
	if !errors.Is(err, pgstore.ErrStatementTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RevokeSession on a locked row = %v, want ErrStatementTimeout", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("a statement timeout matches context.Canceled: %v", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(t.Context(), "s1", at); err != nil {
		t.Errorf("RevokeSession once the lock is gone: %v", err)
	}

	// The caller's own deadline is reported as such, not as a timeout of
	// the store.
	slow, err := pgstore.New(pool, pgstore.Config{Schema: s.Schema(), StatementTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	lockSession(t, pool, s)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = slow.RevokeSession(ctx, "s1", at)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgstore.ErrStatementTimeout) {
		t.Errorf("RevokeSession past the caller's deadline = %v, want context.DeadlineExceeded only", err)
	}
}

func TestSubscribeAlertsAcrossInstances(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	listener := setup(t, pool, pgstore.Config{})
	writer, err := pgstore.New(pool, pgstore.Config{Schema: listener.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	other := setup(t, pool, pgstore.Config{}) // another schema on the same database

	sub := subscribe(t, listener)

	// LISTEN takes effect at some point after the call; upsert until an
	// announcement arrives.
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var first secmon.Alert
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case a := <-sub.got:
			first = a
			break wait
		case <-tick.C:
			noise := secmon.Alert{Rule: "other_schema", Subject: "x", LastSeen: at}
			if err := other.UpsertAlerts(t.Context(), []secmon.Alert{noise}); err != nil {
				t.Fatal(err)
			}
			a := secmon.Alert{Rule: "brute_force_ip", Subject: "ip:203.0.113.9/32", Severity: secmon.SeverityHigh, LastSeen: at}
			if err := writer.UpsertAlerts(t.Context(), []secmon.Alert{a}); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("no alert announced within 30s")
		}
	}
	if first.Rule != "brute_force_ip" || first.Subject != "ip:203.0.113.9/32" || first.Status != secmon.AlertOpen || first.Count < 1 {
		t.Errorf("announced alert = %+v", first)
	}
	// A status change is announced as well.
	if err := writer.SetAlertStatus(t.Context(), first.ID, secmon.AlertResolved); err != nil {
		t.Fatal(err)
	}
	for a := range sub.got {
		if a.Rule == "other_schema" {
			t.Fatalf("received another schema's alert: %+v", a)
		}
		if a.ID == first.ID && a.Status == secmon.AlertResolved {
			break
		}
	}
	sub.stop(t)
	if err := listener.SubscribeAlerts(t.Context(), nil); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("SubscribeAlerts(nil) = %v, want ErrInvalid", err)
	}
}

// configuredPool returns a pool on the test database with its
// configuration changed by edit before it connects, closed when t ends.
func configuredPool(t *testing.T, edit func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// subscription is a SubscribeAlerts call running in a goroutine of its own
// until stop, or until t ends.
type subscription struct {
	got    chan secmon.Alert
	cancel context.CancelFunc
	done   chan error
}

// subscribe starts listener.SubscribeAlerts, delivering to sub.got.
func subscribe(t *testing.T, listener *pgstore.Store) *subscription {
	ctx, cancel := context.WithCancel(t.Context())
	sub := &subscription{got: make(chan secmon.Alert, 100), cancel: cancel, done: make(chan error, 1)}
	go func() { sub.done <- listener.SubscribeAlerts(ctx, func(a secmon.Alert) { sub.got <- a }) }()
	return sub
}

// receive upserts an alert about subject through writer every 50ms until
// the subscription delivers one about it; t fails after 30s without.
func (sub *subscription) receive(t *testing.T, writer *pgstore.Store, subject string) {
	t.Helper()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case a := <-sub.got:
			if a.Subject == subject {
				return
			}
		case <-tick.C:
			if err := writer.UpsertAlerts(t.Context(), []secmon.Alert{{Rule: "r", Subject: subject, LastSeen: at}}); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("no announcement for %s within 30s", subject)
		}
	}
}

// stop cancels the subscription and checks it ended for that reason.
func (sub *subscription) stop(t *testing.T) {
	t.Helper()
	sub.cancel()
	if err := <-sub.done; !errors.Is(err, context.Canceled) {
		t.Errorf("SubscribeAlerts returned %v, want context.Canceled", err)
	}
}

func TestSubscribeAlertsReconnects(t *testing.T) {
	t.Parallel()
	direct := sqlschematest.Pool(t)
	writer := setup(t, direct, pgstore.Config{})
	px := faulttest.NewProxy(t, net.JoinHostPort(direct.Config().ConnConfig.Host, fmt.Sprint(direct.Config().ConnConfig.Port)))
	proxied := configuredPool(t, func(cfg *pgxpool.Config) {
		host, port, _ := net.SplitHostPort(px.Addr())
		cfg.ConnConfig.Host = host
		fmt.Sscan(port, &cfg.ConnConfig.Port)
	})
	listener, err := pgstore.New(proxied, pgstore.Config{Schema: writer.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, listener)
	sub.receive(t, writer, "before")
	px.Cut() // the listening connection breaks
	px.Restore()
	sub.receive(t, writer, "after")
	sub.stop(t)
}

// TestMaintainWithOneConnection shows maintenance needs a single
// connection: the purge runs on the connection holding the lock.
func TestMaintainWithOneConnection(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	schema := sqlschematest.NewSchema(t, pool)
	one := configuredPool(t, func(cfg *pgxpool.Config) { cfg.MaxConns = 1 })
	s, err := pgstore.New(one, pgstore.Config{Schema: schema, StatementTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	day0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.Maintain(t.Context(), day0, secmon.RetentionPolicy{Events: -1}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(t.Context(), events(10, day0.Add(-time.Hour), time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Maintain(t.Context(), day0.AddDate(0, 0, 3), secmon.RetentionPolicy{Events: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped || res.Purged.PartitionsDropped < 1 || res.Purged.Events != 10 {
		t.Errorf("Maintain = %+v, want the August 31st partition dropped with its 10 events", res)
	}
}

// TestPurgeSlicesOldRows deletes scattered old rows that no partition drop
// covers: stray rows years apart in the default partition and a dense run
// just before the cutoff, with slices sized for a few rows.
func TestPurgeSlicesOldRows(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := setup(t, pool, pgstore.Config{PurgeBatch: 5})
	cutoff := time.Date(2026, 10, 5, 13, 0, 0, 0, time.UTC)
	old := []secmon.Event{
		{ID: secmon.NewID(), Time: time.Date(2019, 2, 1, 0, 0, 0, 0, time.UTC), Type: secmon.EventLogout},
		{ID: secmon.NewID(), Time: time.Date(2023, 7, 9, 5, 0, 0, 0, time.UTC), Type: secmon.EventLogout},
		{ID: secmon.NewID(), Time: cutoff.Add(-time.Microsecond), Type: secmon.EventLogout},
	}
	old = append(old, events(200, cutoff.Add(-200*time.Second), time.Second)...) // the last one is at cutoff - 1s
	kept := append(events(20, cutoff, time.Second), secmon.Event{ID: secmon.NewID(), Time: cutoff.AddDate(1, 0, 0), Type: secmon.EventLogout})
	if err := s.InsertEvents(t.Context(), append(old, kept...)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Purge(t.Context(), secmon.RetentionPolicy{Events: 30 * 24 * time.Hour}, cutoff.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != int64(len(old)) || res.PartitionsDropped != 0 {
		t.Errorf("Purge = %+v, want %d events", res, len(old))
	}
	got, err := s.QueryEvents(t.Context(), secmon.EventQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(kept) {
		t.Errorf("%d events left, want %d", len(got), len(kept))
	}
	for _, e := range got {
		if e.Time.Before(cutoff) {
			t.Errorf("event at %v survived a purge with cutoff %v", e.Time, cutoff)
		}
	}
}
