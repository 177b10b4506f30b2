package main

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/store/pgstore"
)

// openPostgres migrates the secmon schema (SECMON_SCHEMA, default "secmon")
// and returns a pgstore over a pool this program owns.
func openPostgres(ctx context.Context, databaseURL string) (secmon.Store, string, func(), error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, "", nil, fmt.Errorf("postgres: %w", err)
	}
	schema := os.Getenv("SECMON_SCHEMA")
	if schema == "" {
		schema = sqlschema.DefaultSchema
	}
	fail := func(err error) (secmon.Store, string, func(), error) {
		pool.Close()
		return nil, "", nil, err
	}
	// The schema's policies name the service role; a production database
	// has it already, a scratch one may not.
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
	return st, "PostgreSQL", pool.Close, nil
}
