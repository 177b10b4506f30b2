package pgstore

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
)

// partitionName matches the daily partitions ensure_event_partitions
// creates; the date is the UTC day the partition holds, [day, day+1).
var partitionName = regexp.MustCompile(`^security_events_p([0-9]{8})$`)

// Purge removes rows older than p.WithDefaults() allows, as of now; a
// negative period keeps that kind of row forever.
//
// Events: every daily partition that ends at or before the cutoff is
// counted and dropped whole (DROP TABLE, no row-by-row delete, no vacuum
// debt); older rows left elsewhere (the partition holding the cutoff, the
// default partition) are deleted in time slices of about Config.PurgeBatch
// rows, each slice its own statement; activity likewise; sessions and
// alerts in batches of at most PurgeBatch rows. Sessions go when the later of last_seen and
// revoked_at is older than p.Sessions, activity when older than p.Activity,
// resolved alerts when last seen before p.Alerts, and blocks when they ended
// (expired or were lifted) more than p.Blocks ago, in batches like alerts.
// With the events go the rollup rows of the hours before the cutoff's, in
// batches like alerts, and the hour holding the cutoff is recounted from
// its remaining events (holding the Store's writers back for that hour's
// count), so the rollups hold exactly what the events do. Each statement is
// bounded by Config.StatementTimeout; work done before an error stays done
// and is counted in the returned result.
func (s *Store) Purge(ctx context.Context, p secmon.RetentionPolicy, now time.Time) (secmon.PurgeResult, error) {
	return s.purge(ctx, s.pool, p, now)
}

// querier is what the retention code needs of a pool or of one connection.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

func (s *Store) purge(ctx context.Context, q querier, p secmon.RetentionPolicy, now time.Time) (secmon.PurgeResult, error) {
	const op = "purge"
	var res secmon.PurgeResult
	if err := canceled(ctx, op); err != nil {
		return res, err
	}
	if now.IsZero() {
		return res, invalid("now", "is zero")
	}
	p = p.WithDefaults()
	if p.Events >= 0 {
		cutoff := now.Add(-p.Events)
		dropped, rows, err := s.dropPartitions(ctx, q, cutoff)
		res.PartitionsDropped, res.Events = dropped, rows
		if err != nil {
			return res, err
		}
		n, err := s.deleteBefore(ctx, q, "purge events", s.events, cutoff)
		res.Events += n
		if err != nil {
			return res, err
		}
		if err := s.purgeRollups(ctx, q, cutoff); err != nil {
			return res, err
		}
	}
	if p.Sessions >= 0 {
		n, err := s.deleteBatches(ctx, q, "purge sessions", s.sessions, "session_id", "greatest(last_seen, revoked_at) < $1", now.Add(-p.Sessions))
		res.Sessions = n
		if err != nil {
			return res, err
		}
	}
	if p.Activity >= 0 {
		n, err := s.deleteBefore(ctx, q, "purge activity", s.activity, now.Add(-p.Activity))
		res.Activities = n
		if err != nil {
			return res, err
		}
	}
	if p.Alerts >= 0 {
		n, err := s.deleteBatches(ctx, q, "purge alerts", s.alerts, "id", "status = 'resolved' AND last_seen < $1", now.Add(-p.Alerts))
		res.Alerts = n
		if err != nil {
			return res, err
		}
	}
	if p.Blocks >= 0 {
		n, err := s.deleteBatches(ctx, q, "purge blocks", s.blocks, "id", blockEnd+" < $1", now.Add(-p.Blocks))
		res.Blocks = n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// deleteBatches deletes the rows of table matching cond ($1 is arg), at
// most PurgeBatch per statement, until none is left.
func (s *Store) deleteBatches(ctx context.Context, q querier, op, table, key, cond string, arg any) (int64, error) {
	sql := `DELETE FROM ` + table + ` WHERE (` + key + `) IN (SELECT ` + key + ` FROM ` + table + ` WHERE ` + cond +
		` LIMIT ` + strconv.Itoa(s.opts.PurgeBatch) + `)`
	var total int64
	for {
		var n int64
		err := s.run(ctx, op, func(ctx context.Context) error {
			tag, err := q.Exec(ctx, sql, arg)
			n = tag.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < int64(s.opts.PurgeBatch) {
			return total, err
		}
	}
}

// deleteBefore deletes the rows of table (events or activity) created
// before cutoff; for events, those no partition drop removed (the part of
// the partition holding the cutoff, stray rows in the default partition).
// It walks time slices upwards from the oldest such row, so each DELETE
// reads only its slice's blocks through the BRIN index on created_at
// instead of rescanning the rows earlier batches deleted. Slices adapt to
// hold about PurgeBatch rows; an empty slice jumps to the next row.
func (s *Store) deleteBefore(ctx context.Context, q querier, op, table string, cutoff time.Time) (int64, error) {
	next := func(from time.Time) (time.Time, bool, error) {
		var t *time.Time
		err := s.run(ctx, op, func(ctx context.Context) error {
			return q.QueryRow(ctx, `SELECT min(created_at) FROM `+table+
				` WHERE created_at < $2 AND ($1::timestamptz IS NULL OR created_at >= $1)`, nullTime(from), cutoff).Scan(&t)
		})
		if err != nil || t == nil {
			return time.Time{}, false, err
		}
		return *t, true, nil
	}
	lo, ok, err := next(time.Time{})
	batch := int64(s.opts.PurgeBatch)
	width := time.Hour
	var total int64
	for ok && lo.Before(cutoff) {
		hi := lo.Add(width)
		if hi.After(cutoff) {
			hi = cutoff
		}
		var n int64
		err = s.run(ctx, op, func(ctx context.Context) error {
			tag, err := q.Exec(ctx, `DELETE FROM `+table+` WHERE created_at >= $1 AND created_at < $2`, lo, hi)
			n = tag.RowsAffected()
			return err
		})
		total += n
		if err != nil {
			return total, err
		}
		switch {
		case n > 2*batch && width > time.Second:
			width /= 2
		case n < batch/2 && width < 24*time.Hour:
			width *= 2
		}
		lo = hi
		if n == 0 {
			lo, ok, err = next(hi)
		}
	}
	return total, err
}

// eventPartition is one daily partition of security_events.
type eventPartition struct {
	name string
	day  time.Time // UTC midnight; the partition holds [day, day+24h)
}

// partitions lists the daily partitions of security_events, oldest first.
func (s *Store) partitions(ctx context.Context, q querier) ([]eventPartition, error) {
	var out []eventPartition
	err := s.run(ctx, "list partitions", func(ctx context.Context) error {
		rows, err := q.Query(ctx, `SELECT c.relname FROM pg_catalog.pg_inherits i
 JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = $1::regclass`, s.events)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			m := partitionName.FindStringSubmatch(name)
			if m == nil {
				continue
			}
			day, err := time.Parse("20060102", m[1])
			if err != nil {
				continue
			}
			out = append(out, eventPartition{name: name, day: day})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].day.Before(out[j].day) })
	return out, err
}

// dropPartitions drops the daily partitions that end at or before cutoff,
// each in its own short transaction that counts its rows first. The count
// is exact: on a partition autovacuum has visited it costs about as much as
// the drop (see the benchmarks). It takes
// the same advisory lock as ensure_event_partitions and a lock_timeout, so
// a long reader makes it give up (and retry at the next Purge) rather than
// queue every writer behind it.
func (s *Store) dropPartitions(ctx context.Context, q querier, cutoff time.Time) (dropped int, rows int64, err error) {
	parts, err := s.partitions(ctx, q)
	if err != nil {
		return 0, 0, err
	}
	lockTimeout := s.opts.StatementTimeout
	if lockTimeout <= 0 {
		lockTimeout = DefaultStatementTimeout
	}
	for _, part := range parts {
		if part.day.Add(24 * time.Hour).After(cutoff) {
			break
		}
		var n int64
		err := s.run(ctx, "drop partition", func(ctx context.Context) error {
			return pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('secmon.partitions:' || $1, 0))`, s.opts.Schema); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `SELECT pg_catalog.set_config('lock_timeout', $1, true)`, strconv.FormatInt(lockTimeout.Milliseconds(), 10)); err != nil {
					return err
				}
				// Writers are held at the parent, in the order they lock, so
				// the count is exact and the drop cannot deadlock with them.
				if _, err := tx.Exec(ctx, `LOCK TABLE `+s.events+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
					return err
				}
				ident := pgx.Identifier{s.opts.Schema, part.name}.Sanitize()
				var exists bool
				if err := tx.QueryRow(ctx, `SELECT pg_catalog.to_regclass($1) IS NOT NULL`, ident).Scan(&exists); err != nil || !exists {
					return err
				}
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+ident).Scan(&n); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `DROP TABLE `+ident)
				return err
			})
		})
		if err != nil {
			return dropped, rows, err
		}
		dropped++
		rows += n
		s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "secmon: dropped event partition",
			slog.String("partition", part.name), slog.Int64("rows", n))
	}
	return dropped, rows, nil
}

// EraseUser removes the user's events, sessions, activity, the alerts
// whose subject is the user (secmon.AlertAboutUser) and the blocks on the
// account (secmon.BlockOnUser, in force or not), the rows ExportUser
// writes, and returns how many rows went. Alerts about other subjects (an
// address, a session) and blocks on addresses are kept: they hold no user
// ID. The user's rows of the pair rollup go too (not counted in the
// returned number: they are derived from the events); the hourly counts by
// type and severity hold no user ID and are kept, so Hourly still counts
// the erased events in their hours. Each removed block is announced on the block channel, in the
// statement that removes it, so every instance's guard stops enforcing it
// within a second (the schema's triggers announce inserts and updates
// only; the retention purge removes ended blocks silently).
//
// Events and activity go in batches of Config.PurgeBatch rows, oldest
// first through the (user_id, created_at) index, each batch its own
// statement and transaction under Config.StatementTimeout, so a user with
// millions of rows is erased in bounded steps instead of one statement
// that would time out and roll back every time. Work done before an error
// stays done and is counted in the returned number; calling EraseUser
// again finishes the job.
func (s *Store) EraseUser(ctx context.Context, userID string) (int64, error) {
	const op = "erase user"
	if err := canceled(ctx, op); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, invalid("userID", "is empty")
	}
	total, err := s.eraseBatches(ctx, op, s.events, userID)
	if err != nil {
		return total, err
	}
	// The pair rollup's rows about the user go with the events; they are
	// derived and not counted. The hourly counts by type and severity name
	// nobody and stay.
	if _, err := s.deleteBatches(ctx, s.pool, op, s.pairs, "hour, type, ip_group, user_id", "user_id = $1", userID); err != nil {
		return total, err
	}
	err = s.run(ctx, op, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.sessions+` WHERE user_id = $1`, userID)
		total += tag.RowsAffected()
		return err
	})
	if err != nil {
		return total, err
	}
	n, err := s.eraseBatches(ctx, op, s.activity, userID)
	total += n
	if err != nil {
		return total, err
	}
	err = s.run(ctx, op, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.alerts+` WHERE `+userAlertCond, userID)
		total += tag.RowsAffected()
		return err
	})
	if err != nil {
		return total, err
	}
	// One row, and one notification (sent at commit), per removed block:
	// the SELECT's command tag counts them.
	err = s.run(ctx, op, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `WITH gone AS (DELETE FROM `+s.blocks+` WHERE `+userBlockCond+` RETURNING id)
SELECT pg_catalog.pg_notify($2, id::text) FROM gone`, userID, s.blockChannel)
		total += tag.RowsAffected()
		return err
	})
	return total, err
}

// eraseBatches deletes the user's rows of table (events or activity) in
// batches of about PurgeBatch, walking created_at upwards: it reads, through
// the (user_id, created_at) index, the time of the row one batch past where
// the last batch ended, and deletes the user's rows between the two by
// range. The range prunes partitions and uses the index; a DELETE joined to
// a list of row keys would instead scan every partition of the table.
func (s *Store) eraseBatches(ctx context.Context, op, table, userID string) (int64, error) {
	bound := `SELECT created_at FROM ` + table + ` WHERE user_id = $1 AND created_at >= $2 ORDER BY created_at OFFSET $3 LIMIT 1`
	del := `DELETE FROM ` + table + ` WHERE user_id = $1 AND created_at >= $2 AND created_at < $3`
	delAt := `DELETE FROM ` + table + ` WHERE user_id = $1 AND created_at = $2`
	from := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	var total int64
	for {
		var next pgtype.Timestamptz
		err := s.run(ctx, op, func(ctx context.Context) error {
			err := s.pool.QueryRow(ctx, bound, userID, from, s.opts.PurgeBatch).Scan(&next)
			if errors.Is(err, pgx.ErrNoRows) { // less than a batch left: take it all
				next, err = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}, nil
			}
			return err
		})
		if err != nil {
			return total, err
		}
		var n int64
		err = s.run(ctx, op, func(ctx context.Context) error {
			var tag pgconn.CommandTag
			var err error
			if next.InfinityModifier == pgtype.Finite && from.InfinityModifier == pgtype.Finite && next.Time.Equal(from.Time) {
				// More than a batch share one time: delete them together.
				tag, err = s.pool.Exec(ctx, delAt, userID, from)
			} else {
				tag, err = s.pool.Exec(ctx, del, userID, from, next)
			}
			n = tag.RowsAffected()
			return err
		})
		total += n
		if err != nil || next.InfinityModifier == pgtype.Infinity {
			return total, err
		}
		from = next
	}
}

// Maintain does the periodic upkeep, on one instance at a time: under a
// session advisory lock (pg_try_advisory_lock, so a second instance returns
// at once with Skipped) it creates the event partitions from yesterday to
// Config.PartitionsAhead days after now (UTC), moves rows that landed in the
// default partition into partitions for their days (within the event
// retention period), and then runs Purge.
func (s *Store) Maintain(ctx context.Context, now time.Time, p secmon.RetentionPolicy) (secmon.MaintenanceResult, error) {
	const op = "maintain"
	var res secmon.MaintenanceResult
	if err := canceled(ctx, op); err != nil {
		return res, err
	}
	if now.IsZero() {
		return res, invalid("now", "is zero")
	}
	var conn *pgxpool.Conn
	err := s.run(ctx, op, func(ctx context.Context) error {
		var err error
		conn, err = s.pool.Acquire(ctx)
		return err
	})
	if err != nil {
		return res, err
	}
	var locked bool
	err = s.run(ctx, op, func(ctx context.Context) error {
		return conn.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtextextended('secmon.maintain:' || $1, 0))`, s.opts.Schema).Scan(&locked)
	})
	if err != nil || !locked {
		conn.Release()
		res.Skipped = err == nil
		return res, err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtextextended('secmon.maintain:' || $1, 0))`, s.opts.Schema); err != nil {
			// Closing the connection releases the lock with the session.
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}()

	created, err := s.ensurePartitionsFor(ctx, conn, now, p.WithDefaults().Events)
	res.PartitionsCreated = created
	if err != nil {
		return res, err
	}
	// The purge runs on the locked connection too, so maintenance needs one
	// connection of the pool, not two.
	res.Purged, err = s.purge(ctx, conn, p, now)
	return res, err
}

// maxStrayDays bounds how many distinct days of rows in the default
// partition one Maintain call gives partitions to.
const maxStrayDays = 400

// ensurePartitionsFor creates the partitions Maintain keeps ahead and those
// for days that have rows waiting in the default partition.
func (s *Store) ensurePartitionsFor(ctx context.Context, conn *pgxpool.Conn, now time.Time, keep time.Duration) (int, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	var created int
	err := s.run(ctx, "ensure partitions", func(ctx context.Context) error {
		return conn.QueryRow(ctx, `SELECT `+s.ensurePartitions+`($1::date, $2)`,
			today.AddDate(0, 0, -1).Format(time.DateOnly), s.opts.PartitionsAhead+2).Scan(&created)
	})
	if err != nil {
		return created, err
	}
	// Rows for other days (late or far-future events) wait in the default
	// partition; give each such day within retention its partition, which
	// moves the rows out of the default one.
	lo := time.Time{}
	if keep >= 0 {
		lo = today.Add(-keep)
	}
	hi := today.AddDate(0, 0, s.opts.PartitionsAhead+1)
	var days []time.Time
	err = s.run(ctx, "find stray events", func(ctx context.Context) error {
		rows, err := conn.Query(ctx, `SELECT DISTINCT pg_catalog.date_bin('1 day', created_at, timestamptz '2000-01-01 00:00:00+00') AS d
 FROM `+s.eventsDefault+` WHERE created_at < $2 AND ($1::timestamptz IS NULL OR created_at >= $1)
 ORDER BY d LIMIT `+strconv.Itoa(maxStrayDays), nullTime(lo), hi)
		if err != nil {
			return err
		}
		days, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
		return err
	})
	if err != nil {
		return created, err
	}
	for _, d := range days {
		var n int
		err := s.run(ctx, "ensure partitions", func(ctx context.Context) error {
			return conn.QueryRow(ctx, `SELECT `+s.ensurePartitions+`($1::date, 1)`, d.UTC().Format(time.DateOnly)).Scan(&n)
		})
		created += n
		if err != nil {
			return created, err
		}
	}
	if created > 0 {
		s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "secmon: created event partitions", slog.Int64("partitions", int64(created)))
	}
	return created, nil
}
