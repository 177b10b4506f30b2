package sqlschema_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// freshSchema returns a schema name that does not exist yet and is dropped
// when t ends.
func freshSchema(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	if err := sqlschematest.EnsureRoles(testContext(t), pool); err != nil {
		t.Fatal(err)
	}
	s := sqlschematest.RandomName("secmon_t_")
	t.Cleanup(func() { sqlschematest.DropSchema(t, pool, s) })
	return s
}

func numMigrations(t *testing.T) int {
	t.Helper()
	ms, err := sqlschema.Migrations(sqlschema.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// objects lists the relations and functions in schema, for comparing states.
func objects(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	return sqlschematest.Strings(t, pool, `
SELECT 'rel:' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1
UNION ALL
SELECT 'fn:' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1
UNION ALL
SELECT 'policy:' || tablename || '.' || policyname FROM pg_policies WHERE schemaname = $1
ORDER BY 1`, schema)
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	ctx := testContext(t)
	opts := sqlschema.Config{Schema: freshSchema(t, pool)}
	n := numMigrations(t)

	applied, err := sqlschema.Migrate(ctx, pool, opts)
	if err != nil || applied != n {
		t.Fatalf("Migrate = %d, %v; want %d, nil", applied, err, n)
	}
	if v, err := sqlschema.Version(ctx, pool, opts); err != nil || v != n {
		t.Fatalf("Version = %d, %v; want %d", v, err, n)
	}
	full := objects(t, pool, opts.Schema)
	for _, want := range []string{"rel:security_events", "rel:security_events_default", "rel:active_sessions",
		"rel:user_activity", "rel:security_alerts", "fn:metadata_ok", "fn:ensure_event_partitions",
		"fn:cleanup_old_security_data", "policy:security_events.service_role_all", "policy:security_events.deny_clients",
		"rel:blocks", "fn:notify_block", "policy:blocks.service_role_all", "policy:blocks.deny_clients",
		"rel:events_hourly", "rel:event_pairs_hourly", "policy:events_hourly.service_role_all", "policy:events_hourly.deny_clients",
		"policy:event_pairs_hourly.service_role_all", "policy:event_pairs_hourly.deny_clients"} {
		if !slices.Contains(full, want) {
			t.Errorf("after Migrate, %s is missing from %v", want, full)
		}
	}
	if applied, err := sqlschema.Migrate(ctx, pool, opts); err != nil || applied != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", applied, err)
	}

	if err := sqlschema.MigrateDown(ctx, pool, opts, 1); err != nil {
		t.Fatalf("MigrateDown(1): %v", err)
	}
	if v, _ := sqlschema.Version(ctx, pool, opts); v != 1 {
		t.Fatalf("Version after MigrateDown(1) = %d, want 1", v)
	}
	mid := objects(t, pool, opts.Schema)
	if slices.Contains(mid, "fn:cleanup_old_security_data") || slices.Contains(mid, "policy:security_events.service_role_all") {
		t.Errorf("MigrateDown(1) left 002/003 objects: %v", mid)
	}
	if err := sqlschema.MigrateDown(ctx, pool, opts, 0); err != nil {
		t.Fatalf("MigrateDown(0): %v", err)
	}
	if got := objects(t, pool, opts.Schema); len(got) != 2 || got[0] != "rel:schema_migrations" {
		t.Errorf("after MigrateDown(0) the schema holds %v; want only schema_migrations and its key", got)
	}
	if v, _ := sqlschema.Version(ctx, pool, opts); v != 0 {
		t.Fatalf("Version after MigrateDown(0) = %d, want 0", v)
	}

	if applied, err := sqlschema.Migrate(ctx, pool, opts); err != nil || applied != n {
		t.Fatalf("Migrate after down = %d, %v; want %d", applied, err, n)
	}
	if again := objects(t, pool, opts.Schema); strings.Join(again, ",") != strings.Join(full, ",") {
		t.Errorf("up/down/up differs:\nfirst  %v\nsecond %v", full, again)
	}
	if err := sqlschema.MigrateDown(ctx, pool, opts, -1); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("MigrateDown(-1) = %v, want ErrInvalid", err)
	}
}

func TestMigrateRacing(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	ctx := testContext(t)
	opts := sqlschema.Config{Schema: freshSchema(t, pool)}
	const racers = 4
	var wg sync.WaitGroup
	applied := make([]int, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = sqlschema.Migrate(ctx, pool, opts)
		}()
	}
	wg.Wait()
	total := 0
	for i := range racers {
		if errs[i] != nil {
			t.Errorf("Migrate #%d: %v", i, errs[i])
		}
		total += applied[i]
	}
	if n := numMigrations(t); total != n {
		t.Errorf("racing Migrate calls applied %d migrations in total (%v), want %d", total, applied, n)
	}
	var rows, distinct int
	err := pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM "+opts.Schema+".schema_migrations").Scan(&rows, &distinct)
	if err != nil || rows != distinct || rows != numMigrations(t) {
		t.Errorf("schema_migrations holds %d rows, %d distinct (%v)", rows, distinct, err)
	}
}

func TestMigrateTx(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	ctx := testContext(t)
	opts := sqlschema.Config{Schema: freshSchema(t, pool)}

	// Rolled back: nothing stays.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := sqlschema.MigrateTx(ctx, tx, opts); err != nil || n != numMigrations(t) {
		t.Fatalf("MigrateTx = %d, %v", n, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := sqlschema.Version(ctx, pool, opts); err != nil || v != 0 {
		t.Fatalf("Version after rollback = %d, %v; want 0", v, err)
	}

	// Committed together with the host's own statement.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := sqlschema.MigrateTx(ctx, tx, opts); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO "+opts.Schema+".security_alerts (rule, subject) VALUES ('r', 's')")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := sqlschema.Version(ctx, pool, opts); v != numMigrations(t) {
		t.Fatalf("Version = %d, want %d", v, numMigrations(t))
	}
	if n, err := sqlschema.Migrate(ctx, pool, opts); err != nil || n != 0 {
		t.Fatalf("Migrate after MigrateTx = %d, %v; want 0", n, err)
	}
}

func TestMigrateMissingServiceRole(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	opts := sqlschema.Config{Schema: freshSchema(t, pool), ServiceRole: "secmon_no_such_role"}
	_, err := sqlschema.Migrate(testContext(t), pool, opts)
	if !errors.Is(err, sqlschema.ErrServiceRoleMissing) || !strings.Contains(err.Error(), "secmon_no_such_role") {
		t.Fatalf("Migrate with a missing service role = %v, want ErrServiceRoleMissing naming it", err)
	}
}

func TestMigrationErrorNamesMigration(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	ctx := testContext(t)
	opts := sqlschema.Config{Schema: freshSchema(t, pool)}
	// A table in the way makes 001 fail.
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+opts.Schema+"; CREATE TABLE "+opts.Schema+".security_alerts (x int)"); err != nil {
		t.Fatal(err)
	}
	_, err := sqlschema.Migrate(ctx, pool, opts)
	var me *sqlschema.MigrationError
	if !errors.As(err, &me) || me.Name != "001_tables" || me.Direction != "up" {
		t.Fatalf("Migrate = %v, want a MigrationError for 001_tables", err)
	}
	if !strings.Contains(err.Error(), "42P07") || !strings.Contains(err.Error(), "001_tables") {
		t.Errorf("error %q lacks the migration name or SQLSTATE", err)
	}
	if v, _ := sqlschema.Version(ctx, pool, opts); v != 0 {
		t.Errorf("Version after a failed 001 = %d, want 0", v)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	bad := []sqlschema.Config{
		{Schema: "Secmon"},
		{Schema: "sec mon"},
		{Schema: `secmon"; DROP TABLE x; --`},
		{Schema: "1secmon"},
		{Schema: "pg_secmon"},
		{Schema: strings.Repeat("a", 64)},
		{ServiceRole: "service-role"},
		{ServiceRole: "public"},
		{UserIDExpr: "auth.uid()::text; DROP TABLE x"},
		{UserIDExpr: "x -- comment"},
		{UserIDExpr: "$$x$$"},
		{UserIDExpr: strings.Repeat("x", 300)},
	}
	for _, o := range bad {
		if _, err := sqlschema.SQL(o); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("SQL(%+v) = %v, want ErrInvalid", o, err)
		}
	}
	if _, err := sqlschema.Migrate(context.Background(), nil, sqlschema.Config{Schema: "Bad"}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("Migrate with a bad schema = %v, want ErrInvalid before touching the pool", err)
	}
	ctx := context.Background()
	if _, err := sqlschema.Migrate(ctx, nil, sqlschema.Config{}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("Migrate(nil pool) = %v", err)
	}
	if _, err := sqlschema.MigrateTx(ctx, nil, sqlschema.Config{}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("MigrateTx(nil tx) = %v", err)
	}
	if err := sqlschema.MigrateDown(ctx, nil, sqlschema.Config{}, 0); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("MigrateDown(nil pool) = %v", err)
	}
	if _, err := sqlschema.Version(ctx, nil, sqlschema.Config{}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("Version(nil pool) = %v", err)
	}
	if _, err := sqlschema.AuditPolicies(ctx, nil); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("AuditPolicies(nil pool) = %v", err)
	}
}

func TestSQLRendering(t *testing.T) {
	t.Parallel()
	for _, o := range []sqlschema.Config{{}, {Schema: "audit_log", ServiceRole: "backend", UserIDExpr: "auth.uid()::text"}} {
		sql, err := sqlschema.SQL(o)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sql, "{{") || strings.Contains(sql, "}}") {
			t.Errorf("SQL(%+v) holds an unreplaced placeholder", o)
		}
		schema, role, expr := o.Schema, o.ServiceRole, o.UserIDExpr
		if schema == "" {
			schema, role, expr = sqlschema.DefaultSchema, sqlschema.DefaultServiceRole, sqlschema.DefaultUserIDExpr
		}
		for _, want := range []string{`CREATE TABLE "` + schema + `".security_events`, `TO "` + role + `"`, "(SELECT " + expr + ")",
			"INSERT INTO \"" + schema + "\".schema_migrations (version, name) VALUES (3, '003_cleanup')"} {
			if !strings.Contains(sql, want) {
				t.Errorf("SQL(%+v) lacks %q", o, want)
			}
		}
	}
	// The raw files do hold placeholders; only the documented ones.
	ms, _ := sqlschema.Migrations(sqlschema.Config{})
	if len(ms) < 3 || ms[0].Name != "001_tables" || ms[1].Name != "002_rls" || ms[2].Name != "003_cleanup" {
		t.Fatalf("Migrations = %v", ms)
	}
}

// TestSQLAppliesStandalone runs the rendered script as a host's migration
// tool would, then lets Migrate take over.
func TestSQLAppliesStandalone(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	ctx := testContext(t)
	opts := sqlschema.Config{Schema: freshSchema(t, pool)}
	sql, err := sqlschema.SQL(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, sql); err != nil {
		t.Fatalf("running SQL(): %v", err)
	}
	if n, err := sqlschema.Migrate(ctx, pool, opts); err != nil || n != 0 {
		t.Fatalf("Migrate after the script = %d, %v; want 0, nil", n, err)
	}
	if v, _ := sqlschema.Version(ctx, pool, opts); v != numMigrations(t) {
		t.Fatalf("Version = %d", v)
	}
}
