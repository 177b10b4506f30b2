package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/store/pgstore"
)

// SchemaPrefix starts the name of the schema each PostgreSQL run migrates
// for itself; eight random hexadecimal digits follow.
const SchemaPrefix = "secmon_quickstart_"

// openPostgres prepares PostgreSQL for one run and returns a pgstore over
// a pool this program owns. It creates the cluster role service_role
// (NOLOGIN) if it does not exist, since the schema's row-level security
// policies are granted to it and sqlschema.Migrate refuses to run without
// it, and migrates a schema of the run's own, SchemaPrefix plus random
// digits, so every run starts empty and prints the same output. The
// returned cleanup drops that schema, unless keep is set, and closes the
// pool; the role, which belongs to the whole cluster, stays. The schema's
// name and fate are reported on stderr, never on the output.
func openPostgres(ctx context.Context, databaseURL string, keep bool, stderr io.Writer) (secmon.Store, string, func(), error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, "", nil, fmt.Errorf("SECMON_DATABASE_URL is not a valid connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, "", nil, fmt.Errorf("postgres: %w", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := SchemaPrefix + hex.EncodeToString(b[:])
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			fmt.Fprintf(stderr, "quickstart: dropping schema %s: %v\n", schema, err)
		}
	}
	fail := func(err error) (secmon.Store, string, func(), error) {
		drop()
		pool.Close()
		return nil, "", nil, err
	}
	if _, err := pool.Exec(ctx, `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN; END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`); err != nil {
		return fail(fmt.Errorf("create service_role: %w", err))
	}
	if _, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{Schema: schema}); err != nil {
		return fail(err)
	}
	st, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		return fail(err)
	}
	cleanup := func() {
		if keep {
			fmt.Fprintf(stderr, "quickstart: kept PostgreSQL schema %s (drop it with DROP SCHEMA %s CASCADE)\n", schema, schema)
		} else {
			drop()
			fmt.Fprintf(stderr, "quickstart: dropped PostgreSQL schema %s\n", schema)
		}
		pool.Close()
	}
	return st, "PostgreSQL", cleanup, nil
}
