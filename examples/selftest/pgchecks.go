package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
)

// postgresChecks need SECMON_DATABASE_URL; without it they are skipped.
func postgresChecks() []check {
	return []check{
		{"pg-migrate-throwaway-schema", checkPGMigrate},
		{"pg-rls-authenticated", func(ctx context.Context, s *suite) error { return checkPGClientRole(ctx, s, "authenticated") }},
		{"pg-rls-anon", func(ctx context.Context, s *suite) error { return checkPGClientRole(ctx, s, "anon") }},
		{"pg-audit-secmon-schema", checkPGAuditClean},
		{"pg-audit-flags-open-policy", checkPGAuditBroken},
		{"pg-guard-fleet-sync", checkPGGuardSync},
	}
}

// pgState is the connection and the throwaway schema shared by the
// PostgreSQL checks.
type pgState struct {
	pool   *pgxpool.Pool
	schema string
	store  *pgstore.Store
}

// postgres returns the shared state, opening the pool and migrating the
// throwaway schema on first use. It returns a skip without
// SECMON_DATABASE_URL.
func (s *suite) postgres(ctx context.Context) (*pgState, error) {
	if s.pg != nil || s.pgErr != nil {
		return s.pg, s.pgErr
	}
	url := s.env(DatabaseURLVar)
	if url == "" {
		return nil, skip(DatabaseURLVar + " not set")
	}
	s.pg, s.pgErr = openPostgres(ctx, s, url)
	if s.pgErr != nil {
		s.pgErr = fmt.Errorf("PostgreSQL setup failed: %w", s.pgErr)
	}
	return s.pg, s.pgErr
}

func openPostgres(ctx context.Context, s *suite, url string) (*pgState, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included.
		return nil, fmt.Errorf("%s is not a valid connection string", DatabaseURLVar)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	s.cleanups = append(s.cleanups, pool.Close)
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	if err := sqlschematest.EnsureRoles(ctx, pool); err != nil {
		return nil, err
	}
	schema := randomName("secmon_selftest_")
	s.cleanups = append(s.cleanups, func() { dropSchema(pool, schema) })
	if _, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{Schema: schema}); err != nil {
		return nil, fmt.Errorf("migrating %s: %w", schema, err)
	}
	store, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		return nil, err
	}
	return &pgState{pool: pool, schema: schema, store: store}, nil
}

func dropSchema(pool *pgxpool.Pool, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return prefix + hex.EncodeToString(b[:])
}

// checkPGMigrate migrates the throwaway schema and writes and reads an event
// and an alert through pgstore as the connecting role.
func checkPGMigrate(ctx context.Context, s *suite) error {
	pg, err := s.postgres(ctx)
	if err != nil {
		return err
	}
	v, err := sqlschema.Version(ctx, pg.pool, sqlschema.Config{Schema: pg.schema})
	if err != nil {
		return err
	}
	ms, err := sqlschema.Migrations(sqlschema.Config{Schema: pg.schema})
	if err != nil {
		return err
	}
	if want := ms[len(ms)-1].Version; v != want {
		return fmt.Errorf("schema at version %d, want %d", v, want)
	}
	now := time.Now().UTC()
	ev := secmon.Event{
		ID: secmon.NewID(), Time: now, Type: secmon.EventLoginFailure, Severity: secmon.SeverityLow,
		UserID: "selftest-user", IP: netip.MustParseAddr("203.0.113.5"),
	}
	if err := pg.store.InsertEvents(ctx, []secmon.Event{ev}); err != nil {
		return fmt.Errorf("InsertEvents: %w", err)
	}
	got, err := pg.store.QueryEvents(ctx, secmon.EventQuery{UserID: "selftest-user"})
	if err != nil {
		return fmt.Errorf("QueryEvents: %w", err)
	}
	if len(got) != 1 || got[0].ID != ev.ID {
		return fmt.Errorf("read back %d events, want the 1 written", len(got))
	}
	alert := secmon.Alert{
		ID: secmon.NewID(), Rule: "selftest", Subject: "user:selftest-user", Severity: secmon.SeverityHigh,
		Status: secmon.AlertOpen, Count: 1, FirstSeen: now, LastSeen: now, Summary: "selftest alert",
	}
	if err := pg.store.UpsertAlerts(ctx, []secmon.Alert{alert}); err != nil {
		return fmt.Errorf("UpsertAlerts: %w", err)
	}
	return nil
}

// tryAs runs sql in a savepoint of tx and returns the rows it read or
// changed and its error; a refused statement leaves tx usable.
func tryAs(ctx context.Context, tx pgx.Tx, sql string) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		rows, err := sp.Query(ctx, sql)
		if err != nil {
			return err
		}
		for rows.Next() {
			n++
		}
		rows.Close()
		if tag := rows.CommandTag(); !tag.Select() {
			n += tag.RowsAffected()
		}
		return rows.Err()
	})
	return n, err
}

// checkPGClientRole attacks the security tables as role, inside a
// transaction that is rolled back: reads must return nothing or be refused,
// writes must be refused.
func checkPGClientRole(ctx context.Context, s *suite, role string) error {
	pg, err := s.postgres(ctx)
	if err != nil {
		return err
	}
	// The rows the attack must not see: the migrate check wrote one event
	// and one alert; make sure they are there even when it was skipped.
	var events, alerts int64
	q := pgx.Identifier{pg.schema}.Sanitize()
	if err := pg.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+q+".security_events), (SELECT count(*) FROM "+q+".security_alerts)").Scan(&events, &alerts); err != nil {
		return err
	}
	if events == 0 || alerts == 0 {
		return fmt.Errorf("the throwaway schema holds %d events and %d alerts; nothing to protect", events, alerts)
	}

	tx, err := pg.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
		return fmt.Errorf("cannot SET ROLE %s (the connecting role must be a superuser or a member of it): %w", role, err)
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('secmon.user_id', 'selftest-user', true)"); err != nil {
		return err
	}
	var f failures
	for _, table := range []string{"security_events", "security_alerts"} {
		n, err := tryAs(ctx, tx, "SELECT * FROM "+q+"."+table)
		if err == nil && n != 0 {
			f.add("%s read %d rows of %s", role, n, table)
		}
	}
	for _, sql := range []string{
		"INSERT INTO " + q + ".security_events (type, severity, user_id, created_at) VALUES ('forged', 0, 'selftest-user', now())",
		"INSERT INTO " + q + ".security_alerts (rule, subject) VALUES ('forged', 'forged')",
		"UPDATE " + q + ".security_alerts SET status = 'resolved'",
		"DELETE FROM " + q + ".security_events",
	} {
		if n, err := tryAs(ctx, tx, sql); err == nil {
			f.add("%s may run %.40q… (%d rows)", role, sql, n)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		return err
	}
	var after int64
	if err := pg.pool.QueryRow(ctx, "SELECT count(*) FROM "+q+".security_events").Scan(&after); err != nil {
		return err
	}
	if after != events {
		f.add("security_events held %d rows before the attack and %d after", events, after)
	}
	return f.err()
}

// checkPGAuditClean: the policy auditor finds nothing wrong in the schema
// secmon migrated.
func checkPGAuditClean(ctx context.Context, s *suite) error {
	pg, err := s.postgres(ctx)
	if err != nil {
		return err
	}
	findings, err := sqlschema.AuditPolicies(ctx, pg.pool, pg.schema)
	if err != nil {
		return err
	}
	if len(findings) != 0 {
		var f failures
		for _, x := range findings {
			f.add("%s", x)
		}
		return fmt.Errorf("%d findings: %w", len(findings), f.err())
	}
	return nil
}

// checkPGAuditBroken: the auditor flags the audited mistake, a permissive
// FOR ALL USING (true) WITH CHECK (true) policy without TO, on a throwaway
// table.
func checkPGAuditBroken(ctx context.Context, s *suite) error {
	pg, err := s.postgres(ctx)
	if err != nil {
		return err
	}
	schema := randomName("secmon_selftest_audit_")
	q := pgx.Identifier{schema}.Sanitize()
	defer dropSchema(pg.pool, schema)
	if _, err := pg.pool.Exec(ctx, "CREATE SCHEMA "+q+"; "+
		"CREATE TABLE "+q+".messages (id bigint PRIMARY KEY, body text); "+
		"ALTER TABLE "+q+".messages ENABLE ROW LEVEL SECURITY; "+
		"ALTER TABLE "+q+".messages FORCE ROW LEVEL SECURITY; "+
		"CREATE POLICY open_to_all ON "+q+".messages FOR ALL USING (true) WITH CHECK (true)"); err != nil {
		return fmt.Errorf("creating the broken table: %w", err)
	}
	findings, err := sqlschema.AuditPolicies(ctx, pg.pool, schema)
	if err != nil {
		return err
	}
	flagged := slices.ContainsFunc(findings, func(f sqlschema.PolicyFinding) bool {
		return f.Table == "messages" && f.Policy == "open_to_all" && f.Code == sqlschema.CodePolicyTrueForPublic && f.Severity >= secmon.SeverityHigh
	})
	if !flagged {
		return fmt.Errorf("policy open_to_all not flagged %s (high or above); findings: %v", sqlschema.CodePolicyTrueForPublic, findings)
	}
	return nil
}
