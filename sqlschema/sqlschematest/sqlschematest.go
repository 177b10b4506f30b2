// Package sqlschematest gives tests a PostgreSQL pool and a freshly migrated
// secmon schema of their own, so tests run in parallel against one server.
//
// Tests find the server through SECMON_TEST_DATABASE_URL (see
// internal/testenv): without it they skip, unless
// SECMON_TEST_REQUIRE_SERVICES is set, in which case they fail.
//
//	func TestSomething(t *testing.T) {
//		pool := sqlschematest.Pool(t)
//		schema := sqlschematest.NewSchema(t, pool)
//		// qualify names with schema, or hand it to the store under test
//	}
package sqlschematest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon/internal/faulttest"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema"
)

// Roles are the cluster roles EnsureRoles creates: the default service role
// and the two Supabase-style client roles the RLS policies deny.
var Roles = []string{sqlschema.DefaultServiceRole, "authenticated", "anon"}

// Pool returns a pool on the test database, closed when t ends. It skips t
// when no database is configured (see internal/testenv).
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := testenv.DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("sqlschematest: connecting: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("sqlschematest: connecting: %v", err)
	}
	return pool
}

// EnsureRoles creates the NOLOGIN roles in Roles that do not exist yet.
// Roles belong to the whole cluster, so concurrent callers (parallel tests,
// parallel test binaries) are serialised with an advisory lock and a
// creation that loses a race anyway is ignored.
func EnsureRoles(ctx context.Context, pool *pgxpool.Pool) error {
	for _, role := range Roles {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock(7264091834417)"); err != nil {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return nil
			}
			_, err := tx.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" NOLOGIN")
			return err
		})
		var pg *pgconn.PgError
		if errors.As(err, &pg) && (pg.Code == "42710" || pg.Code == "23505") { // duplicate_object, unique_violation
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlschematest: creating role %s: %w", role, err)
		}
	}
	return nil
}

// NewSchema creates the roles if needed, migrates a new schema named
// secmon_t_<random> with the default service role and user ID expression,
// and drops it (CASCADE) when t ends. It returns the schema name.
func NewSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	return NewSchemaWith(t, pool, sqlschema.Config{}).Schema
}

// NewSchemaWith is NewSchema with options: a zero opts.Schema is replaced by
// a random secmon_t_ name. It returns the options used, Schema filled in.
func NewSchemaWith(t testing.TB, pool *pgxpool.Pool, opts sqlschema.Config) sqlschema.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureRoles(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if opts.Schema == "" {
		opts.Schema = RandomName("secmon_t_")
	}
	t.Cleanup(func() { DropSchema(t, pool, opts.Schema) })
	if _, err := sqlschema.Migrate(ctx, pool, opts); err != nil {
		t.Fatalf("sqlschematest: migrating schema %s: %v", opts.Schema, err)
	}
	return opts
}

// DropSchema drops schema and everything in it; t fails if that fails.
func DropSchema(t testing.TB, pool *pgxpool.Pool, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("sqlschematest: dropping schema %s: %v", schema, err)
	}
}

// RandomName returns prefix followed by 12 random lower-case hex digits.
func RandomName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("sqlschematest: crypto/rand failed: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}

// Strings runs sql on pool and returns its single text column, one string a
// row; t fails if the query fails.
func Strings(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("sqlschematest: %s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("sqlschematest: %s: %v", sql, err)
	}
	return out
}

// HangUpPool returns a pool whose server accepts every connection and
// closes it at once, with password in its connection string, so a test can
// check that the errors of a failed connection do not reveal the password.
// The server is a loopback listener of t's own; pool and server are closed
// when t ends.
func HangUpPool(t testing.TB, password string) *pgxpool.Pool {
	t.Helper()
	server := faulttest.NewProxy(t, "127.0.0.1:1") // never dialled: the proxy is cut
	server.Cut()
	pool, err := pgxpool.New(context.Background(), "postgres://secmon:"+password+"@"+server.Addr()+"/db?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatalf("sqlschematest: hang-up pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
