package dashboard_test

// Benchmarks of the Overview over 1,000,000 events and of the live stream
// serving 100 browsers. The Overview benchmarks over PostgreSQL skip
// without SECMON_TEST_DATABASE_URL; -short shrinks the log to 100,000
// events. Figures and the command: benchmarks/results/dashboard.md.
//
//	go test -run '^$' -bench . -benchtime 20x ./dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/store/pgstore"
)

// benchNow is the end of the benchmark logs: an afternoon, so "today"
// holds most of a day.
var benchNow = time.Date(2026, 3, 3, 15, 40, 0, 0, time.UTC)

var benchTypes = []secmon.EventType{
	secmon.EventPageView, secmon.EventPageView, secmon.EventPageView, secmon.EventLoginSuccess, secmon.EventLoginSuccess,
	secmon.EventLoginFailure, secmon.EventUploadAccepted, secmon.EventRateLimited, secmon.EventAccessDenied, secmon.EventUploadBlocked,
}

// benchLog returns the i-th of n events spread evenly over span ending at
// benchNow: a mix of sign-ins, page views, uploads and failures from
// 65,536 addresses by 20,000 users, plus, for the last 5% of the rows, a
// credential-stuffing burst from one address in the last three hours.
func benchLog(i, n int, span time.Duration) secmon.Event {
	h := uint32(i) * 2654435761
	e := secmon.Event{
		ID: secmon.NewID(), Type: benchTypes[h%uint32(len(benchTypes))], Severity: secmon.Severity(h >> 8 % 4),
		UserID: fmt.Sprintf("user-%d", h>>4%20000), IP: netip.AddrFrom4([4]byte{10, 1, byte(h >> 12), byte(h >> 20)}),
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		Metadata:  map[string]string{"route": "/app/reports"},
	}
	attackFrom := n - n/20
	if i >= attackFrom {
		k := i - attackFrom
		e.Time = benchNow.Add(-3*time.Hour + time.Duration(k)*(3*time.Hour/time.Duration(n/20+1)))
		e.Type, e.Severity, e.IP, e.UserID = secmon.EventLoginFailure, secmon.SeverityLow, netip.AddrFrom4([4]byte{203, 0, 113, 66}), fmt.Sprintf("victim-%d", k%500)
		return e
	}
	e.Time = benchNow.Add(-span + time.Duration(i)*(span/time.Duration(attackFrom)))
	return e
}

// fillBench writes n events over span into s, and 200 alerts (40 open).
func fillBench(b *testing.B, s secmon.Store, n int, span time.Duration) {
	b.Helper()
	ctx := context.Background()
	batch := make([]secmon.Event, 0, 10000)
	for i := 0; i < n; i++ {
		batch = append(batch, benchLog(i, n, span))
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.InsertEvents(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	var alerts []secmon.Alert
	for i := 0; i < 200; i++ {
		t := benchNow.Add(-time.Duration(i) * 17 * time.Minute)
		alerts = append(alerts, secmon.Alert{ID: secmon.NewID(), Rule: secmon.RuleName([]string{"brute_force_ip", "credential_stuffing", "new_device", "upload_attack"}[i%4]),
			Subject: fmt.Sprintf("ip:10.9.%d.%d/32", i/250, i%250), Severity: secmon.Severity(1 + i%4), Count: int64(1 + i%9), FirstSeen: t, LastSeen: t,
			Summary: "benchmark alert", Evidence: map[string]string{"failures": "12"}})
	}
	if err := s.UpsertAlerts(ctx, alerts); err != nil {
		b.Fatal(err)
	}
	for _, a := range alerts[40:] {
		if err := s.SetAlertStatus(ctx, a.ID, secmon.AlertResolved); err != nil {
			b.Fatal(err)
		}
	}
}

// staticStats stands in for a Monitor's health.
type staticStats struct{}

func (staticStats) Stats() secmon.Stats {
	return secmon.Stats{EventsAccepted: 1e6, EventsWritten: 1e6, LastFlushLatency: 3 * time.Millisecond}
}

// benchOverview times GET / of a read-only dashboard over s.
func benchOverview(b *testing.B, s dashboard.Store) {
	b.Helper()
	h, err := dashboard.New(dashboard.Config{
		Authorize: testAuthorize, Store: s, ReadOnly: true, Stats: staticStats{}, Clock: secmontest.NewClock(benchNow),
	})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(hdrUser, "bench")
	req.Header.Set(hdrRole, "viewer")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), ">203.0.113.66</a>") || strings.Contains(w.Body.String(), `class="err"`) {
			b.Fatalf("overview: %d, or a section failed", w.Code)
		}
	}
}

// layouts are where the log's events fall: over a month of retention
// (the usual case), or all in the last day (an attack-sized day).
var layouts = []struct {
	name string
	span time.Duration
}{{"month", 30 * 24 * time.Hour}, {"day", 24 * time.Hour}}

func benchRows() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

// BenchmarkOverviewPostgres renders the Overview over pgstore holding
// 1,000,000 events: today's summary, the 24 hourly buckets, the top
// sources and accounts, recent and open alerts, read concurrently, then
// the page. reads=rollups is the Store as configured by default, which
// answers the chart and the ranking from the hourly rollups; reads=events
// is the same log read by a Store with RawReports set, which computes
// every figure from the events (the baseline).
func BenchmarkOverviewPostgres(b *testing.B) {
	pool := sqlschematest.Pool(b)
	n := benchRows()
	for _, l := range layouts {
		b.Run(fmt.Sprintf("events=%d/over=%s", n, l.name), func(b *testing.B) {
			s, err := pgstore.New(pool, pgstore.Config{Schema: sqlschematest.NewSchema(b, pool), StatementTimeout: 10 * time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			first := benchNow.Add(-l.span - 24*time.Hour).Truncate(24 * time.Hour)
			if _, err := pool.Exec(context.Background(), `SELECT `+pgx.Identifier{s.Schema(), "ensure_event_partitions"}.Sanitize()+`($1::date, $2)`,
				first.Format(time.DateOnly), int(l.span/(24*time.Hour))+3); err != nil {
				b.Fatal(err)
			}
			fillBench(b, s, n, l.span)
			for _, table := range []string{"security_events", "events_hourly", "event_pairs_hourly"} {
				if _, err := pool.Exec(context.Background(), `VACUUM (ANALYZE) `+pgx.Identifier{s.Schema(), table}.Sanitize()); err != nil {
					b.Fatal(err)
				}
			}
			raw, err := pgstore.New(pool, pgstore.Config{Schema: s.Schema(), StatementTimeout: 10 * time.Minute, RawReports: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Run("reads=rollups", func(b *testing.B) { benchOverview(b, s) })
			b.Run("reads=events", func(b *testing.B) { benchOverview(b, raw) })
		})
	}
}

// BenchmarkOverviewMemory is the same page over memstore holding the same
// log.
func BenchmarkOverviewMemory(b *testing.B) {
	n := benchRows()
	for _, l := range layouts {
		b.Run(fmt.Sprintf("events=%d/over=%s", n, l.name), func(b *testing.B) {
			s := memstore.New()
			fillBench(b, s, n, l.span)
			benchOverview(b, s)
		})
	}
}

// BenchmarkLiveFanout times one alert reaching every one of 100 connected
// browsers, from the store's announcement to the last browser reading it.
// "hub" is the dashboard's stream, one subscription shared by every
// browser; "per_connection" is the baseline a hand-written SSE handler
// makes (as examples/httpserver's JSON stream does): one subscription per
// browser.
func BenchmarkLiveFanout(b *testing.B) {
	const browsers = 100
	for _, mode := range []string{"hub", "per_connection"} {
		b.Run(fmt.Sprintf("%s/browsers=%d", mode, browsers), func(b *testing.B) {
			store := memstore.New()
			var h http.Handler
			if mode == "hub" {
				d, err := dashboard.New(dashboard.Config{Authorize: testAuthorize, Store: store, ReadOnly: true, LiveInterval: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				defer d.(io.Closer).Close()
				h = d
			} else {
				h = perConnectionStream(store)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			var got atomic.Int64
			want := make(chan struct{}, 1)
			var round atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			ready := make(chan struct{}, browsers)
			for range browsers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/stream", nil)
					req.Header.Set(hdrUser, "bench")
					req.Header.Set(hdrRole, "viewer")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						ready <- struct{}{}
						return
					}
					defer resp.Body.Close()
					ready <- struct{}{}
					r := bufio.NewReader(resp.Body)
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if !strings.HasPrefix(line, "data: ") || !strings.Contains(line, `"rule":"bench"`) {
							continue
						}
						var a struct{ Subject string }
						if json.Unmarshal([]byte(line[6:]), &a) == nil && a.Subject == fmt.Sprintf("user:r%d", round.Load()) {
							if got.Add(1) == browsers {
								want <- struct{}{}
							}
						}
					}
				}()
			}
			for range browsers {
				<-ready
			}
			// Until every browser's subscription is in place, announce a
			// warm-up alert.
			for i := 0; ; i++ {
				round.Store(int64(-1 - i))
				got.Store(0)
				upsertBench(b, store, round.Load())
				select {
				case <-want:
				case <-time.After(200 * time.Millisecond):
					continue
				}
				break
			}
			b.ReportAllocs()
			i := int64(0)
			for b.Loop() {
				i++
				round.Store(i)
				got.Store(0)
				upsertBench(b, store, i)
				<-want
			}
			cancel()
			srv.CloseClientConnections()
			wg.Wait()
		})
	}
}

func upsertBench(b *testing.B, s *memstore.Store, i int64) {
	if err := s.UpsertAlerts(context.Background(), []secmon.Alert{{Rule: "bench", Subject: fmt.Sprintf("user:r%d", i),
		Severity: secmon.SeverityHigh, LastSeen: time.Now(), Summary: "fan-out"}}); err != nil {
		b.Fatal(err)
	}
}

// perConnectionStream is the baseline: every browser runs its own
// SubscribeAlerts.
func perConnectionStream(src secmon.AlertSubscriber) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fl.Flush()
		ch := make(chan secmon.Alert, 64)
		go func() {
			_ = src.SubscribeAlerts(r.Context(), func(a secmon.Alert) {
				select {
				case ch <- a:
				default:
				}
			})
		}()
		for {
			select {
			case <-r.Context().Done():
				return
			case a := <-ch:
				data, _ := json.Marshal(map[string]any{"id": a.ID.String(), "rule": a.Rule, "subject": a.Subject, "severity": a.Severity.String(),
					"status": a.Status, "count": a.Count, "summary": a.Summary})
				if _, err := fmt.Fprintf(w, "event: alert\ndata: %s\n\n", data); err != nil {
					return
				}
				fl.Flush()
			}
		}
	})
}
