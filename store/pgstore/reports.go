package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
)

// Summary aggregates events and alerts in [from, to) in one round trip: one
// grouped scan of the events (partition pruning and the BRIN index on
// created_at confine it to the range) and one count of the alerts opened.
func (s *Store) Summary(ctx context.Context, from, to time.Time) (secmon.Summary, error) {
	const op = "summary"
	sum := secmon.Summary{From: from, To: to}
	if err := canceled(ctx, op); err != nil {
		return sum, err
	}
	if to.Before(from) {
		return sum, invalid("to", "is before from")
	}
	var uploadUS, uploadsTimed int64
	err := s.run(ctx, op, func(ctx context.Context) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT type, severity, count(*), coalesce(sum(duration_us), 0), count(duration_us) FROM `+s.events+
			` WHERE created_at >= $1 AND created_at < $2 GROUP BY type, severity`, from, to)
		b.Queue(`SELECT count(*) FROM `+s.alerts+` WHERE first_seen >= $1 AND first_seen < $2`, from, to)
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var (
			typ             string
			sev             int16
			n, durUS, timed int64
		)
		for rows.Next() {
			if err := rows.Scan(&typ, &sev, &n, &durUS, &timed); err != nil {
				rows.Close()
				return err
			}
			if sum.ByType == nil {
				sum.ByType = make(map[secmon.EventType]int64)
				sum.BySeverity = make(map[secmon.Severity]int64)
			}
			t := secmon.EventType(typ)
			sum.Events += n
			sum.ByType[t] += n
			sum.BySeverity[secmon.Severity(sev)] += n
			switch t {
			case secmon.EventUploadBlocked:
				sum.ThreatsBlocked += n
				fallthrough
			case secmon.EventUploadAccepted:
				sum.Uploads += n
				uploadUS += durUS
				uploadsTimed += timed
			case secmon.EventLoginFailure:
				sum.LoginFailures += n
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return br.QueryRow().Scan(&sum.AlertsOpened)
	})
	if err != nil {
		return secmon.Summary{From: from, To: to}, err
	}
	if uploadsTimed > 0 {
		sum.AvgValidation = time.Duration(uploadUS/uploadsTimed)*time.Microsecond +
			time.Duration(uploadUS%uploadsTimed)*time.Microsecond/time.Duration(uploadsTimed)
	}
	return sum, nil
}

// Hourly returns one bucket per hour in [from, to), oldest first: buckets
// start at from truncated to the hour in UTC and run while their start is
// before to; only events in [from, to) are counted. Empty hours come from
// generate_series. The hours wholly inside [from, to) are summed from the
// hourly rollup (events_hourly), the partial hours at either end counted
// from the events, so the figures are those of the events. More than
// secmon.MaxQueryLimit buckets is an error matching secmon.ErrInvalid.
func (s *Store) Hourly(ctx context.Context, from, to time.Time) ([]secmon.HourBucket, error) {
	const op = "hourly"
	if err := canceled(ctx, op); err != nil {
		return nil, err
	}
	if to.Before(from) {
		return nil, invalid("to", "is before from")
	}
	first := from.UTC().Truncate(time.Hour)
	n := int64((to.Sub(first) + time.Hour - 1) / time.Hour)
	if !to.After(from) {
		n = 0
	}
	if n > secmon.MaxQueryLimit {
		return nil, invalid("to", "is more than MaxQueryLimit hours after from")
	}
	if n == 0 {
		return nil, nil
	}
	last := first.Add(time.Duration(n-1) * time.Hour)
	lo, hi := rollupSpan(from, to, !s.opts.RawReports)
	out := make([]secmon.HourBucket, 0, n)
	err := s.run(ctx, op, func(ctx context.Context) error {
		// Each hour comes from one of the three parts: the partial first
		// hour [from, lo) and last hour [hi, to) from the events, the whole
		// hours [lo, hi) from the rollup. The statement is planned for its
		// values every time (see customPlan).
		rows, err := s.pool.Query(ctx, `SELECT g.h, coalesce(e.events, 0), coalesce(e.lf, 0), coalesce(e.blocked, 0), coalesce(e.high, 0)
FROM generate_series($3::timestamptz, $4::timestamptz, interval '1 hour') AS g(h)
LEFT JOIN (
  SELECT date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00') AS h,
    count(*) AS events,
    count(*) FILTER (WHERE type = 'login_failure') AS lf,
    count(*) FILTER (WHERE type = 'upload_blocked') AS blocked,
    count(*) FILTER (WHERE severity >= 3) AS high
  FROM `+s.events+` WHERE created_at >= $1 AND created_at < $5 GROUP BY 1
  UNION ALL
  SELECT hour,
    sum(n)::bigint,
    coalesce(sum(n) FILTER (WHERE type = 'login_failure'), 0)::bigint,
    coalesce(sum(n) FILTER (WHERE type = 'upload_blocked'), 0)::bigint,
    coalesce(sum(n) FILTER (WHERE severity >= 3), 0)::bigint
  FROM `+s.hourly+` WHERE hour >= $5 AND hour < $6 GROUP BY 1
  UNION ALL
  SELECT date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00'),
    count(*),
    count(*) FILTER (WHERE type = 'login_failure'),
    count(*) FILTER (WHERE type = 'upload_blocked'),
    count(*) FILTER (WHERE severity >= 3)
  FROM `+s.events+` WHERE created_at >= $6 AND created_at < $2 GROUP BY 1
) AS e ON e.h = g.h
ORDER BY g.h`, customPlan, from, to, first, last, lo, hi)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b secmon.HourBucket
			if err := rows.Scan(&b.Start, &b.Events, &b.LoginFailures, &b.UploadsBlocked, &b.HighSeverity); err != nil {
				return err
			}
			b.Start = b.Start.UTC()
			out = append(out, b)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
