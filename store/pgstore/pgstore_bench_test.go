package pgstore_test

// Benchmarks against the real server (skipped without
// SECMON_TEST_DATABASE_URL). Each builds its data in a schema of its own.
// The purge and summary benchmarks build large tables once per run; use
// -short to shrink them and -benchtime=1x for the purge ones, which rebuild
// their day for every iteration:
//
//	go test -run '^$' -bench . -benchtime=1x -short ./store/pgstore

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
)

// benchStore returns a store on a schema of its own whose partitions cover
// the days around now, so rows go where production rows go.
func benchStore(b *testing.B, pool *pgxpool.Pool, now time.Time) *pgstore.Store {
	b.Helper()
	s, err := pgstore.New(pool, pgstore.Config{Schema: sqlschematest.NewSchema(b, pool), StatementTimeout: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Maintain(b.Context(), now, secmon.RetentionPolicy{Events: -1}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchEvents returns n realistic events, one microsecond apart, continuing
// the sequence seq.
func benchEvents(n int, start time.Time, seq *int) []secmon.Event {
	evs := make([]secmon.Event, n)
	for i := range evs {
		*seq++
		k := *seq
		evs[i] = secmon.Event{
			ID: secmon.NewID(), Time: start.Add(time.Duration(k) * time.Microsecond), Type: secmon.EventLoginFailure,
			Severity: secmon.SeverityMedium, UserID: fmt.Sprintf("user-%d", k%5000), SessionID: fmt.Sprintf("sess-%d", k%20000),
			IP:        netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
			Duration:  1200 * time.Microsecond,
			Metadata:  map[string]string{"reason": "bad_password", "method": "password"},
		}
	}
	return evs
}

// mixedTypes is the dashboard benchmark's mix: 4 of 10 are failures.
var mixedTypes = []secmon.EventType{
	secmon.EventPageView, secmon.EventPageView, secmon.EventPageView, secmon.EventLoginSuccess, secmon.EventLoginSuccess,
	secmon.EventLoginFailure, secmon.EventUploadAccepted, secmon.EventRateLimited, secmon.EventAccessDenied, secmon.EventUploadBlocked,
}

// insertOneByOne is the audited design: one INSERT statement per event.
func insertOneByOne(b *testing.B, pool *pgxpool.Pool, schema string, evs []secmon.Event) {
	sql := `INSERT INTO ` + pgx.Identifier{schema, "security_events"}.Sanitize() + ` (id, created_at, type, severity,
 user_id, session_id, ip, user_agent, duration_us, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	for _, e := range evs {
		if _, err := pool.Exec(b.Context(), sql, [16]byte(e.ID), e.Time, string(e.Type), int16(e.Severity), e.UserID,
			e.SessionID, e.IP, e.UserAgent, e.Duration.Microseconds(), e.Metadata); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertEvents compares the Store's COPY path (batches of 1,000
// and 10,000), the staging path a retried batch takes, and one INSERT per
// event, into security_events with its production indexes.
func BenchmarkInsertEvents(b *testing.B) {
	pool := sqlschematest.Pool(b)
	now := time.Now().UTC()
	start := now.Truncate(24 * time.Hour)
	// Every event is a failure from an address of its own: each adds a
	// row to the pair rollup, its worst case. mixed is the dashboard
	// benchmark's mix of types (40% failures). The no_rollups cases are the
	// same writes without the rollups (the baseline).
	cases := []struct {
		name      string
		batch     int
		staged    bool
		single    bool
		noRollups bool
		mixed     bool
	}{
		{"copy/batch=1000", 1000, false, false, false, false},
		{"copy/batch=1000/no_rollups", 1000, false, false, true, false},
		{"copy/batch=1000/mixed", 1000, false, false, false, true},
		{"copy/batch=1000/hourly_only", 1000, false, false, false, false},
		{"copy/batch=10000", 10000, false, false, false, false},
		{"copy/batch=10000/no_rollups", 10000, false, false, true, false},
		{"staged/batch=1000", 1000, true, false, false, false},
		{"staged/batch=1000/no_rollups", 1000, true, false, true, false},
		{"staged/batch=10000", 10000, true, false, false, false},
		{"insert_per_event/batch=1000", 1000, false, true, false, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b, pool, now)
			if strings.HasSuffix(c.name, "/hourly_only") { // no pair rollup
				var err error
				if s, err = pgstore.New(pool, pgstore.Config{Schema: s.Schema(), PairRollupTypes: []secmon.EventType{}}); err != nil {
					b.Fatal(err)
				}
			}
			if c.staged {
				pgstore.UseStagedInserts(s)
			}
			if c.noRollups {
				pgstore.SkipRollupWrites(s)
			}
			seq := 0
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				evs := benchEvents(c.batch, start, &seq)
				if c.mixed {
					for i := range evs {
						evs[i].Type = mixedTypes[(seq+i)%len(mixedTypes)]
					}
				}
				b.StartTimer()
				if c.single {
					insertOneByOne(b, pool, s.Schema(), evs)
				} else if err := s.InsertEvents(b.Context(), evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*c.batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	// A retried batch: every ID is already stored, so the COPY fails and the
	// staging path skips them all.
	b.Run("retried/batch=10000", func(b *testing.B) {
		s := benchStore(b, pool, now)
		seq := 0
		evs := benchEvents(10000, start, &seq)
		if err := s.InsertEvents(b.Context(), evs); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if err := s.InsertEvents(b.Context(), evs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "rows/s")
	})
}

// BenchmarkHeartbeatFlush upserts the beats of 10,000 live sessions in one
// call, as the Monitor's heartbeat flush does.
func BenchmarkHeartbeatFlush(b *testing.B) {
	pool := sqlschematest.Pool(b)
	s := benchStore(b, pool, time.Now())
	const sessions = 10000
	beats := make([]secmon.SessionBeat, sessions)
	at := time.Now().UTC().Add(-time.Hour)
	for i := range beats {
		beats[i] = secmon.SessionBeat{
			SessionID: fmt.Sprintf("session-%06d", i), UserID: fmt.Sprintf("user-%d", i%3000), OrgID: "org-1",
			IP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), UserAgent: "Mozilla/5.0 Firefox/140.0",
			Geo: secmon.Geo{Country: "DE", City: "Berlin", Latitude: 52.5, Longitude: 13.4, AccuracyKM: 20}, Time: at,
		}
	}
	if err := s.UpsertSessions(b.Context(), beats); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		at = at.Add(time.Minute)
		for i := range beats {
			beats[i].Time = at
		}
		if err := s.UpsertSessions(b.Context(), beats); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/flush")
}

// fillDay inserts n synthetic events spread over the UTC day of day with
// INSERT ... SELECT generate_series.
func fillDay(b *testing.B, pool *pgxpool.Pool, schema string, from time.Time, span time.Duration, n int) {
	b.Helper()
	_, err := pool.Exec(b.Context(), `INSERT INTO `+pgx.Identifier{schema, "security_events"}.Sanitize()+`
 (id, created_at, type, severity, user_id, ip, duration_us)
SELECT gen_random_uuid(), $1::timestamptz + (i * $2::bigint) * interval '1 microsecond',
 (ARRAY['login_success','login_failure','upload_accepted','upload_blocked','page_view','rate_limited'])[1 + i % 6],
 (i % 5)::smallint, 'user-' || (i % 20000), '10.0.0.0'::inet + (i % 65536), (i % 997) * 100
FROM generate_series(0, $3::bigint - 1) AS i`, from, (span / time.Duration(n)).Microseconds(), n)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPurgeDay removes one day of events (1M rows; 100k with -short)
// by dropping its partition, as Purge does, and with one DELETE, as a
// hand-written cleanup does. Each iteration rebuilds the day untimed; run
// with -benchtime=1x.
func BenchmarkPurgeDay(b *testing.B) {
	pool := sqlschematest.Pool(b)
	rows := 1_000_000
	if testing.Short() {
		rows = 100_000
	}
	day := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	b.Run(fmt.Sprintf("partition_drop/rows=%d", rows), func(b *testing.B) { benchPartitionDrop(b, pool, day, rows) })
	// Half the day expired: no partition to drop, Purge deletes the older
	// half in time slices.
	b.Run(fmt.Sprintf("partial_day_half/rows=%d", rows), func(b *testing.B) {
		s := benchStore(b, pool, day)
		for b.Loop() {
			b.StopTimer()
			fillDay(b, pool, s.Schema(), day, 24*time.Hour, rows)
			vacuum(b, pool, s.Schema())
			b.StartTimer()
			res, err := s.Purge(b.Context(), secmon.RetentionPolicy{Events: 24 * time.Hour, Sessions: -1, Activity: -1, Alerts: -1}, day.Add(36*time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			if res.Events != int64(rows/2) {
				b.Fatalf("Purge = %+v, want %d rows", res, rows/2)
			}
			b.StopTimer()
			if _, err := pool.Exec(b.Context(), `TRUNCATE `+pgx.Identifier{s.Schema(), "security_events"}.Sanitize()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/half-day")
	})
	// The same half day through the schema's SQL function, which runs in
	// one transaction and so clears it with one DELETE.
	b.Run(fmt.Sprintf("partial_day_half_sqlfunc/rows=%d", rows), func(b *testing.B) {
		s := benchStore(b, pool, day)
		fn := pgx.Identifier{s.Schema(), "cleanup_old_security_data"}.Sanitize()
		for b.Loop() {
			b.StopTimer()
			fillDay(b, pool, s.Schema(), day, 24*time.Hour, rows)
			vacuum(b, pool, s.Schema())
			b.StartTimer()
			var n int64
			if err := pool.QueryRow(b.Context(), `SELECT events_deleted FROM `+fn+`('1 day', NULL, NULL, NULL, $1)`, day.Add(36*time.Hour)).Scan(&n); err != nil {
				b.Fatal(err)
			}
			if n != int64(rows/2) {
				b.Fatalf("cleanup_old_security_data deleted %d events, want %d", n, rows/2)
			}
			b.StopTimer()
			if _, err := pool.Exec(b.Context(), `TRUNCATE `+pgx.Identifier{s.Schema(), "security_events"}.Sanitize()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/half-day")
	})
	b.Run(fmt.Sprintf("delete/rows=%d", rows), func(b *testing.B) {
		s := benchStore(b, pool, day)
		events := pgx.Identifier{s.Schema(), "security_events"}.Sanitize()
		for b.Loop() {
			b.StopTimer()
			fillDay(b, pool, s.Schema(), day, 24*time.Hour, rows)
			vacuum(b, pool, s.Schema())
			b.StartTimer()
			tag, err := pool.Exec(b.Context(), `DELETE FROM `+events+` WHERE created_at < $1`, day.Add(24*time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			if tag.RowsAffected() != int64(rows) {
				b.Fatalf("DELETE removed %d rows, want %d", tag.RowsAffected(), rows)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/day")
	})
}

// vacuum does what autovacuum does to a day-old partition before any
// purge or report meets it.
func vacuum(b *testing.B, pool *pgxpool.Pool, schema string) {
	b.Helper()
	if _, err := pool.Exec(b.Context(), `VACUUM (ANALYZE) `+pgx.Identifier{schema, "security_events"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
}

// benchPartitionDrop times Purge dropping a day's partition; each iteration
// rebuilds the day untimed.
func benchPartitionDrop(b *testing.B, pool *pgxpool.Pool, day time.Time, rows int) {
	b.Helper()
	s := benchStore(b, pool, day)
	for b.Loop() {
		b.StopTimer()
		if _, err := pool.Exec(b.Context(), `SELECT `+pgx.Identifier{s.Schema(), "ensure_event_partitions"}.Sanitize()+`($1::date, 1)`, day.Format(time.DateOnly)); err != nil {
			b.Fatal(err)
		}
		fillDay(b, pool, s.Schema(), day, 24*time.Hour, rows)
		vacuum(b, pool, s.Schema())
		b.StartTimer()
		res, err := s.Purge(b.Context(), secmon.RetentionPolicy{Events: 24 * time.Hour, Sessions: -1, Activity: -1, Alerts: -1}, day.Add(48*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if res.PartitionsDropped < 1 || res.Events != int64(rows) {
			b.Fatalf("Purge = %+v, want the day's partition and %d rows", res, rows)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/day")
}

// BenchmarkSummary computes the summary of one day out of 90 days holding
// 3M events (300k with -short), and the hourly breakdown of that day.
func BenchmarkSummary(b *testing.B) {
	pool := sqlschematest.Pool(b)
	rows := 3_000_000
	if testing.Short() {
		rows = 300_000
	}
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := pgstore.New(pool, pgstore.Config{Schema: sqlschematest.NewSchema(b, pool), StatementTimeout: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(b.Context(), `SELECT `+pgx.Identifier{s.Schema(), "ensure_event_partitions"}.Sanitize()+`($1::date, 90)`, first.Format(time.DateOnly)); err != nil {
		b.Fatal(err)
	}
	fillDay(b, pool, s.Schema(), first, 90*24*time.Hour, rows)
	vacuum(b, pool, s.Schema())
	from := first.AddDate(0, 0, 45)
	b.Run(fmt.Sprintf("day_of_90/rows=%d", rows), func(b *testing.B) {
		for b.Loop() {
			sum, err := s.Summary(b.Context(), from, from.Add(24*time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			if d := sum.Events - int64(rows/90); d < 0 || d > 1 {
				b.Fatalf("Summary counted %d events, want %d", sum.Events, rows/90)
			}
		}
	})
	b.Run(fmt.Sprintf("hourly_day_of_90/rows=%d", rows), func(b *testing.B) {
		for b.Loop() {
			h, err := s.Hourly(b.Context(), from, from.Add(24*time.Hour))
			if err != nil || len(h) != 24 {
				b.Fatalf("Hourly = %d buckets, %v", len(h), err)
			}
		}
	})
}
