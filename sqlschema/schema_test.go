package sqlschema_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

// setup returns a pool and a migrated schema of the test's own.
func setup(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pool := sqlschematest.Pool(t)
	return pool, sqlschematest.NewSchema(t, pool)
}

func sqlState(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	return ""
}

func TestMetadataCheck(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := testContext(t)

	keys := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"k%02d": "v"`, i)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	value := func(v string) string { return `{"k": "` + v + `"}` }
	tests := []struct {
		name     string
		metadata string
		ok       bool
	}{
		{"empty", `{}`, true},
		{"20 keys", keys(20), true},
		{"21 keys", keys(21), false},
		{"1024-byte value", value(strings.Repeat("a", 1024)), true},
		{"1025-byte value", value(strings.Repeat("a", 1025)), false},
		{"512 two-byte characters", value(strings.Repeat("é", 512)), true},
		{"513 two-byte characters", value(strings.Repeat("é", 513)), false},
		{"1000 escaped newlines", value(strings.Repeat(`\n`, 1000)), true},
		{"20 values of 1024 bytes", strings.Replace(keys(20), `"v"`, `"`+strings.Repeat("x", 1024)+`"`, -1), true},
		{"number value", `{"k": 1}`, false},
		{"boolean value", `{"k": true}`, false},
		{"null value", `{"k": null}`, false},
		{"object value", `{"k": {"a": "b"}}`, false},
		{"array value", `{"k": ["a"]}`, false},
		{"top-level array", `["a"]`, false},
		{"top-level string", `"a"`, false},
		{"top-level null", `null`, false},
	}
	for _, tt := range tests {
		for _, table := range []string{"security_events", "user_activity"} {
			var insert string
			if table == "security_events" {
				insert = "INSERT INTO " + s + ".security_events (type, metadata) VALUES ('login_failure', $1::jsonb)"
			} else {
				insert = "INSERT INTO " + s + ".user_activity (user_id, action, metadata) VALUES ('u1', 'export', $1::jsonb)"
			}
			_, err := pool.Exec(ctx, insert, tt.metadata)
			if tt.ok && err != nil {
				t.Errorf("%s into %s: %v", tt.name, table, err)
			}
			if !tt.ok && sqlState(err) != "23514" { // check_violation
				t.Errorf("%s into %s = %v, want a check violation", tt.name, table, err)
			}
		}
	}
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT "+s+".metadata_ok($1::jsonb)", keys(21)).Scan(&ok); err != nil || ok {
		t.Errorf("metadata_ok(21 keys) = %v, %v", ok, err)
	}
}

func TestSeverityAndStatusChecks(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := testContext(t)
	for _, sev := range []int{-1, 5} {
		_, err := pool.Exec(ctx, "INSERT INTO "+s+".security_events (type, severity) VALUES ('x', $1)", sev)
		if sqlState(err) != "23514" {
			t.Errorf("severity %d: %v, want check violation", sev, err)
		}
	}
	_, err := pool.Exec(ctx, "INSERT INTO "+s+".security_alerts (rule, subject, status) VALUES ('r', 's', 'closed')")
	if sqlState(err) != "23514" {
		t.Errorf("status closed: %v, want check violation", err)
	}
}

func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

func partitionOf(t *testing.T, pool *pgxpool.Pool, s string, id string) string {
	t.Helper()
	var name string
	err := pool.QueryRow(testContext(t), "SELECT tableoid::regclass::text FROM "+s+".security_events WHERE id = $1", id).Scan(&name)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func countRows(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := q.QueryRow(testContext(t), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestEnsureEventPartitions(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := testContext(t)
	start := day(time.Date(2031, 3, 28, 0, 0, 0, 0, time.UTC))

	var created int
	if err := pool.QueryRow(ctx, "SELECT "+s+".ensure_event_partitions($1, 3)", start).Scan(&created); err != nil || created != 3 {
		t.Fatalf("ensure_event_partitions(3 days) = %d, %v", created, err)
	}
	if err := pool.QueryRow(ctx, "SELECT "+s+".ensure_event_partitions($1, 4)", start).Scan(&created); err != nil || created != 1 {
		t.Fatalf("ensure_event_partitions again over 4 days = %d, %v; want 1", created, err)
	}
	if got := sqlschema.EventPartitionName(start.Add(23 * time.Hour).In(time.FixedZone("UTC-5", -5*3600))); got != "security_events_p20310328" {
		t.Errorf("EventPartitionName = %s", got)
	}
	for _, name := range []string{"security_events_p20310328", "security_events_p20310329", "security_events_p20310330", "security_events_p20310331"} {
		if n := countRows(t, pool, "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass($1)", s+"."+name); n != 1 {
			t.Errorf("partition %s missing", name)
		}
	}

	// Bounds are UTC days whatever the session's time zone.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET TIME ZONE 'Pacific/Auckland'"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "RESET TIME ZONE")
	var id string
	err = conn.QueryRow(ctx, "INSERT INTO "+s+".security_events (type, created_at) VALUES ('x', $1) RETURNING id::text",
		start.Add(23*time.Hour+59*time.Minute)).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	if got := partitionOf(t, pool, s, id); got != s+".security_events_p20310328" {
		t.Errorf("row at 23:59 UTC landed in %s", got)
	}

	if _, err := pool.Exec(ctx, "SELECT "+s+".ensure_event_partitions($1, -1)", start); sqlState(err) != "22023" {
		t.Errorf("negative days: %v, want invalid_parameter_value", err)
	}
}

func TestEnsureEventPartitionsConcurrent(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := testContext(t)
	start := time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)
	const callers, days = 4, 5
	var wg sync.WaitGroup
	created := make([]int, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pool.QueryRow(ctx, "SELECT "+s+".ensure_event_partitions($1, $2)", start, days).Scan(&created[i])
		}()
	}
	wg.Wait()
	total := 0
	for i := range callers {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
		total += created[i]
	}
	if total != days {
		t.Errorf("concurrent callers created %d partitions (%v), want %d", total, created, days)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass($1)", s+".security_events"); n != days+1 {
		t.Errorf("%d partitions, want %d and the default", n, days)
	}
}

// TestDefaultPartitionMovedOut inserts rows for a day with no partition
// while the partition is being created: no insert fails, and afterwards the
// default partition is empty.
func TestDefaultPartitionMovedOut(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := testContext(t)
	uncovered := time.Date(2031, 7, 14, 0, 0, 0, 0, time.UTC)

	var early string
	if err := pool.QueryRow(ctx, "INSERT INTO "+s+".security_events (type, created_at) VALUES ('x', $1) RETURNING id::text", uncovered.Add(time.Hour)).Scan(&early); err != nil {
		t.Fatal(err)
	}
	if got := partitionOf(t, pool, s, early); got != s+".security_events_default" {
		t.Fatalf("row for an uncovered day landed in %s, want the default partition", got)
	}

	const writers, perWriter = 3, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	startWriting := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startWriting
			for i := range perWriter {
				at := uncovered.Add(time.Duration(w*perWriter+i) * time.Minute)
				if _, err := pool.Exec(ctx, "INSERT INTO "+s+".security_events (type, created_at) VALUES ('x', $1)", at); err != nil {
					errs <- err
				}
			}
		}()
	}
	close(startWriting)
	var created int
	if err := pool.QueryRow(ctx, "SELECT "+s+".ensure_event_partitions($1, 2)", uncovered).Scan(&created); err != nil || created != 2 {
		t.Fatalf("ensure_event_partitions = %d, %v", created, err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("insert during partition creation failed: %v", err)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".security_events_default"); n != 0 {
		t.Errorf("default partition holds %d rows after ensure_event_partitions, want 0", n)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".security_events_p20310714"); n != 1+writers*perWriter {
		t.Errorf("partition holds %d rows, want %d", n, 1+writers*perWriter)
	}
	if got := partitionOf(t, pool, s, early); got != s+".security_events_p20310714" {
		t.Errorf("early row is in %s after the move", got)
	}
	// The new partition is as closed as the parent.
	var rls, force bool
	if err := pool.QueryRow(ctx, "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)",
		s+".security_events_p20310714").Scan(&rls, &force); err != nil || !rls || !force {
		t.Errorf("new partition RLS enabled=%v forced=%v (%v)", rls, force, err)
	}
}

func TestOpenAlertUnique(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := testContext(t)
	insert := "INSERT INTO " + s + ".security_alerts (rule, subject, status) VALUES ('brute_force_ip', 'ip:203.0.113.7/32', $1) RETURNING id::text"
	var first string
	if err := pool.QueryRow(ctx, insert, "open").Scan(&first); err != nil {
		t.Fatal(err)
	}
	var dup string
	if err := pool.QueryRow(ctx, insert, "open").Scan(&dup); sqlState(err) != "23505" {
		t.Fatalf("second open alert for the pair: %v, want unique violation", err)
	}
	// The upsert a store runs merges into the open alert.
	var merged string
	err := pool.QueryRow(ctx, "INSERT INTO "+s+".security_alerts (rule, subject, count) VALUES ('brute_force_ip', 'ip:203.0.113.7/32', 2) "+
		"ON CONFLICT (rule, subject) WHERE status = 'open' DO UPDATE SET count = security_alerts.count + EXCLUDED.count RETURNING id::text").Scan(&merged)
	if err != nil || merged != first {
		t.Fatalf("upsert returned %s, %v; want the open alert %s", merged, err, first)
	}
	if _, err := pool.Exec(ctx, "UPDATE "+s+".security_alerts SET status = 'resolved' WHERE id = $1", first); err != nil {
		t.Fatal(err)
	}
	var second string
	if err := pool.QueryRow(ctx, insert, "open").Scan(&second); err != nil {
		t.Fatalf("open alert after resolving the first: %v", err)
	}
	if _, err := pool.Exec(ctx, "UPDATE "+s+".security_alerts SET status = 'acknowledged' WHERE id = $1", second); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, insert, "open").Scan(&second); err != nil {
		t.Fatalf("open alert after acknowledging the second: %v", err)
	}
}

func TestAlertNotify(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN secmon_alerts"); err != nil {
		t.Fatal(err)
	}
	// Other tests' schemas announce on the same channel: wait for ours.
	await := func(want string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			n, err := conn.WaitForNotification(wctx)
			if err != nil {
				t.Fatalf("waiting for NOTIFY %s: %v", want, err)
			}
			if n.Channel == "secmon_alerts" && n.Payload == want {
				return
			}
		}
	}
	var id string
	if err := pool.QueryRow(ctx, "INSERT INTO "+s+".security_alerts (rule, subject) VALUES ('r', 's') RETURNING id::text").Scan(&id); err != nil {
		t.Fatal(err)
	}
	await(id)
	if _, err := pool.Exec(ctx, "UPDATE "+s+".security_alerts SET count = count + 1 WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	await(id)
	// A rolled-back insert announces nothing: the next payload we see from
	// this schema is the committed one.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ghost string
	if err := tx.QueryRow(ctx, "INSERT INTO "+s+".security_alerts (rule, subject) VALUES ('r2', 's') RETURNING id::text").Scan(&ghost); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	var third string
	if err := pool.QueryRow(ctx, "INSERT INTO "+s+".security_alerts (rule, subject) VALUES ('r3', 's') RETURNING id::text").Scan(&third); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if n.Payload == ghost {
			t.Fatal("a rolled-back alert was announced")
		}
		if n.Payload == third {
			break
		}
	}
}

// Ensure the sentinel errors the package documents exist for callers.
var _ = secmon.ErrInvalid

func TestBlockChannel(t *testing.T) {
	t.Parallel()
	if got := sqlschema.BlockChannel("secmon"); got != "secmon_blocks_secmon" {
		t.Errorf("BlockChannel(secmon) = %q", got)
	}
	long := strings.Repeat("a", 60)
	long2 := strings.Repeat("a", 59) + "b"
	c1, c2 := sqlschema.BlockChannel(long), sqlschema.BlockChannel(long2)
	if len(c1) > 63 || len(c2) > 63 || c1 == c2 {
		t.Errorf("long schemas give channels %q and %q: want distinct, at most 63 bytes", c1, c2)
	}
	if sqlschema.BlockChannel(long) != c1 {
		t.Error("BlockChannel is not deterministic")
	}
}

func TestBlockNotifyPerSchema(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	_, other := setup(t)
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{sqlschema.BlockChannel(s)}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	insert := func(schema, subject string) string {
		t.Helper()
		var id string
		err := pool.QueryRow(ctx, "INSERT INTO "+pgx.Identifier{schema}.Sanitize()+".blocks (id, scope, subject, prefix, origin, created_at) "+
			"VALUES (gen_random_uuid(), 'ip', $1, $2::cidr, 'rule', now()) RETURNING id::text", "ip:"+subject, subject).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	foreign := insert(other, "192.0.2.9/32") // another schema's block: not on our channel
	mine := insert(s, "192.0.2.1/32")
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Payload == foreign {
		t.Fatal("a block of another schema was announced on this schema's channel")
	}
	if n.Payload != mine {
		t.Fatalf("first notification = %q, want the inserted block %s", n.Payload, mine)
	}
	// A lift is an update: announced too.
	if _, err := pool.Exec(ctx, "UPDATE "+pgx.Identifier{s}.Sanitize()+".blocks SET lifted_at = now(), lifted_by = 'op' WHERE id = $1", mine); err != nil {
		t.Fatal(err)
	}
	if n, err = conn.WaitForNotification(wctx); err != nil || n.Payload != mine {
		t.Fatalf("after the lift: %v, %v; want %s", n, err, mine)
	}
	// The table's checks refuse a user block with a prefix and a lift
	// without its author.
	_, err = pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{s}.Sanitize()+".blocks (id, scope, subject, prefix, user_id, origin, created_at) "+
		"VALUES (gen_random_uuid(), 'user', 'user:a', '192.0.2.0/24', 'a', 'manual', now())")
	if sqlState(err) != "23514" {
		t.Errorf("user block with a prefix: %v, want check_violation", err)
	}
	_, err = pool.Exec(ctx, "UPDATE "+pgx.Identifier{s}.Sanitize()+".blocks SET lifted_by = NULL WHERE id = $1", mine)
	if sqlState(err) != "23514" {
		t.Errorf("lift without its author: %v, want check_violation", err)
	}
}
