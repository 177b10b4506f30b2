package sqlschema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

// TestUserIDExprStaysOneExpression checks that UserIDExpr cannot close the
// parentheses the policies put around it and widen them, nor hide such a
// parenthesis in a string literal with backslash escapes.
func TestUserIDExprStaysOneExpression(t *testing.T) {
	for _, expr := range []string{
		"'x') OR (true",                    // USING (user_id = (SELECT 'x') OR (true))
		"'x')) OR ((true",                  //
		"current_setting('a', true))",      // unbalanced
		"(current_setting('a', true)",      //
		"'unterminated",                    //
		`"unterminated`,                    //
		`E'\'') OR (true OR ''`,            // E-string escapes fool a naive scanner
		`U&'\0027') OR (true OR ''`,        //
		"auth.uid()::text) OR (true",       //
		"current_setting('x', true)\nOR 1", // fine SQL, kept below
	} {
		_, err := sqlschema.SQL(sqlschema.Config{UserIDExpr: expr})
		if expr == "current_setting('x', true)\nOR 1" {
			if err != nil {
				t.Errorf("UserIDExpr %q rejected: %v", expr, err)
			}
			continue
		}
		if !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("UserIDExpr %q = %v, want ErrInvalid", expr, err)
		}
	}
	for _, expr := range []string{
		sqlschema.DefaultUserIDExpr,
		"auth.uid()::text",
		"(auth.jwt() ->> 'sub')",
		"current_setting('request.jwt.claims', true)::jsonb ->> 'sub'",
		`"my schema".uid()::text`,
		"coalesce(current_setting('a.b', true), '')",
		"'it''s'",
	} {
		if _, err := sqlschema.SQL(sqlschema.Config{UserIDExpr: expr}); err != nil {
			t.Errorf("UserIDExpr %q rejected: %v", expr, err)
		}
	}
}

// TestUserIDSettingTrustModel pins down what the default UserIDExpr does
// and does not protect, as the package documentation states it: the
// setting secmon.user_id is chosen by whoever opens the transaction, so a
// client that can run SQL of its own as authenticated reads another user's
// sessions by setting it; it still cannot touch the security log or the
// alerts, whatever it sets.
func TestUserIDSettingTrustModel(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	seed(t, pool, s)
	asRole(t, pool, "authenticated", "", func(tx pgx.Tx) {
		if _, err := try(t, tx, "SELECT set_config('secmon.user_id', 'u2', true)"); err != nil {
			t.Fatalf("set_config as authenticated: %v", err)
		}
		var users []string
		err := pgx.BeginFunc(testContext(t), tx, func(sp pgx.Tx) error {
			rows, err := sp.Query(testContext(t), "SELECT user_id FROM "+s+".active_sessions")
			if err != nil {
				return err
			}
			users, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil || len(users) != 1 || users[0] != "u2" {
			t.Errorf("authenticated with secmon.user_id set to u2 reads sessions of %v (%v); the documented trust model says u2's", users, err)
		}
		for _, table := range []string{"security_events", "security_alerts"} {
			if n, err := try(t, tx, "SELECT * FROM "+s+"."+table); err == nil {
				t.Errorf("authenticated with a forged user ID reads %d rows of %s", n, table)
			}
		}
	})
}

// TestClientRolesGetNoFunctions checks that default privileges a platform
// sets on the schema before migrating (Supabase grants its client roles
// EXECUTE on new functions) do not leave any secmon function, nor any
// write on a table, to anon or authenticated.
func TestClientRolesGetNoFunctions(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := freshSchema(t, pool)
	ctx := testContext(t)
	for _, sql := range []string{
		"CREATE SCHEMA " + s,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT ALL ON FUNCTIONS TO anon, authenticated",
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT ALL ON TABLES TO anon, authenticated",
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT ALL ON SEQUENCES TO anon, authenticated",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{Schema: s}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SELECT "+s+".ensure_event_partitions(current_date, 2)"); err != nil {
		t.Fatal(err)
	}
	leaks := sqlschematest.Strings(t, pool, `
SELECT r.rolname || ' may execute ' || p.oid::regprocedure::text
FROM pg_proc p, pg_roles r
WHERE p.pronamespace = $1::regnamespace AND r.rolname IN ('anon', 'authenticated')
  AND has_function_privilege(r.oid, p.oid, 'EXECUTE')
UNION ALL
SELECT r.rolname || ' has ' || pr.p || ' on ' || c.oid::regclass::text
FROM pg_class c, pg_roles r, unnest(ARRAY['INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) pr(p)
WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p') AND r.rolname IN ('anon', 'authenticated')
  AND has_table_privilege(r.oid, c.oid, pr.p)
ORDER BY 1`, s)
	if len(leaks) > 0 {
		t.Errorf("client roles keep privileges:\n%s", strings.Join(leaks, "\n"))
	}
}

// TestFunctionsPinSearchPath checks that every function of the schema is
// SECURITY INVOKER and either pins search_path or has an SQL-standard body
// (bound when created, so search_path never applies).
func TestFunctionsPinSearchPath(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	rows, err := pool.Query(testContext(t), `
SELECT p.oid::regprocedure::text, p.prosecdef,
       p.prosqlbody IS NOT NULL OR EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
FROM pg_proc p WHERE p.pronamespace = $1::regnamespace ORDER BY 1`, s)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var definer, pinned bool
	n := 0
	_, err = pgx.ForEachRow(rows, []any{&name, &definer, &pinned}, func() error {
		n++
		if definer {
			t.Errorf("%s is SECURITY DEFINER", name)
		}
		if !pinned {
			t.Errorf("%s neither pins search_path nor has an SQL-standard body", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Errorf("found %d functions in %s, want at least 4", n, s)
	}
}

// TestAuditSeesPrivilegesThroughMembership grants privileges to a group
// role that authenticated is a member of: the client role holds them as if
// granted directly, so the auditor reports them.
func TestAuditSeesPrivilegesThroughMembership(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	ctx := testContext(t)
	group := sqlschematest.RandomName("secmon_t_group_")
	if _, err := pool.Exec(ctx, "CREATE ROLE "+group+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(ctx, "DROP OWNED BY "+group); err != nil {
			t.Error(err)
		}
		if _, err := pool.Exec(ctx, "DROP ROLE "+group); err != nil {
			t.Error(err)
		}
	})
	s := scratch(t, pool)
	for _, st := range []string{
		"GRANT " + group + " TO authenticated",
		"GRANT USAGE ON SCHEMA %[1]s TO " + group,
		"CREATE TABLE %[1]s.notes (id int)",
		"ALTER TABLE %[1]s.notes ENABLE ROW LEVEL SECURITY",
		"ALTER TABLE %[1]s.notes FORCE ROW LEVEL SECURITY",
		"GRANT INSERT, TRUNCATE ON %[1]s.notes TO " + group,
		"CREATE VIEW %[1]s.leaky AS SELECT * FROM %[1]s.notes",
		"GRANT SELECT ON %[1]s.leaky TO " + group,
		"CREATE FUNCTION %[1]s.definer() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT 1'",
		"REVOKE ALL ON FUNCTION %[1]s.definer() FROM PUBLIC",
		"GRANT EXECUTE ON FUNCTION %[1]s.definer() TO " + group,
		"CREATE POLICY group_all ON %[1]s.notes FOR ALL TO " + group + " USING (true) WITH CHECK (true)",
	} {
		if _, err := pool.Exec(ctx, strings.ReplaceAll(st, "%[1]s", s)); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	got := map[string]sqlschema.PolicyFinding{}
	for _, f := range audit(t, pool, s) {
		got[f.Table+" "+f.Code] = f
	}
	for _, want := range []string{
		"notes " + sqlschema.CodeWriteGrantToAuthenticated,
		"leaky " + sqlschema.CodeViewBypassesRLS,
		"definer() " + sqlschema.CodeDefinerFunctionExposed,
		"notes " + sqlschema.CodePolicyTrueForClient,
	} {
		f, ok := got[want]
		if !ok {
			t.Errorf("no finding %q; got %v", want, got)
			continue
		}
		if !strings.Contains(f.Detail, "authenticated") {
			t.Errorf("finding %q does not name authenticated: %s", want, f.Detail)
		}
	}
	if len(got) != 4 {
		t.Errorf("findings %v, want the four above", got)
	}
}

// TestErrorsHideThePassword migrates against a server that hangs up: the
// error says what failed but not the password in the connection string.
func TestErrorsHideThePassword(t *testing.T) {
	const password = "s3cret-Pa55word"
	pool := sqlschematest.HangUpPool(t, password)
	for name, call := range map[string]func() error{
		"Migrate":       func() error { _, err := sqlschema.Migrate(testContext(t), pool, sqlschema.Config{}); return err },
		"Version":       func() error { _, err := sqlschema.Version(testContext(t), pool, sqlschema.Config{}); return err },
		"AuditPolicies": func() error { _, err := sqlschema.AuditPolicies(testContext(t), pool); return err },
	} {
		err := call()
		if err == nil {
			t.Errorf("%s against a server that hangs up succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("%s error reveals the password: %v", name, err)
		}
	}
}
