// Package pgstore is the PostgreSQL [secmon.Store], through
// github.com/jackc/pgx/v5 over a caller-owned *pgxpool.Pool.
//
// The tables come from package sqlschema: run sqlschema.Migrate (or apply
// its SQL with your own tool) before using a Store, and give both the same
// schema name.
//
//	pool, _ := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	if _, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{}); err != nil { … }
//	store, err := pgstore.New(pool, pgstore.Config{})
//
// # Writing
//
// Events and activity are written with COPY. Their IDs are the idempotency
// key: a batch is copied straight into the table and, only if that meets an
// ID already stored (a retried batch), copied again into a temporary table
// and moved with INSERT ... ON CONFLICT DO NOTHING. PostgreSQL refuses COPY
// into a table whose row-level security applies to the connecting role, so
// COPY straight into the tables needs a superuser or a role with BYPASSRLS
// (Supabase's service_role has it). Under a role the policies apply to (a
// plain member of the service role) the Store notices the refusal once and
// writes every batch through the temporary table, at about two thirds of
// the direct rate (see benchmarks/results/pgstore.md). Session heartbeats are
// merged by session ID in Go and written with one multi-row upsert built from
// column arrays (unnest), moving last_seen only forward. Alerts merge into the
// open alert for their (rule, subject) with INSERT ... ON CONFLICT on the
// schema's partial unique index, so deduplication holds across every
// instance sharing the database.
//
// # Rollups
//
// Migration 006_rollups adds two tables the Store keeps at write time, in
// the transaction that inserts the events and counting only the events it
// actually inserted (a retried batch adds nothing): events_hourly, the
// events by UTC hour, type and severity, and event_pairs_hourly, the events
// of Config.PairRollupTypes (by default the failures the dashboard ranks,
// [DefaultPairRollupTypes]) by UTC hour, type, IP group and user, with the
// time of the latest. Each batch is folded in Go and written with one
// multi-row upsert per table (column arrays, unnest, ON CONFLICT DO UPDATE)
// in key order, so concurrent writers cannot deadlock on them. Hourly and
// Top answer the whole hours of their range from them and the partial hours
// at either end from the events: the results are exactly those computed
// from the events alone, and a Top query whose Types are not all rolled up
// (or are empty, every type) reads the events as before. The costs, to the
// writes and to the reads, are in benchmarks/results/pgstore.md and
// benchmarks/results/dashboard.md. Events written to security_events by
// other means than the Store are not counted: recount them with
// [Store.RebuildRollups], or set Config.RawReports.
//
// # Partitions and retention
//
// security_events is partitioned by UTC day. [Store.Maintain], which the
// Monitor's maintenance loop calls (one instance at a time, under an advisory
// lock), creates the partitions ahead of time, gives rows that landed in the
// default partition a partition of their own, and runs [Store.Purge], which
// drops whole expired partitions (counting their rows) and deletes the rest
// in bounded batches. Hosts that schedule retention inside the database can
// call the schema's cleanup_old_security_data() function instead; it removes
// the same rows and reports the same counts. Creating and dropping
// partitions needs the role that owns the schema (a superuser, or a member
// of the service role that owns it): a Store connected as the service role
// alone reads and writes everything but cannot maintain. Purge, and
// cleanup_old_security_data alike, also remove the rollups of the hours
// before the events' cutoff and recount the hour holding it from the
// events left. [Store.EraseUser]
// deletes a user's rows in batches of Config.PurgeBatch, each its own
// statement, so a heavy user is erased in bounded steps, and with them the
// user's rows of the pair rollup; the hourly counts by type and severity
// name nobody and are kept, so Hourly still counts the erased user's events
// in its hours (Top, Summary and QueryEvents do not). [Store.ExportUser]
// writes the same rows as EraseUser removes as JSON lines, read in keyset
// pages of 1,000 rows, so memory stays bounded however many rows the user
// has; it leaves out the rollups, which are derived from the events.
//
// # Reading
//
// QueryEvents returns the newest events first through the (created_at, id)
// index and continues a page from an EventQuery.Before cursor with a
// (created_at, id) row comparison on it; type and address filters have
// indexes of their own (migration 005_event_indexes). Summary aggregates
// one range of partitions in one statement; Hourly and Top read the whole
// hours of their range from the rollups (see Rollups) and the partial hours
// from the events, in one statement each. Top folds what it reads into
// (IP group, user) pairs once, so its cost follows the distinct pairs per
// hour of the matching events in the range, not the log. Both are planned
// for their values on every call (pgx's unnamed statement): a cached
// generic plan cannot see that an edge range is empty, and measured many
// times slower.
//
// # Live alerts
//
// The schema announces every inserted or changed alert with NOTIFY on
// [AlertChannel]; [Store.SubscribeAlerts] LISTENs on a dedicated connection
// and hands each alert to a callback, reconnecting when the connection drops.
//
// # Blocks
//
// [Store.PutBlocks] writes a batch of the active response's blocks with one
// INSERT ... ON CONFLICT (id) DO UPDATE from column arrays; a retried batch
// changes no row and is not announced again, and a stored lift is never
// undone. [Store.Blocks] finds the blocks in force through an index on each
// block's end, so a guard's resync reads what it enforces, not the
// history. The schema announces every inserted or changed block on a
// channel of its own (sqlschema.BlockChannel); [Store.SubscribeBlocks]
// LISTENs there on a dedicated connection, hands each block ID to the
// guard, and asks it to resync each time listening (re)starts, since changes
// made meanwhile are not replayed.
//
// # Errors and timeouts
//
// Every statement runs under Config.StatementTimeout (5s by default), so a
// slow or locked database fails fast with an error matching
// [ErrStatementTimeout]. Errors are [*Error] values that match the secmon
// sentinels (secmon.ErrInvalid, secmon.ErrNotFound) and the context errors
// with errors.Is; their text never carries connection strings or
// passwords.
package pgstore
