package sqlschema_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// asRole runs fn in a transaction as role (SET LOCAL ROLE), with
// secmon.user_id set to userID when it is not empty, and rolls it back.
func asRole(t *testing.T, pool *pgxpool.Pool, role, userID string, fn func(tx pgx.Tx)) {
	t.Helper()
	ctx := testContext(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if userID != "" {
		if _, err := tx.Exec(ctx, "SELECT set_config('secmon.user_id', $1, true)", userID); err != nil {
			t.Fatal(err)
		}
	}
	fn(tx)
}

// try runs one statement in a savepoint so a refused statement does not
// end the transaction; it returns the rows affected or read and the error.
func try(t *testing.T, tx pgx.Tx, sql string, args ...any) (int64, error) {
	t.Helper()
	ctx := testContext(t)
	var n int64
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		rows, err := sp.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			n++
		}
		rows.Close()
		n += rows.CommandTag().RowsAffected() * boolInt(!rows.CommandTag().Select())
		return rows.Err()
	})
	return n, err
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// seed writes rows for users u1 and u2 as the migrating (superuser) role.
func seed(t *testing.T, pool *pgxpool.Pool, s string) {
	t.Helper()
	ctx := testContext(t)
	for _, u := range []string{"u1", "u2"} {
		for _, sql := range []string{
			"INSERT INTO " + s + ".security_events (type, severity, user_id, created_at) VALUES ('login_failure', 2, $1, now())",
			"INSERT INTO " + s + ".active_sessions (session_id, user_id) VALUES ('sess-' || $1, $1)",
			"INSERT INTO " + s + ".user_activity (user_id, action) VALUES ($1, 'export')",
			"INSERT INTO " + s + ".security_alerts (rule, subject) VALUES ('brute_force', 'user:' || $1)",
			"INSERT INTO " + s + ".events_hourly (hour, type, severity, n) VALUES (date_trunc('hour', now()), 'login_' || $1, 2, 2)",
			"INSERT INTO " + s + ".event_pairs_hourly (hour, type, ip_group, user_id, n, last) VALUES (date_trunc('hour', now()), 'login_failure', '::/0', $1, 1, now())",
		} {
			if _, err := pool.Exec(ctx, sql, u); err != nil {
				t.Fatal(err)
			}
		}
	}
}

var tables = []string{"security_events", "active_sessions", "user_activity", "security_alerts", "events_hourly", "event_pairs_hourly"}

// TestRLSClientRolesDenied attacks the tables as anon and authenticated.
func TestRLSClientRolesDenied(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	seed(t, pool, s)
	for _, role := range []string{"anon", "authenticated"} {
		asRole(t, pool, role, "u1", func(tx pgx.Tx) {
			for _, table := range []string{"security_events", "security_alerts", "events_hourly", "event_pairs_hourly"} {
				if n, err := try(t, tx, "SELECT * FROM "+s+"."+table); err == nil && n != 0 {
					t.Errorf("%s read %d rows of %s", role, n, table)
				}
			}
			attacks := []string{
				"INSERT INTO " + s + ".security_events (type) VALUES ('forged')",
				"INSERT INTO " + s + ".security_alerts (rule, subject) VALUES ('r', 's')",
				"UPDATE " + s + ".security_alerts SET status = 'resolved'",
				"DELETE FROM " + s + ".security_events",
				"TRUNCATE " + s + ".security_events",
				"INSERT INTO " + s + ".active_sessions (session_id, user_id) VALUES ('x', 'u1')",
				"UPDATE " + s + ".active_sessions SET revoked_at = now()",
				"DELETE FROM " + s + ".user_activity",
				"INSERT INTO " + s + ".user_activity (user_id, action) VALUES ('u1', 'x')",
				"SELECT * FROM " + s + ".security_events_default",
				"INSERT INTO " + s + ".events_hourly (hour, type, severity, n) VALUES (now(), 'forged', 0, 1)",
				"UPDATE " + s + ".events_hourly SET n = n + 1000",
				"DELETE FROM " + s + ".event_pairs_hourly",
				"INSERT INTO " + s + ".event_pairs_hourly (hour, type, ip_group, user_id, n, last) VALUES (now(), 'login_failure', '::/0', 'u1', 1, now())",
				"SELECT " + s + ".ensure_event_partitions(current_date, 1)",
				"SELECT * FROM " + s + ".cleanup_old_security_data()",
			}
			for _, sql := range attacks {
				if n, err := try(t, tx, sql); err == nil {
					t.Errorf("%s: %s succeeded (%d rows)", role, sql, n)
				}
			}
		})
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".security_events"); n != 2 {
		t.Errorf("security_events holds %d rows after the attacks, want 2", n)
	}
	if n := countRows(t, pool, "SELECT sum(n)::int FROM "+s+".events_hourly"); n != 4 {
		t.Errorf("events_hourly counts %d after the attacks, want 4", n)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".event_pairs_hourly"); n != 2 {
		t.Errorf("event_pairs_hourly holds %d rows after the attacks, want 2", n)
	}
	if n := countRows(t, pool, "SELECT count(*) FROM "+s+".active_sessions WHERE revoked_at IS NOT NULL"); n != 0 {
		t.Errorf("%d sessions were revoked by the attacks", n)
	}
}

// TestRLSDenyHoldsWithGrants grants client roles privileges on the security
// tables, as a careless GRANT or a platform's default privileges might, and
// adds the audited mistake (a permissive USING (true) policy with no TO):
// the restrictive policies still hide every row and refuse every write.
func TestRLSDenyHoldsWithGrants(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	seed(t, pool, s)
	if _, err := pool.Exec(testContext(t), "GRANT USAGE ON SCHEMA "+s+" TO anon, authenticated; "+
		"GRANT SELECT, INSERT, UPDATE, DELETE ON "+s+".security_events, "+s+".security_alerts TO anon, authenticated; "+
		"CREATE POLICY audited_mistake ON "+s+".security_events FOR ALL USING (true) WITH CHECK (true); "+
		"CREATE POLICY audited_mistake ON "+s+".security_alerts FOR ALL USING (true) WITH CHECK (true)"); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"anon", "authenticated"} {
		asRole(t, pool, role, "u1", func(tx pgx.Tx) {
			for _, table := range []string{"security_events", "security_alerts"} {
				n, err := try(t, tx, "SELECT * FROM "+s+"."+table)
				if err != nil || n != 0 {
					t.Errorf("%s SELECT %s = %d rows, %v; want 0 rows", role, table, n, err)
				}
				if n, _ := try(t, tx, "UPDATE "+s+"."+table+" SET severity = 0"); n != 0 {
					t.Errorf("%s updated %d rows of %s", role, n, table)
				}
				if n, _ := try(t, tx, "DELETE FROM "+s+"."+table); n != 0 {
					t.Errorf("%s deleted %d rows of %s", role, n, table)
				}
			}
			if _, err := try(t, tx, "INSERT INTO "+s+".security_events (type, user_id) VALUES ('forged', 'u1')"); sqlState(err) != "42501" {
				t.Errorf("%s INSERT into security_events = %v, want an RLS violation", role, err)
			}
			if _, err := try(t, tx, "INSERT INTO "+s+".security_alerts (rule, subject) VALUES ('r', 's')"); sqlState(err) != "42501" {
				t.Errorf("%s INSERT into security_alerts = %v, want an RLS violation", role, err)
			}
		})
	}
}

func TestRLSOwnRowsRead(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	seed(t, pool, s)
	for _, table := range []string{"active_sessions", "user_activity"} {
		asRole(t, pool, "authenticated", "u1", func(tx pgx.Tx) {
			var users []string
			err := pgx.BeginFunc(testContext(t), tx, func(sp pgx.Tx) error {
				rows, err := sp.Query(testContext(t), "SELECT user_id FROM "+s+"."+table+" ORDER BY 1")
				if err != nil {
					return err
				}
				users, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			})
			if err != nil || len(users) != 1 || users[0] != "u1" {
				t.Errorf("authenticated as u1 reads %s users %v, %v; want only u1", table, users, err)
			}
		})
		asRole(t, pool, "authenticated", "", func(tx pgx.Tx) {
			if n, err := try(t, tx, "SELECT * FROM "+s+"."+table); err != nil || n != 0 {
				t.Errorf("authenticated without a user ID reads %d rows of %s (%v)", n, table, err)
			}
		})
		asRole(t, pool, "anon", "u1", func(tx pgx.Tx) {
			if n, err := try(t, tx, "SELECT * FROM "+s+"."+table); err == nil {
				t.Errorf("anon reads %d rows of %s", n, table)
			}
		})
	}
}

func TestRLSServiceRole(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	seed(t, pool, s)
	asRole(t, pool, "service_role", "", func(tx pgx.Tx) {
		for _, table := range tables {
			if n, err := try(t, tx, "SELECT * FROM "+s+"."+table); err != nil || n != 2 {
				t.Errorf("service_role reads %d rows of %s, %v; want 2", n, table, err)
			}
		}
		statements := []string{
			"INSERT INTO " + s + ".security_events (type, metadata) VALUES ('login_success', '{\"k\": \"v\"}')",
			"INSERT INTO " + s + ".active_sessions (session_id, user_id) VALUES ('s3', 'u3') ON CONFLICT (session_id) DO UPDATE SET last_seen = excluded.last_seen",
			"INSERT INTO " + s + ".user_activity (user_id, action) VALUES ('u3', 'export')",
			"INSERT INTO " + s + ".security_alerts (rule, subject) VALUES ('r', 's')",
			"UPDATE " + s + ".security_alerts SET status = 'resolved' WHERE rule = 'r'",
			"UPDATE " + s + ".active_sessions SET revoked_at = now() WHERE session_id = 'sess-u1'",
			"DELETE FROM " + s + ".security_events WHERE user_id = 'u2'",
			"DELETE FROM " + s + ".user_activity WHERE user_id = 'u2'",
			"INSERT INTO " + s + ".events_hourly AS t (hour, type, severity, n) VALUES (date_trunc('hour', now()), 'login_failure', 2, 1) " +
				"ON CONFLICT (hour, type, severity) DO UPDATE SET n = t.n + excluded.n",
			"DELETE FROM " + s + ".event_pairs_hourly WHERE user_id = 'u2'",
			"SELECT version FROM " + s + ".schema_migrations",
		}
		for _, sql := range statements {
			if n, err := try(t, tx, sql); err != nil || n == 0 {
				t.Errorf("service_role: %s = %d rows, %v", sql, n, err)
			}
		}
	})
}

// loginRole is a cluster role that logs in and is a member of
// authenticated, as an end user's database connection is on platforms that
// hand clients a database role.
const loginRole = "secmon_test_client"

func ensureLoginRole(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := testContext(t)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(7264091834417)"); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", loginRole).Scan(&exists); err != nil || exists {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE ROLE "+loginRole+" LOGIN IN ROLE authenticated")
		return err
	})
	if err != nil && sqlState(err) != "42710" && sqlState(err) != "23505" {
		t.Fatal(err)
	}
}

// TestRLSLoginConnection connects as a separate login role that is a member
// of authenticated, rather than switching roles on a superuser connection.
func TestRLSLoginConnection(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	seed(t, pool, s)
	ensureLoginRole(t, pool)
	ctx := testContext(t)
	cfg := pool.Config().ConnConfig.Copy()
	cfg.User = loginRole
	cfg.RuntimeParams["secmon.user_id"] = "u2"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Skipf("cannot log in as %s (server authentication refuses it): %v", loginRole, err)
	}
	defer conn.Close(context.Background())
	var who string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != loginRole {
		t.Fatalf("current_user = %q, %v", who, err)
	}
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM "+s+".security_events"); sqlState(err) != "42501" {
		t.Errorf("SELECT security_events as %s = %v, want insufficient privilege", loginRole, err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+s+".security_events (type) VALUES ('forged')"); sqlState(err) != "42501" {
		t.Errorf("INSERT security_events as %s = %v, want insufficient privilege", loginRole, err)
	}
	var users []string
	rows, err := conn.Query(ctx, "SELECT user_id FROM "+s+".active_sessions")
	if err == nil {
		users, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || len(users) != 1 || users[0] != "u2" {
		t.Errorf("sessions visible to u2's login: %v, %v; want only u2", users, err)
	}
}
