package sqlschema_test

import (
	"testing"
	"time"
)

func TestCleanupOldSecurityData(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := testContext(t)
	asOf := time.Date(2031, 6, 30, 12, 0, 0, 0, time.UTC)
	// Events are kept 90 days: the cutoff is 2031-04-01 12:00 UTC.
	cutoff := asOf.Add(-90 * 24 * time.Hour)
	first := cutoff.Truncate(24*time.Hour).AddDate(0, 0, -3) // 2031-03-29

	var created int
	if err := pool.QueryRow(ctx, "SELECT "+s+".ensure_event_partitions($1, 6)", first).Scan(&created); err != nil || created != 6 {
		t.Fatalf("ensure_event_partitions = %d, %v", created, err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	insertEvents := func(n int, at time.Time) {
		t.Helper()
		exec("INSERT INTO "+s+".security_events (type, created_at) SELECT 'x', $2 FROM generate_series(1, $1)", n, at)
	}
	// Three whole partitions before the cutoff day: dropped.
	insertEvents(5, first.Add(time.Hour))
	insertEvents(6, first.AddDate(0, 0, 1).Add(time.Hour))
	insertEvents(7, first.AddDate(0, 0, 2).Add(time.Hour))
	// The cutoff day: its partition stays; rows before 12:00 go, rows
	// after stay.
	insertEvents(10_005, cutoff.Add(-6*time.Hour))
	insertEvents(4, cutoff.Add(time.Hour))
	// An old day with no partition: the row sits in the default partition.
	insertEvents(2, first.AddDate(0, 0, -10))
	// Recent.
	insertEvents(3, asOf.Add(-time.Hour))

	// A session's age runs from its last beat or its revocation, whichever
	// is later.
	exec("INSERT INTO "+s+".active_sessions (session_id, user_id, last_seen, revoked_at) VALUES "+
		"('idle', 'u', $1, NULL), ('revoked-long-ago', 'u', $1, $1), ('revoked-recently', 'u', $1, $2), ('live', 'u', $2, NULL)",
		asOf.AddDate(0, 0, -31), asOf.Add(-time.Minute))
	exec("INSERT INTO "+s+".user_activity (user_id, action, created_at) VALUES ('u', 'a', $1), ('u', 'a', $2)",
		asOf.AddDate(0, 0, -91), asOf.AddDate(0, 0, -89))
	exec("INSERT INTO "+s+".security_alerts (rule, subject, status, last_seen) VALUES "+
		"('r', 'old-resolved', 'resolved', $1), ('r', 'old-open', 'open', $1), ('r', 'old-ack', 'acknowledged', $1), ('r', 'new-resolved', 'resolved', $2)",
		asOf.AddDate(0, 0, -366), asOf.AddDate(0, 0, -364))

	// Blocks are kept 30 days after they end: one expired 31 days ago and
	// one lifted 40 days ago go; one expired 29 days ago, one in force and
	// one that never ends stay.
	exec("INSERT INTO "+s+".blocks (id, scope, subject, prefix, origin, created_at, until, lifted_at, lifted_by) VALUES "+
		"(gen_random_uuid(), 'ip', 'ip:192.0.2.1/32', '192.0.2.1/32', 'rule', $1, $2, NULL, NULL), "+
		"(gen_random_uuid(), 'ip', 'ip:192.0.2.2/32', '192.0.2.2/32', 'rule', $1, NULL, $3, 'op'), "+
		"(gen_random_uuid(), 'ip', 'ip:192.0.2.3/32', '192.0.2.3/32', 'rule', $1, $4, NULL, NULL), "+
		"(gen_random_uuid(), 'ip', 'ip:192.0.2.4/32', '192.0.2.4/32', 'rule', $1, $5, NULL, NULL), "+
		"(gen_random_uuid(), 'prefix', 'prefix:198.51.100.0/24', '198.51.100.0/24', 'manual', $1, NULL, NULL, NULL)",
		asOf.AddDate(0, 0, -50), asOf.AddDate(0, 0, -31), asOf.AddDate(0, 0, -40), asOf.AddDate(0, 0, -29), asOf.AddDate(0, 0, 1))

	var events, sessions, activities, alerts, blocks int64
	var dropped int
	err := pool.QueryRow(ctx, "SELECT * FROM "+s+".cleanup_old_security_data(as_of => $1)", asOf).
		Scan(&events, &dropped, &sessions, &activities, &alerts, &blocks)
	if err != nil {
		t.Fatal(err)
	}
	if events != 5+6+7+10_005+2 || dropped != 3 || sessions != 2 || activities != 1 || alerts != 1 || blocks != 2 {
		t.Errorf("cleanup = events %d, partitions %d, sessions %d, activities %d, alerts %d, blocks %d; want 10025, 3, 2, 1, 1, 2",
			events, dropped, sessions, activities, alerts, blocks)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".blocks"); n != 3 {
		t.Errorf("%d blocks left, want 3", n)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".security_events"); n != 4+3 {
		t.Errorf("%d events left, want 7", n)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass($1)", s+".security_events"); n != 1+3 {
		t.Errorf("%d partitions left, want the default and 3 daily", n)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".active_sessions WHERE session_id IN ('live', 'revoked-recently')"); n != 2 {
		t.Errorf("recent sessions were removed")
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".security_alerts"); n != 3 {
		t.Errorf("%d alerts left, want 3 (open and acknowledged alerts are kept)", n)
	}

	// Negative or NULL periods keep everything; a second run finds nothing.
	// Positional calls written for the five-argument form still work.
	err = pool.QueryRow(ctx, "SELECT * FROM "+s+".cleanup_old_security_data('-1 day', NULL, '-1 day', NULL, $1)", asOf.AddDate(5, 0, 0)).
		Scan(&events, &dropped, &sessions, &activities, &alerts, &blocks)
	if err != nil || events+sessions+activities+alerts != 0 || dropped != 0 || blocks != 2 {
		t.Errorf("cleanup keeping all but blocks forever removed %d/%d/%d/%d/%d/%d (%v); want only the 2 blocks that ended",
			events, dropped, sessions, activities, alerts, blocks, err)
	}
	err = pool.QueryRow(ctx, "SELECT blocks_deleted FROM "+s+".cleanup_old_security_data(as_of => $1, blocks_keep => NULL)", asOf.AddDate(5, 0, 0)).Scan(&blocks)
	if err != nil || blocks != 0 {
		t.Errorf("cleanup keeping blocks forever removed %d (%v)", blocks, err)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".cleanup_old_security_data(as_of => $1) WHERE events_deleted + sessions_deleted + activities_deleted + alerts_deleted + blocks_deleted = 0", asOf); n != 1 {
		t.Errorf("second cleanup removed more rows")
	}
}
