package sqlschema

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
)

var errNilPool = fmt.Errorf("sqlschema: nil *pgxpool.Pool: %w", secmon.ErrInvalid)

// querier is what both *pgx.Conn and pgx.Tx offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lockKey is the advisory lock key that serialises migrations of one schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("secmon.sqlschema.migrate:"))
	h.Write([]byte(schema))
	return int64(h.Sum64())
}

// describe renders a database error with the server's detail and hint.
func describe(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		s := pg.Severity + ": " + pg.Message + " (SQLSTATE " + pg.Code + ")"
		if pg.Detail != "" {
			s += "; detail: " + pg.Detail
		}
		if pg.Hint != "" {
			s += "; hint: " + pg.Hint
		}
		if pg.Where != "" {
			s += "; where: " + strings.ReplaceAll(pg.Where, "\n", " / ")
		}
		return s
	}
	return err.Error()
}

// dbError wraps an error from a bookkeeping statement.
func dbError(what string, err error) error {
	return fmt.Errorf("sqlschema: %s: %s: %w", what, describe(err), err)
}

// Migrate applies the pending migrations to the database behind pool, oldest
// first, and returns how many it applied. Each migration runs in its own
// transaction together with its row in <schema>.schema_migrations, so a
// failure leaves the schema at the last good version. A session advisory
// lock keyed on the schema name makes concurrent Migrate calls (several
// instances starting at once) safe: the first applies, the others wait and
// then find nothing to do.
//
// The configured service role must exist, and the connecting role must be a
// superuser, have BYPASSRLS, or be a member of the service role: row-level
// security is forced on every table, the owner included. Migrate checks both
// before applying anything.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts Config) (applied int, err error) {
	o, err := opts.withDefaults()
	if err != nil {
		return 0, err
	}
	if pool == nil {
		return 0, errNilPool
	}
	ms, err := migrations(o)
	if err != nil {
		return 0, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, dbError("acquiring a connection", err)
	}
	defer conn.Release()
	unlock, err := sessionLock(ctx, conn.Conn(), o.Schema)
	if err != nil {
		return 0, err
	}
	defer unlock()

	done, err := prepare(ctx, conn.Conn(), o)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error { return apply(ctx, tx, o, m) })
		if err != nil {
			return applied, asMigrationError(m.Name, "up", err)
		}
		applied++
		o.Logger.InfoContext(ctx, "sqlschema: applied migration", "schema", o.Schema, "migration", m.Name)
	}
	return applied, nil
}

// MigrateTx applies the pending migrations inside tx, a transaction the
// caller owns and commits, and returns how many it applied. It takes a
// transaction-scoped advisory lock on the same key as Migrate, so the two
// never run at once on one schema. On error tx is unusable and must be
// rolled back.
func MigrateTx(ctx context.Context, tx pgx.Tx, opts Config) (int, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return 0, err
	}
	if tx == nil {
		return 0, fmt.Errorf("sqlschema: MigrateTx: nil transaction: %w", secmon.ErrInvalid)
	}
	ms, err := migrations(o)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock($1)", lockKey(o.Schema)); err != nil {
		return 0, dbError("taking the migration lock", err)
	}
	done, err := prepare(ctx, tx, o)
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		if err := apply(ctx, tx, o, m); err != nil {
			return applied, asMigrationError(m.Name, "up", err)
		}
		applied++
		o.Logger.InfoContext(ctx, "sqlschema: applied migration", "schema", o.Schema, "migration", m.Name)
	}
	return applied, nil
}

// MigrateDown reverts applied migrations newer than version to, newest
// first, each in its own transaction, under the same lock as Migrate.
// MigrateDown(ctx, pool, opts, 0) removes every secmon object except the
// schema and its schema_migrations table.
func MigrateDown(ctx context.Context, pool *pgxpool.Pool, opts Config, to int) error {
	if to < 0 {
		return fmt.Errorf("sqlschema: MigrateDown: target version %d is negative: %w", to, secmon.ErrInvalid)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	ms, err := migrations(o)
	if err != nil {
		return err
	}
	if pool == nil {
		return errNilPool
	}
	byVersion := make(map[int]Migration, len(ms))
	for _, m := range ms {
		byVersion[m.Version] = m
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return dbError("acquiring a connection", err)
	}
	defer conn.Release()
	unlock, err := sessionLock(ctx, conn.Conn(), o.Schema)
	if err != nil {
		return err
	}
	defer unlock()

	done, err := appliedVersions(ctx, conn.Conn(), o)
	if err != nil {
		return err
	}
	versions := make([]int, 0, len(done))
	for v := range done {
		if v > to {
			if _, ok := byVersion[v]; !ok {
				return fmt.Errorf("sqlschema: MigrateDown: version %d is applied but unknown to this build; cannot revert it", v)
			}
			versions = append(versions, v)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(versions)))
	for _, v := range versions {
		m := byVersion[v]
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.Down); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "DELETE FROM "+quoteIdent(o.Schema)+".schema_migrations WHERE version = $1", m.Version)
			return err
		})
		if err != nil {
			return asMigrationError(m.Name, "down", err)
		}
		o.Logger.InfoContext(ctx, "sqlschema: reverted migration", "schema", o.Schema, "migration", m.Name)
	}
	return nil
}

// Version returns the newest applied migration version, or 0 when the schema
// has never been migrated.
func Version(ctx context.Context, pool *pgxpool.Pool, opts Config) (int, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return 0, err
	}
	if pool == nil {
		return 0, errNilPool
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", quoteIdent(o.Schema)+".schema_migrations").Scan(&exists); err != nil {
		return 0, dbError("reading the schema version", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+quoteIdent(o.Schema)+".schema_migrations").Scan(&v); err != nil {
		return 0, dbError("reading the schema version", err)
	}
	return v, nil
}

// sessionLock takes the migration advisory lock on conn and returns the
// function that releases it. If the release fails the connection is closed,
// which releases the lock with it.
func sessionLock(ctx context.Context, conn *pgx.Conn, schema string) (func(), error) {
	key := lockKey(schema)
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_advisory_lock($1)", key); err != nil {
		return nil, dbError("taking the migration lock", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_advisory_unlock($1)", key); err != nil {
			conn.Close(ctx)
		}
	}, nil
}

// prepare checks the roles, creates the schema and its ledger if needed and
// returns the applied versions. The caller holds the migration lock.
func prepare(ctx context.Context, q querier, o Config) (map[int]bool, error) {
	var exists, privileged bool
	err := q.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1),
       (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)`,
		o.ServiceRole).Scan(&exists, &privileged)
	if err != nil {
		return nil, dbError("checking roles", err)
	}
	if !exists {
		return nil, fmt.Errorf("%w: %q (create it first, e.g. CREATE ROLE %s NOLOGIN)", ErrServiceRoleMissing, o.ServiceRole, o.ServiceRole)
	}
	if !privileged {
		var member bool
		if err := q.QueryRow(ctx, "SELECT pg_catalog.pg_has_role(current_user, $1, 'MEMBER')", o.ServiceRole).Scan(&member); err != nil {
			return nil, dbError("checking roles", err)
		}
		if !member {
			return nil, fmt.Errorf("sqlschema: the connecting role is neither a superuser, nor BYPASSRLS, nor a member of %q; "+
				"row-level security is forced on secmon's tables, so it could not read them (GRANT %s TO <role>): %w",
				o.ServiceRole, o.ServiceRole, secmon.ErrInvalid)
		}
	}
	s := quoteIdent(o.Schema)
	// CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when
	// the schema exists, which an owner given a schema made ahead for it
	// may lack; create it only when it is missing.
	var schemaExists bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", o.Schema).Scan(&schemaExists); err != nil {
		return nil, dbError("checking schema "+o.Schema, err)
	}
	ddl := "CREATE TABLE IF NOT EXISTS " + s + ".schema_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL, " +
		"applied_at timestamptz NOT NULL DEFAULT pg_catalog.now())"
	if !schemaExists {
		ddl = "CREATE SCHEMA IF NOT EXISTS " + s + ";\n" + ddl
	}
	_, err = q.Exec(ctx, ddl)
	if err != nil {
		return nil, dbError("creating schema "+o.Schema, err)
	}
	return appliedVersions(ctx, q, o)
}

func appliedVersions(ctx context.Context, q querier, o Config) (map[int]bool, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", quoteIdent(o.Schema)+".schema_migrations").Scan(&exists); err != nil {
		return nil, dbError("reading applied migrations", err)
	}
	done := map[int]bool{}
	if !exists {
		return done, nil
	}
	rows, err := q.Query(ctx, "SELECT version FROM "+quoteIdent(o.Schema)+".schema_migrations")
	if err != nil {
		return nil, dbError("reading applied migrations", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, dbError("reading applied migrations", err)
	}
	for _, v := range vs {
		done[v] = true
	}
	return done, nil
}

func apply(ctx context.Context, q querier, o Config, m Migration) error {
	if _, err := q.Exec(ctx, m.Up); err != nil {
		return err
	}
	_, err := q.Exec(ctx, "INSERT INTO "+quoteIdent(o.Schema)+".schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
	return err
}

func asMigrationError(name, dir string, err error) error {
	return &MigrationError{Name: name, Direction: dir, Err: err}
}
