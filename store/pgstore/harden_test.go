package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
	"github.com/secmon-go/secmon/store/storetest"
)

// poolWith returns a pool on the test database whose connections run the
// given settings (SET ...) when they open, closed when t ends.
func poolWith(t *testing.T, settings ...string) *pgxpool.Pool {
	t.Helper()
	return configuredPool(t, func(cfg *pgxpool.Config) {
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			for _, s := range settings {
				if _, err := c.Exec(ctx, s); err != nil {
					return err
				}
			}
			return nil
		}
	})
}

// raceInstances sets up two stores a and b on one new schema and runs
// workers goroutines, even ones on a and odd ones on b, each calling round
// for rounds 0 to rounds-1 until it fails; t fails with the first error.
// It returns a, for reading what the rounds left.
func raceInstances(t *testing.T, workers, rounds int, round func(s *pgstore.Store, w, i int) error) *pgstore.Store {
	t.Helper()
	pool := sqlschematest.Pool(t)
	a := setup(t, pool, pgstore.Config{})
	b, err := pgstore.New(pool, pgstore.Config{Schema: a.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if err := round(s, w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return a
}

// TestMaintainAsNonSuperuserOwner runs maintenance as the documented
// least-privileged owner: a role that owns the schema and is a member of
// the service role, with neither superuser nor BYPASSRLS. Row-level
// security is forced on the partitions too, so whatever maintenance reads
// must go through policies that let it.
func TestMaintainAsNonSuperuserOwner(t *testing.T) {
	t.Parallel()
	admin := sqlschematest.Pool(t)
	ctx := t.Context()
	if err := sqlschematest.EnsureRoles(ctx, admin); err != nil {
		t.Fatal(err)
	}
	owner := sqlschematest.RandomName("secmon_t_owner_")
	schema := sqlschematest.RandomName("secmon_t_")
	for _, sql := range []string{
		"CREATE ROLE " + owner + " NOLOGIN",
		"GRANT " + sqlschema.DefaultServiceRole + " TO " + owner,
		"CREATE SCHEMA " + schema + " AUTHORIZATION " + owner,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		sqlschematest.DropSchema(t, admin, schema)
		for _, sql := range []string{"DROP OWNED BY " + owner, "DROP ROLE " + owner} {
			if _, err := admin.Exec(ctx, sql); err != nil {
				t.Error(err)
			}
		}
	})
	pool := poolWith(t, "SET ROLE "+owner)
	if _, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(pool, pgstore.Config{Schema: schema, PartitionsAhead: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	// Two old days with partitions, and one day in retention without one.
	if _, err := pool.Exec(ctx, "SELECT "+schema+".ensure_event_partitions('2026-05-01', 2)"); err != nil {
		t.Fatal(err)
	}
	old := append(events(5, time.Date(2026, 5, 1, 1, 0, 0, 0, time.UTC), time.Minute),
		events(6, time.Date(2026, 5, 2, 1, 0, 0, 0, time.UTC), time.Minute)...)
	stray := events(3, time.Date(2026, 5, 7, 20, 0, 0, 0, time.UTC), time.Minute)
	if err := s.InsertEvents(ctx, append(old, stray...)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Maintain(ctx, now, secmon.RetentionPolicy{Events: 5 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Purged.PartitionsDropped != 2 || res.Purged.Events != 11 {
		t.Errorf("Maintain purged %+v, want 2 partitions holding 11 events", res.Purged)
	}
	if got := partitionOf(t, admin, s, stray[0]); got != "security_events_p20260507" {
		t.Errorf("a row for 2026-05-07 is in %s after Maintain, want security_events_p20260507", got)
	}
}

// TestPartitionsAreUTCDays checks partitions, their bounds and the hourly
// report follow UTC days and hours whatever the session's TimeZone and
// DateStyle: India is 5:30 ahead, and its abbreviation IST, which the
// German DateStyle prints, reads back as Israel time.
func TestPartitionsAreUTCDays(t *testing.T) {
	t.Parallel()
	admin := sqlschematest.Pool(t)
	schema := sqlschematest.NewSchema(t, admin)
	pool := poolWith(t, "SET TimeZone = 'Asia/Kolkata'", "SET DateStyle = 'German, DMY'")
	s, err := pgstore.New(pool, pgstore.Config{Schema: schema, PartitionsAhead: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.Maintain(t.Context(), now, secmon.RetentionPolicy{Events: -1}); err != nil {
		t.Fatal(err)
	}
	// Bounds as UTC instants: read them through a UTC session.
	var lo, hi time.Time
	err = admin.QueryRow(t.Context(), `SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)'))[1]::timestamptz,
 (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)'))[2]::timestamptz
FROM pg_class c WHERE c.oid = $1::regclass`, pgx.Identifier{schema, "security_events_p20260101"}.Sanitize()).Scan(&lo, &hi)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); !lo.Equal(want) || !hi.Equal(want.Add(24*time.Hour)) {
		t.Errorf("security_events_p20260101 holds [%v, %v), want the UTC day [%v, %v)", lo.UTC(), hi.UTC(), want, want.Add(24*time.Hour))
	}
	// The first minutes of the UTC day belong to it.
	evs := events(2, time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), 23*time.Hour)
	if err := s.InsertEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if got := partitionOf(t, admin, s, e); got != "security_events_p20260101" {
			t.Errorf("event at %v is in %s, want security_events_p20260101", e.Time, got)
		}
	}
	hours, err := s.Hourly(t.Context(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 2 || !hours[0].Start.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || hours[0].Events != 1 || hours[1].Events != 0 {
		t.Errorf("Hourly = %+v, want the event in the 00:00 UTC bucket", hours)
	}
}

// TestCleanupFunctionAgreesWithPurge loads the same rows into two schemas
// and removes the old ones with Purge in one and with the SQL function
// cleanup_old_security_data in the other, in a session whose time zone
// observes daylight saving: both must remove the same rows and say so.
func TestCleanupFunctionAgreesWithPurge(t *testing.T) {
	t.Parallel()
	admin := sqlschematest.Pool(t)
	pool := poolWith(t, "SET TimeZone = 'America/New_York'")
	// 2026-03-20 12:00 UTC is in daylight saving time in New York; 90 days
	// earlier is not.
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	policy := secmon.RetentionPolicy{Events: 90 * 24 * time.Hour, Sessions: 30 * 24 * time.Hour,
		Activity: 60 * 24 * time.Hour, Alerts: 100 * 24 * time.Hour, Blocks: 20 * 24 * time.Hour}
	cutoff := now.Add(-policy.Events) // 2025-12-20 12:00 UTC

	load := func(s *pgstore.Store) {
		t.Helper()
		ctx := t.Context()
		if _, err := pool.Exec(ctx, "SELECT "+pgx.Identifier{s.Schema(), "ensure_event_partitions"}.Sanitize()+"('2025-12-17', 6)"); err != nil {
			t.Fatal(err)
		}
		var evs []secmon.Event
		evs = append(evs, events(4, cutoff.Add(-72*time.Hour), time.Hour)...)        // whole partition, dropped
		evs = append(evs, events(50, cutoff.Add(-50*time.Minute), time.Minute)...)   // before the cutoff, same day
		evs = append(evs, events(20, cutoff.Add(-30*time.Second), 3*time.Second)...) // straddles the cutoff
		evs = append(evs, events(3, cutoff.Add(-40*24*time.Hour), time.Minute)...)   // default partition, old
		evs = append(evs, events(2, cutoff.Add(40*24*time.Hour), time.Minute)...)    // default partition, kept
		evs = append(evs, events(5, cutoff.Add(time.Hour), time.Minute)...)          // kept
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		sc := now.Add(-policy.Sessions)
		beats := []secmon.SessionBeat{
			{SessionID: "idle", UserID: "u", Time: sc.Add(-time.Minute)},
			{SessionID: "idle-revoked-late", UserID: "u", Time: sc.Add(-time.Hour)},
			{SessionID: "idle-revoked-early", UserID: "u", Time: sc.Add(-time.Hour)},
			{SessionID: "live", UserID: "u", Time: sc.Add(time.Minute)},
			{SessionID: "edge", UserID: "u", Time: sc},
		}
		if err := s.UpsertSessions(ctx, beats); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeSession(ctx, "idle-revoked-late", sc.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeSession(ctx, "idle-revoked-early", sc.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		ac := now.Add(-policy.Activity)
		acts := []secmon.Activity{
			{ID: secmon.NewID(), Time: ac.Add(-time.Second), UserID: "u", Action: "a"},
			{ID: secmon.NewID(), Time: ac, UserID: "u", Action: "a"},
			{ID: secmon.NewID(), Time: ac.Add(time.Second), UserID: "u", Action: "a"},
		}
		if err := s.InsertActivities(ctx, acts); err != nil {
			t.Fatal(err)
		}
		alc := now.Add(-policy.Alerts)
		for i, st := range []secmon.AlertStatus{secmon.AlertResolved, secmon.AlertResolved, secmon.AlertAcknowledged, secmon.AlertOpen} {
			at := alc.Add(-time.Minute)
			if i == 1 {
				at = alc.Add(time.Minute)
			}
			a := secmon.Alert{ID: secmon.NewID(), Rule: "r", Subject: fmt.Sprint(i), LastSeen: at}
			if err := s.UpsertAlerts(ctx, []secmon.Alert{a}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetAlertStatus(ctx, a.ID, st); err != nil {
				t.Fatal(err)
			}
		}
		// Blocks: one expired before the cutoff, one lifted before it, one
		// that ended just after it, one in force, one without an end.
		bc := now.Add(-policy.Blocks)
		block := func(n int, created, until time.Time) secmon.Block {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(n)}), 32)
			return secmon.Block{ID: secmon.NewID(), Scope: secmon.ScopeIP, Prefix: p, Subject: secmon.BlockSubject(secmon.ScopeIP, p, ""),
				Origin: secmon.OriginRule, Level: 1, Created: created, Until: until, By: "rule:r"}
		}
		lifted := block(2, bc.Add(-48*time.Hour), time.Time{})
		lifted.LiftedAt, lifted.LiftedBy = bc.Add(-time.Hour), "op"
		if err := s.PutBlocks(ctx, []secmon.Block{
			block(1, bc.Add(-48*time.Hour), bc.Add(-time.Minute)), lifted,
			block(3, bc.Add(-48*time.Hour), bc.Add(time.Minute)), block(4, now.Add(-time.Hour), now.Add(time.Hour)),
			block(5, bc.Add(-480*time.Hour), time.Time{}),
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Intervals in days, as a host scheduling the function writes them.
	days := func(d time.Duration) string { return fmt.Sprintf("%d days", d/(24*time.Hour)) }
	remaining := func(s *pgstore.Store) string {
		t.Helper()
		var out string
		err := admin.QueryRow(t.Context(), `SELECT concat_ws(' | ',
 (SELECT count(*) || ' events, oldest ' || coalesce(min(created_at)::text, '-') FROM `+table(s, "security_events")+`),
 (SELECT string_agg(session_id, ',' ORDER BY session_id) FROM `+table(s, "active_sessions")+`),
 (SELECT count(*) || ' activities' FROM `+table(s, "user_activity")+`),
 (SELECT string_agg(subject, ',' ORDER BY subject) FROM `+table(s, "security_alerts")+`),
 (SELECT string_agg(subject, ',' ORDER BY subject) FROM `+table(s, "blocks")+`))`).Scan(&out)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	purged, err := pgstore.New(pool, pgstore.Config{Schema: sqlschematest.NewSchema(t, admin), PurgeBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	cleaned, err := pgstore.New(pool, pgstore.Config{Schema: sqlschematest.NewSchema(t, admin)})
	if err != nil {
		t.Fatal(err)
	}
	load(purged)
	load(cleaned)

	res, err := purged.Purge(t.Context(), policy, now) // 12-17 .. 12-19 end before the cutoff
	if err != nil {
		t.Fatal(err)
	}
	var got secmon.PurgeResult
	err = pool.QueryRow(t.Context(), "SELECT * FROM "+pgx.Identifier{cleaned.Schema(), "cleanup_old_security_data"}.Sanitize()+
		"($1::text::interval, $2::text::interval, $3::text::interval, $4::text::interval, $5, $6::text::interval)",
		days(policy.Events), days(policy.Sessions), days(policy.Activity), days(policy.Alerts), now, days(policy.Blocks)).
		Scan(&got.Events, &got.PartitionsDropped, &got.Sessions, &got.Activities, &got.Alerts, &got.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	want := secmon.PurgeResult{Events: 4 + 50 + 10 + 3, PartitionsDropped: 3, Sessions: 2, Activities: 1, Alerts: 1, Blocks: 2}
	if res != want {
		t.Errorf("Purge = %+v, want %+v", res, want)
	}
	if got != want {
		t.Errorf("cleanup_old_security_data = %+v, want %+v (as Purge)", got, want)
	}
	if a, b := remaining(purged), remaining(cleaned); a != b {
		t.Errorf("rows left differ:\nafter Purge:                     %s\nafter cleanup_old_security_data: %s", a, b)
	}
}

// TestConcurrentAlertUpserts races two instances merging the same (rule,
// subject): the partial unique index and ON CONFLICT keep one open alert
// whose count is the sum of every upsert.
func TestConcurrentAlertUpserts(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	const rounds, workers = 40, 4
	a := raceInstances(t, workers, rounds, func(s *pgstore.Store, w, i int) error {
		// Fresh IDs each time, as two detectors would mint them.
		batch := []secmon.Alert{
			{Rule: "brute_force", Subject: "ip:1", LastSeen: at.Add(time.Duration(i) * time.Second), Count: 2},
			{Rule: "brute_force", Subject: fmt.Sprintf("w%d", w), LastSeen: at},
		}
		return s.UpsertAlerts(t.Context(), batch)
	})
	got, err := a.Alerts(t.Context(), secmon.AlertQuery{Subject: "ip:1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Count != 2*rounds*workers || !got[0].LastSeen.Equal(at.Add((rounds-1)*time.Second)) {
		t.Errorf("alerts for ip:1 = %+v, want one open alert counting %d", got, 2*rounds*workers)
	}
}

// TestConcurrentSessionFlushes races flushes from two instances carrying
// beats in no particular order: last_seen ends at the newest beat and the
// fields come from it.
func TestConcurrentSessionFlushes(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	const workers, rounds, sessions = 4, 30, 50
	a := raceInstances(t, workers, rounds, func(s *pgstore.Store, w, i int) error {
		// Worker w sends times w, w+workers, ...: interleaved, and the
		// newest overall comes from the last worker's last round.
		tick := i*workers + w
		beats := make([]secmon.SessionBeat, sessions)
		for j := range beats {
			beats[j] = secmon.SessionBeat{SessionID: fmt.Sprintf("s%02d", j), UserID: "u",
				UserAgent: fmt.Sprint(tick), Time: at.Add(time.Duration(tick) * time.Second)}
		}
		return s.UpsertSessions(t.Context(), beats)
	})
	got, err := a.ActiveSessions(t.Context(), secmon.SessionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	newest := rounds*workers - 1
	if len(got) != sessions {
		t.Fatalf("%d sessions, want %d", len(got), sessions)
	}
	for _, x := range got {
		if !x.LastSeen.Equal(at.Add(time.Duration(newest)*time.Second)) || x.UserAgent != fmt.Sprint(newest) || !x.StartedAt.Equal(at) {
			t.Errorf("session %s: last_seen %v, agent %q, started %v; want the newest beat (%d) and the first", x.SessionID, x.LastSeen, x.UserAgent, x.StartedAt, newest)
		}
	}
}

// TestConformanceAsServiceRole runs the conformance suite connected as the
// service role itself: neither a superuser nor BYPASSRLS, so every
// statement goes through the schema's policies, as in a deployment where
// the application's role is the service role.
func TestConformanceAsServiceRole(t *testing.T) {
	admin := sqlschematest.Pool(t)
	pool := poolWith(t, "SET ROLE "+sqlschema.DefaultServiceRole)
	storetest.Run(t, func(t *testing.T) secmon.Store {
		s, err := pgstore.New(pool, pgstore.Config{Schema: sqlschematest.NewSchema(t, admin)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestEraseUserInBatches erases a user whose newest event is locked by
// another transaction: the batches before it are committed when the
// statement timeout stops the one that waits, and a second call, once the
// lock is gone, finishes without touching anyone else's rows.
func TestEraseUserInBatches(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	// The rows go in through a store with the default statement timeout;
	// only the erasing store has the short one that stops the batch waiting
	// on the lock, so a slow shared server cannot time out the setup.
	s := setup(t, pool, pgstore.Config{PurgeBatch: 25})
	eraser, err := pgstore.New(pool, pgstore.Config{Schema: s.Schema(), PurgeBatch: 25, StatementTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	// The partitions are made by a store with the default timeout: creating
	// nine of them takes about as long as the short timeout on a loaded
	// machine, and it is not what this test times.
	maint, err := pgstore.New(pool, pgstore.Config{Schema: s.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := maint.Maintain(t.Context(), start.Add(24*time.Hour), secmon.RetentionPolicy{Events: -1}); err != nil {
		t.Fatal(err)
	}
	evs := events(400, start, 5*time.Minute) // users u0..u9, 40 rows each, over two days
	if err := s.InsertEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	var acts []secmon.Activity
	for i := range 60 {
		acts = append(acts, secmon.Activity{ID: secmon.NewID(), Time: start.Add(time.Duration(i) * time.Minute), UserID: fmt.Sprintf("u%d", i%2), Action: "a"})
	}
	if err := s.InsertActivities(t.Context(), acts); err != nil {
		t.Fatal(err)
	}
	newest := evs[390] // u0's last event
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM "+table(s, "security_events")+" WHERE id = $1 FOR UPDATE", newest.ID); err != nil {
		t.Fatal(err)
	}
	n, err := eraser.EraseUser(t.Context(), "u0")
	if err == nil {
		t.Fatal("EraseUser went past a locked row")
	}
	left := count(t, pool, "SELECT count(*) FROM "+table(s, "security_events")+" WHERE user_id = 'u0'")
	if n != 25 || left != 15 {
		t.Errorf("EraseUser stopped by a lock = %d (%v), %d u0 events left; want the first batch of 25 gone and 15 left", n, err, left)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	n, err = s.EraseUser(t.Context(), "u0")
	if err != nil || n != 15+30 {
		t.Errorf("second EraseUser = %d, %v; want 15 events and 30 activities", n, err)
	}
	if left := count(t, pool, "SELECT count(*) FROM "+table(s, "security_events")+" WHERE user_id = 'u0'") +
		count(t, pool, "SELECT count(*) FROM "+table(s, "user_activity")+" WHERE user_id = 'u0'"); left != 0 {
		t.Errorf("%d rows of u0 left", left)
	}
	if others := count(t, pool, "SELECT count(*) FROM "+table(s, "security_events")); others != 360 {
		t.Errorf("%d events of other users left, want 360", others)
	}
	if others := count(t, pool, "SELECT count(*) FROM "+table(s, "user_activity")); others != 30 {
		t.Errorf("%d activities of other users left, want 30", others)
	}

	// More than a batch at one instant: erased together, not looped over.
	same := events(60, start.Add(time.Hour), 0)
	for i := range same {
		same[i].UserID = "burst"
	}
	if err := s.InsertEvents(t.Context(), same); err != nil {
		t.Fatal(err)
	}
	if n, err := s.EraseUser(t.Context(), "burst"); err != nil || n != 60 {
		t.Errorf("EraseUser of 60 events at one instant = %d, %v; want 60", n, err)
	}
}

// TestSubscribeAlertsSurvivesTerminatedBackend kills the listening
// connection's server process with pg_terminate_backend (the connection
// is the test's own, found by its application_name): the subscription
// reconnects and goes on delivering. Only the listener uses that pool.
func TestSubscribeAlertsSurvivesTerminatedBackend(t *testing.T) {
	t.Parallel()
	admin := sqlschematest.Pool(t)
	writer := setup(t, admin, pgstore.Config{})
	app := sqlschematest.RandomName("secmon_t_listen_")
	pool := configuredPool(t, func(cfg *pgxpool.Config) { cfg.ConnConfig.RuntimeParams["application_name"] = app })
	listener, err := pgstore.New(pool, pgstore.Config{Schema: writer.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, listener)
	sub.receive(t, writer, "before")
	var killed int
	err = admin.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed)
	if err != nil || killed == 0 {
		t.Fatalf("terminated %d backends of the listening pool (%v), want its listening one", killed, err)
	}
	sub.receive(t, writer, "after")
	sub.stop(t)
}

// TestStatementTimeoutStopsTheServer checks that a statement the Store
// gave up on is cancelled on the server too, not left waiting to apply
// later: once the lock it waited for is released, the revocation that
// timed out has not happened.
func TestStatementTimeoutStopsTheServer(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := sessionStore(t, pool, 200*time.Millisecond)
	tx, holder := lockSession(t, pool, s)
	if err := s.RevokeSession(t.Context(), "s1", sessionAt); !errors.Is(err, pgstore.ErrStatementTimeout) {
		t.Fatalf("RevokeSession on a locked row = %v, want ErrStatementTimeout", err)
	}
	// Wait until no backend is blocked behind the lock holder any more;
	// the cancelled UPDATE would be one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))", holder).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timed-out UPDATE still waits on the server")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM "+table(s, "active_sessions")+" WHERE revoked_at IS NOT NULL"); n != 0 {
		t.Errorf("the revocation that timed out was applied later")
	}
}
