package sqlschema_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon/sqlschema"
)

func ExampleMigrate() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	// Safe to run from every instance at start-up.
	applied, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{
		UserIDExpr: "auth.uid()::text", // Supabase
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("applied %d secmon migrations", applied)
}

func ExampleAuditPolicies() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	// readme:begin audit
	findings, err := sqlschema.AuditPolicies(ctx, pool, "public", "secmon")
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range findings {
		fmt.Println(f) // e.g. policy_true_for_public [critical] public.security_events policy p: ...
	}
	// readme:end audit
}

// The rendered script, for a host's own migration tool.
func ExampleSQL() {
	sql, err := sqlschema.SQL(sqlschema.Config{Schema: "audit", ServiceRole: "backend"})
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(line, "CREATE TABLE") || strings.HasPrefix(line, "-- 0") {
			fmt.Println(strings.TrimSuffix(line, " ("))
		}
	}
	// Output:
	// -- 001_tables
	// CREATE TABLE IF NOT EXISTS "audit".schema_migrations
	// CREATE TABLE "audit".security_events
	// CREATE TABLE "audit".security_events_default PARTITION OF "audit".security_events DEFAULT;
	// CREATE TABLE "audit".active_sessions
	// CREATE TABLE "audit".user_activity
	// CREATE TABLE "audit".security_alerts
	// -- 002_rls
	// -- 003_cleanup
	// -- 004_blocks
	// CREATE TABLE "audit".blocks
	// -- 005_event_indexes
	// -- 006_rollups
	// CREATE TABLE "audit".events_hourly
	// CREATE TABLE "audit".event_pairs_hourly
}

func ExampleConfig() {
	_, err := sqlschema.SQL(sqlschema.Config{Schema: "Audit Log"})
	fmt.Println(err)
	// Output:
	// sqlschema: Schema "Audit Log" is not a plain identifier (lower-case letters, digits and '_', not starting with a digit): secmon: invalid input
}
