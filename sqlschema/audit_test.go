package sqlschema_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

// scratch creates an empty schema dropped when t ends.
func scratch(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	s := freshSchema(t, pool)
	if _, err := pool.Exec(testContext(t), "CREATE SCHEMA "+s); err != nil {
		t.Fatal(err)
	}
	return s
}

type codeAt struct{ Table, Policy, Code string }

func codes(fs []sqlschema.PolicyFinding) []codeAt {
	out := make([]codeAt, 0, len(fs))
	for _, f := range fs {
		out = append(out, codeAt{f.Table, f.Policy, f.Code})
	}
	return out
}

func audit(t *testing.T, pool *pgxpool.Pool, schemas ...string) []sqlschema.PolicyFinding {
	t.Helper()
	fs, err := sqlschema.AuditPolicies(testContext(t), pool, schemas...)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestAuditOwnSchemaClean(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	// With partitions made after the migrations, too, even where default
	// privileges hand new tables to the client roles (as Supabase does in
	// its public schema).
	if _, err := pool.Exec(testContext(t), "ALTER DEFAULT PRIVILEGES IN SCHEMA "+s+" GRANT ALL ON TABLES TO anon, authenticated"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(testContext(t), "SELECT "+s+".ensure_event_partitions(current_date, 2)"); err != nil {
		t.Fatal(err)
	}
	if fs := audit(t, pool, s); len(fs) != 0 {
		t.Errorf("secmon's own schema has findings:\n%v", fs)
	}
	// Options that differ from the defaults pass as well.
	opts := sqlschematest.NewSchemaWith(t, pool, sqlschema.Config{UserIDExpr: "current_setting('app.uid', true)"})
	if fs := audit(t, pool, opts.Schema); len(fs) != 0 {
		t.Errorf("schema with a custom user ID expression has findings:\n%v", fs)
	}
}

// TestAuditFlagsAuditedPolicy recreates the audited mistake: a policy meant
// for the service role, written without TO.
func TestAuditFlagsAuditedPolicy(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := scratch(t, pool)
	ctx := testContext(t)
	if _, err := pool.Exec(ctx, `
CREATE TABLE `+s+`.security_events (id int PRIMARY KEY, user_id text);
ALTER TABLE `+s+`.security_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE `+s+`.security_events FORCE ROW LEVEL SECURITY;
INSERT INTO `+s+`.security_events VALUES (1, 'victim');
CREATE POLICY security_events_service_role ON `+s+`.security_events
  FOR ALL
  USING (true)
  WITH CHECK (true);`); err != nil {
		t.Fatal(err)
	}
	got := audit(t, pool, s)
	want := []sqlschema.PolicyFinding{{
		Schema: s, Table: "security_events", Policy: "security_events_service_role",
		Code: sqlschema.CodePolicyTrueForPublic, Severity: secmon.SeverityCritical,
	}}
	if diff := cmp.Diff(want, got, cmpIgnoreDetail); diff != "" {
		t.Fatalf("findings (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[0].Detail, "PUBLIC") || !strings.Contains(got[0].String(), "policy_true_for_public") {
		t.Errorf("finding does not explain itself: %s", got[0])
	}

	// The finding is real: granted SELECT (as Supabase grants it on public
	// tables), authenticated reads the security log.
	if _, err := pool.Exec(ctx, "GRANT USAGE ON SCHEMA "+s+" TO authenticated; GRANT SELECT ON "+s+".security_events TO authenticated"); err != nil {
		t.Fatal(err)
	}
	asRole(t, pool, "authenticated", "attacker", func(tx pgx.Tx) {
		if n, err := try(t, tx, "SELECT * FROM "+s+".security_events"); err != nil || n != 1 {
			t.Errorf("control: authenticated reads %d rows (%v); the broken policy should leak", n, err)
		}
	})

	// The audit's correction: TO service_role plus an explicit denial.
	if _, err := pool.Exec(ctx, `
REVOKE ALL ON `+s+`.security_events FROM authenticated;
DROP POLICY security_events_service_role ON `+s+`.security_events;
CREATE POLICY security_events_service_role ON `+s+`.security_events FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY security_events_block_users ON `+s+`.security_events AS RESTRICTIVE FOR ALL TO authenticated USING (false) WITH CHECK (false);`); err != nil {
		t.Fatal(err)
	}
	if fs := audit(t, pool, s); len(fs) != 0 {
		t.Errorf("corrected policies still have findings:\n%v", fs)
	}
}

var cmpIgnoreDetail = cmp.Transformer("noDetail", func(f sqlschema.PolicyFinding) sqlschema.PolicyFinding {
	f.Detail = ""
	return f
})

// TestAuditFindings covers each code on a schema built to trip it.
func TestAuditFindings(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := scratch(t, pool)
	other := scratch(t, pool)
	stmts := []string{
		// No RLS, writable by anon.
		"CREATE TABLE %[1]s.no_rls (id int)",
		"GRANT INSERT, UPDATE ON %[1]s.no_rls TO anon",
		// RLS on, not forced, no grants.
		"CREATE TABLE %[1]s.not_forced (id int)",
		"ALTER TABLE %[1]s.not_forced ENABLE ROW LEVEL SECURITY",
		// Forced, with a scoped policy that forgot TO, and Supabase-style grants.
		"CREATE TABLE %[1]s.profiles (id int, user_id text)",
		"ALTER TABLE %[1]s.profiles ENABLE ROW LEVEL SECURITY",
		"ALTER TABLE %[1]s.profiles FORCE ROW LEVEL SECURITY",
		"CREATE POLICY own ON %[1]s.profiles FOR SELECT USING (user_id = current_user)",
		"CREATE POLICY open_insert ON %[1]s.profiles FOR INSERT TO authenticated WITH CHECK (true)",
		"CREATE POLICY narrowing ON %[1]s.profiles AS RESTRICTIVE FOR ALL USING (true)",
		"GRANT SELECT, INSERT, TRUNCATE ON %[1]s.profiles TO anon, authenticated",
		"GRANT SELECT ON %[1]s.profiles TO PUBLIC",
		// Column-level write grant to PUBLIC.
		"CREATE TABLE %[1]s.cols (id int, note text)",
		"ALTER TABLE %[1]s.cols ENABLE ROW LEVEL SECURITY",
		"ALTER TABLE %[1]s.cols FORCE ROW LEVEL SECURITY",
		"GRANT UPDATE (note) ON %[1]s.cols TO PUBLIC",
		// A definer view over a protected table, readable by anon.
		"CREATE VIEW %[1]s.leaky AS SELECT * FROM %[1]s.cols",
		"GRANT SELECT ON %[1]s.leaky TO anon",
		"CREATE VIEW %[1]s.invoker WITH (security_invoker = true) AS SELECT * FROM %[1]s.cols",
		"GRANT SELECT ON %[1]s.invoker TO anon",
		// Definer functions: callable by PUBLIC by default; one pinned and
		// granted to authenticated; one revoked from PUBLIC; one invoker.
		"CREATE FUNCTION %[1]s.definer_open() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'",
		"CREATE FUNCTION %[1]s.definer_pinned(x int) RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT x'",
		"REVOKE ALL ON FUNCTION %[1]s.definer_pinned(int) FROM PUBLIC",
		"GRANT EXECUTE ON FUNCTION %[1]s.definer_pinned(int) TO authenticated",
		"CREATE FUNCTION %[1]s.definer_closed() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'",
		"REVOKE ALL ON FUNCTION %[1]s.definer_closed() FROM PUBLIC",
		"CREATE FUNCTION %[1]s.invoker() RETURNS int LANGUAGE sql AS 'SELECT 1'",
		// Only audited when its schema is named.
		"CREATE TABLE %[2]s.elsewhere (id int)",
	}
	for _, st := range stmts {
		if _, err := pool.Exec(testContext(t), fmt.Sprintf(st, s, other)); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	got := audit(t, pool, s)
	want := []codeAt{
		{"cols", "", sqlschema.CodeWriteGrantToPublic},
		{"definer_open()", "", sqlschema.CodeDefinerFunctionExposed},
		{"definer_pinned(x integer)", "", sqlschema.CodeDefinerFunctionExposed},
		{"leaky", "", sqlschema.CodeViewBypassesRLS},
		{"no_rls", "", sqlschema.CodeRLSDisabled},
		{"no_rls", "", sqlschema.CodeWriteGrantToAnon},
		{"not_forced", "", sqlschema.CodeRLSNotForced},
		{"profiles", "", sqlschema.CodeSelectGrantToAnon},
		{"profiles", "", sqlschema.CodeSelectGrantToPublic},
		{"profiles", "", sqlschema.CodeWriteGrantToAnon},
		{"profiles", "", sqlschema.CodeWriteGrantToAuthenticated},
		{"profiles", "open_insert", sqlschema.CodePolicyTrueForClient},
		{"profiles", "own", sqlschema.CodePolicyNoRole},
	}
	if diff := cmp.Diff(want, codes(got)); diff != "" {
		t.Fatalf("findings (-want +got):\n%s\n%v", diff, got)
	}
	sev := map[codeAt]secmon.Severity{}
	for _, f := range got {
		sev[codeAt{f.Table, f.Policy, f.Code}] = f.Severity
	}
	for k, want := range map[codeAt]secmon.Severity{
		{"no_rls", "", sqlschema.CodeRLSDisabled}:                               secmon.SeverityHigh,
		{"no_rls", "", sqlschema.CodeWriteGrantToAnon}:                          secmon.SeverityCritical,
		{"profiles", "", sqlschema.CodeWriteGrantToAuthenticated}:               secmon.SeverityHigh, // TRUNCATE
		{"cols", "", sqlschema.CodeWriteGrantToPublic}:                          secmon.SeverityMedium,
		{"profiles", "open_insert", sqlschema.CodePolicyTrueForClient}:          secmon.SeverityHigh,
		{"definer_open()", "", sqlschema.CodeDefinerFunctionExposed}:            secmon.SeverityHigh,
		{"definer_pinned(x integer)", "", sqlschema.CodeDefinerFunctionExposed}: secmon.SeverityMedium,
	} {
		if sev[k] != want {
			t.Errorf("%v severity %v, want %v", k, sev[k], want)
		}
	}
	// Both schemas named: the other one's table shows up.
	both := codes(audit(t, pool, s, other))
	if len(both) != len(want)+1 || both[0].Table != "elsewhere" && both[len(both)-1].Table != "elsewhere" {
		t.Errorf("auditing two schemas: %v", both)
	}
	// No schema named: every non-system schema, this one included.
	found := 0
	for _, f := range audit(t, pool) {
		if f.Schema == s {
			found++
		}
	}
	if found != len(want) {
		t.Errorf("auditing every schema found %d of this schema's %d findings", found, len(want))
	}
}
