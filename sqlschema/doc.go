// Package sqlschema holds secmon's PostgreSQL schema: numbered migrations
// embedded in the binary, the functions that apply them, and an auditor of
// row-level security that works on any database.
//
// # Applying the migrations
//
// Migrate applies what is pending, each migration in its own transaction
// with its row in <schema>.schema_migrations, under an advisory lock keyed
// on the schema name, so several instances may call it at start-up:
//
//	applied, err := sqlschema.Migrate(ctx, pool, sqlschema.Options{})
//
// Hosts that run migrations in their own transaction call MigrateTx; hosts
// with their own migration tool take the rendered script from SQL (or
// WriteSQL, or the individual files from Migrations) and run it there. The
// script records the same schema_migrations rows, so Migrate can take over
// later. MigrateDown reverts to a version; Version reports the current one.
//
// # Placeholders
//
// The embedded files (FS) hold placeholders that Options fill in:
//
//	{{schema}}                the schema, quoted: "secmon"         (Options.Schema)
//	{{schema_literal}}        the schema as a string: 'secmon'
//	{{service_role}}          the service role, quoted             (Options.ServiceRole)
//	{{service_role_literal}}  the service role as a string
//	{{user_id_expr}}          SQL giving the current user's ID     (Options.UserIDExpr)
//
// Schema and ServiceRole must be plain lower-case identifiers; anything else
// is rejected with an error wrapping secmon.ErrInvalid. UserIDExpr defaults
// to current_setting('secmon.user_id', true); Supabase hosts use
// auth.uid()::text.
//
// # Tables
//
//	security_events    the event log, range-partitioned by UTC day on created_at
//	active_sessions    one row per session (fillfactor 70, last_seen not indexed)
//	user_activity      allowlisted user actions
//	security_alerts    deduplicated alerts; one open alert per (rule, subject)
//	schema_migrations  the migration ledger
//
// Daily partitions are named security_events_pYYYYMMDD (UTC) and created
// ahead by <schema>.ensure_event_partitions(from_day date, days int). A row
// for a day without a partition lands in security_events_default, so an
// insert never fails; the next ensure_event_partitions covering that day
// moves it into the new partition. metadata columns are checked by
// <schema>.metadata_ok(jsonb): an object of at most 20 string values of at
// most 1024 bytes, the PrivacyPolicy caps. Every insert or change of
// security_alerts is announced with NOTIFY on channel secmon_alerts
// (AlertChannel) with the alert ID as payload.
// <schema>.cleanup_old_security_data(...) applies retention inside the
// database for hosts that schedule it there.
//
// # Security model
//
// Row-level security is enabled and forced on every table and partition.
// FORCE makes the policies apply to the table owner too, unless that owner
// is a superuser or has BYPASSRLS; so the role that migrates and maintains
// the schema must be a superuser, have BYPASSRLS, or be a member of the
// service role (Migrate checks this). The service role must exist before
// migrating (CREATE ROLE service_role NOLOGIN); sqlschema does not create
// it.
//
//   - The only permissive policies that open whole tables are
//     FOR ALL TO <service role> USING (true) WITH CHECK (true).
//   - PUBLIC has no privilege on the schema's tables, sequences or
//     functions. Where the roles anon and authenticated exist (Supabase),
//     they lose every privilege too, and security_events and
//     security_alerts carry an explicit restrictive policy denying them
//     (USING (false) WITH CHECK (false)).
//   - authenticated may SELECT its own rows of active_sessions and
//     user_activity: USING (user_id = (SELECT <user_id_expr>)), on an
//     indexed column, the expression evaluated once per statement.
//
// What this protects: a client holding an anon or authenticated token and
// talking to the database directly (PostgREST, Supabase client) cannot read
// or write the security log or the alerts, and sees only its own sessions
// and activity. What it does not protect against: anyone holding the
// service role's or the owner's credentials.
//
// # Auditing a database
//
// AuditPolicies inspects any database, not only secmon's schema, and
// reports row-level security mistakes: tables without RLS or without FORCE,
// permissive policies with USING (true) that apply to PUBLIC (a policy
// written without TO) or to client roles, and write privileges granted to
// PUBLIC, anon or authenticated. Run it against your own schemas in a test
// or at start-up:
//
//	findings, err := sqlschema.AuditPolicies(ctx, pool, "public", "secmon")
//	for _, f := range findings {
//		log.Printf("%s", f)
//	}
package sqlschema
