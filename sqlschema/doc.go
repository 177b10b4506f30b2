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
//	applied, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{})
//
// Hosts that run migrations in their own transaction call MigrateTx; hosts
// with their own migration tool take the rendered script from SQL (or
// WriteSQL, or the individual files from Migrations) and run it there. The
// script records the same schema_migrations rows, so Migrate can take over
// later. MigrateDown reverts to a version; Version reports the current one.
//
// # Placeholders
//
// The embedded files (FS) hold placeholders that a Config fills in:
//
//	{{schema}}                the schema, quoted: "secmon"         (Config.Schema)
//	{{schema_literal}}        the schema as a string: 'secmon'
//	{{service_role}}          the service role, quoted             (Config.ServiceRole)
//	{{service_role_literal}}  the service role as a string
//	{{user_id_expr}}          SQL giving the current user's ID     (Config.UserIDExpr)
//	{{block_channel_literal}} the schema's block NOTIFY channel as a string (BlockChannel)
//
// Schema and ServiceRole must be plain lower-case identifiers; anything else
// is rejected with an error wrapping secmon.ErrInvalid. UserIDExpr defaults
// to current_setting('secmon.user_id', true); Supabase hosts use
// auth.uid()::text.
//
// # Tables
//
//	security_events    the event log, range-partitioned by UTC day on created_at;
//	                   PRIMARY KEY (id, created_at), BRIN (created_at), btree (user_id, created_at);
//	                   since 005: btree (created_at, id), (type, created_at), (ip, created_at)
//	active_sessions    one row per session; fillfactor 70, index on user_id, none on last_seen
//	user_activity      allowlisted user actions; btree (user_id, created_at), BRIN (created_at)
//	security_alerts    deduplicated alerts; unique (rule, subject) WHERE status = 'open'
//	blocks             the active response's decisions and their history; btree on
//	                   each block's end (least of until and lifted_at), btree (subject, created_at)
//	events_hourly      since 006: events counted by UTC hour, type and severity;
//	                   PRIMARY KEY (hour, type, severity)
//	event_pairs_hourly since 006: events of the ranked types counted by UTC hour, type,
//	                   IP group ('::/0' for none) and user ID ('' for none), with the
//	                   latest time; PRIMARY KEY (hour, type, ip_group, user_id)
//	schema_migrations  the migration ledger: version, name, applied_at
//
// The two rollups are kept by pgstore when it writes events (see its
// package documentation); 006 fills them from the events already stored,
// the pairs for pgstore's default ranked types (the failures).
//
// A store upserts alerts with
// INSERT ... ON CONFLICT (rule, subject) WHERE status = 'open' DO UPDATE,
// so deduplication holds across every instance sharing the database.
// metadata columns are checked by <schema>.metadata_ok(jsonb): an object of
// at most 20 string values of at most 1024 bytes, the PrivacyPolicy caps.
//
// # Partitions
//
// Daily partitions are named security_events_pYYYYMMDD (the UTC day) and
// are created ahead by
//
//	SELECT <schema>.ensure_event_partitions(from_day date, days int)  -- returns how many it created
//
// which is idempotent and safe to call from several instances at once. A
// row for a day without a partition lands in security_events_default, so an
// insert never fails for want of a partition; the next
// ensure_event_partitions covering that day moves such rows into the new
// partition, so the default partition is empty in normal operation. While
// it creates partitions it holds writers to security_events for the rest
// of its transaction (readers are not held), so that no insert already
// routed to the default partition fails when the new partition is attached;
// call it ahead of time from a maintenance loop, not per request. Each new
// partition gets RLS enabled and forced and a copy of the parent's
// policies, so reading a partition directly admits the same roles as
// reading it through security_events. Days are UTC days whatever the
// session's TimeZone and DateStyle.
//
// # Retention
//
//	SELECT * FROM <schema>.cleanup_old_security_data(
//	    events_keep   interval    DEFAULT '90 days',
//	    sessions_keep interval    DEFAULT '30 days',
//	    activity_keep interval    DEFAULT '90 days',
//	    alerts_keep   interval    DEFAULT '365 days',
//	    as_of         timestamptz DEFAULT now(),
//	    blocks_keep   interval    DEFAULT '30 days')
//	-- returns events_deleted bigint, partitions_dropped int, sessions_deleted bigint,
//	--         activities_deleted bigint, alerts_deleted bigint, blocks_deleted bigint
//
// drops whole expired event partitions (counting their rows exactly),
// deletes older rows elsewhere, removes sessions whose last beat and
// revocation are both older than sessions_keep, activity older than
// activity_keep and resolved alerts last seen before alerts_keep: the same
// rows, counted the same way, as pgstore's Store.Purge; since 006 it also
// removes the rollups of the hours before the events' cutoff and recounts
// the hour holding it (006 keeps the 004 body as cleanup_events_and_rows,
// with the same privileges, and wraps it). A NULL or negative
// period keeps that data forever. It runs in the caller's transaction, one
// DELETE per table; Store.Purge, which commits as it goes, suits hosts that
// need short transactions. Periods are measured in UTC (a day is 24 hours
// whatever the session's TimeZone). It is SECURITY INVOKER with a pinned
// search_path; hosts schedule it in the database (pg_cron) as the schema
// owner, since dropping partitions needs ownership.
//
// # Alert notifications
//
// Every insert of a security_alerts row, and every update that changes one,
// sends NOTIFY on channel secmon_alerts (AlertChannel) with the alert ID as
// payload, delivered when the transaction commits. The channel name is the
// same for every schema in a database: a listener serving one schema should
// ignore IDs it does not find there.
//
// # Block notifications
//
// Every insert of a blocks row, and every update that changes one, sends
// NOTIFY on the schema's own channel, BlockChannel(schema)
// ("secmon_blocks_<schema>"), with the block ID as payload, delivered when
// the transaction commits. Every instance's guard listens there and reads
// the block, so a block decided on one instance is enforced on all of them
// within a second.
//
// # Security model
//
// Row-level security is enabled and forced on every table and partition.
// FORCE makes the policies apply to the table owner too, unless that owner
// is a superuser or has BYPASSRLS; so the role that migrates and maintains
// the schema must be a superuser, have BYPASSRLS, or be a member of the
// service role (Migrate checks this). The service role must exist before
// migrating (CREATE ROLE service_role NOLOGIN); sqlschema does not create
// it. Creating and dropping partitions needs the schema owner, not merely
// the service role.
//
//   - The only permissive policies that open whole tables are
//     FOR ALL TO <service role> USING (true) WITH CHECK (true).
//   - PUBLIC has no privilege on the schema's tables, sequences or
//     functions. Where the roles anon and authenticated exist (Supabase),
//     they lose every privilege too, and security_events,
//     security_alerts and blocks carry an explicit restrictive policy denying them
//     (USING (false) WITH CHECK (false)). This is done for the roles that
//     exist when 002_rls runs; a client role created later has no
//     privilege on the schema at all.
//   - authenticated may SELECT its own rows of active_sessions and
//     user_activity: USING (user_id = (SELECT <user_id_expr>)), on an
//     indexed column, the expression evaluated once per statement.
//
// What this protects: a client holding an anon or authenticated token and
// talking to the database through PostgREST or a Supabase client cannot
// read or write the security log or the alerts, and sees only its own
// sessions and activity. What it does not protect against: anyone holding
// the service role's or the owner's credentials.
//
// # Trust in the user ID
//
// The own-row policies are only as good as UserIDExpr. The default,
// current_setting('secmon.user_id', true), reads a custom setting, and
// PostgreSQL lets every role set custom settings: SET, set_config() or a
// startup parameter. So it identifies the user only when something the
// client cannot bypass sets it, per transaction, from an identity it has
// verified: an application server or gateway that connects as
// authenticated, runs
//
//	SELECT set_config('secmon.user_id', $1, true)  -- $1 from a verified session
//
// and then runs only its own queries. A client that may send arbitrary SQL
// as authenticated (a direct database login, an RPC endpoint that executes
// caller-supplied SQL) can set it to another user's ID and read that user's
// sessions and activity. It can never read or write security_events or
// security_alerts, whatever it sets: those are closed to the client roles
// by privilege and by a restrictive policy. Supabase's auth.uid() reads
// request.jwt.claims, which PostgREST sets from a verified token, and has
// the same limit for clients that run their own SQL; on Supabase set
// UserIDExpr to "auth.uid()::text". Where no such gateway exists, do not
// grant end users the authenticated role at all.
//
// # Auditing a database
//
// AuditPolicies inspects any database, not only secmon's schema, and
// reports row-level security mistakes: tables without RLS or without FORCE,
// permissive policies with USING (true) that apply to PUBLIC (a policy
// written without TO) or to client roles, and write privileges granted to
// PUBLIC, anon or authenticated, views that bypass RLS, and SECURITY
// DEFINER functions the client roles may call. Each finding
// carries a stable Code (the Code* constants) and a secmon.Severity. Run it
// against your own schemas in a test or at start-up and act on anything it
// reports:
//
//	findings, err := sqlschema.AuditPolicies(ctx, pool, "public", "secmon")
//	for _, f := range findings {
//		log.Printf("%s", f)
//	}
//
// # Testing
//
// Package sqlschematest gives tests a pool (from SECMON_TEST_DATABASE_URL)
// and a freshly migrated schema of their own, dropped when the test ends.
package sqlschema
