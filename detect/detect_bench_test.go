package detect

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/testenv"
)

// benchEvents is a login_failure-heavy mix: failures from 1,000 IPv4
// addresses and 1,000 IPv6 /64s against 5,000 accounts, with successful
// logins, page views in sessions and the odd export or upload.
func benchEvents(n int) []secmon.Event {
	out := make([]secmon.Event, n)
	for i := range out {
		var ip netip.Addr
		if i%2 == 0 {
			ip = netip.AddrFrom4([4]byte{198, 51, byte(i / 7 % 4), byte(i / 3 % 250)})
		} else {
			ip = netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::%x", i%1000, i))
		}
		e := secmon.Event{
			Time:   t0.Add(time.Duration(i) * 50 * time.Millisecond),
			Type:   secmon.EventLoginFailure,
			IP:     ip,
			UserID: fmt.Sprint("user", i%5000),
		}
		switch i % 10 {
		case 7:
			e.Type = secmon.EventLoginSuccess
			e.Geo = secmon.Geo{Country: "NL", Latitude: 52.37, Longitude: 4.9, AccuracyKM: 20}
			e.Fingerprint = fmt.Sprint("fp", i%3)
			e.SessionID = fmt.Sprint("s", i%2000)
			e.UserAgent = "Mozilla/5.0"
		case 8:
			e.Type = secmon.EventPageView
			e.SessionID = fmt.Sprint("s", i%2000)
			e.UserAgent = "Mozilla/5.0"
		case 9:
			e.Type = [...]secmon.EventType{secmon.EventExport, secmon.EventUploadBlocked, secmon.EventAccessDenied, secmon.EventRateLimited}[i/10%4]
		}
		out[i] = e
	}
	return out
}

// BenchmarkObserve runs every built-in rule with in-memory counters. The
// package has no database access at all: db_calls/op is 0 by construction
// (detect imports no database driver and takes no Store).
func BenchmarkObserve(b *testing.B) {
	events := benchEvents(1 << 16)
	e := newEngine(b, Config{})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	start := cpuTime()
	for b.Loop() {
		ev := events[i&(len(events)-1)]
		ev.Time = t0.Add(time.Duration(i) * 50 * time.Millisecond)
		if _, err := e.Observe(ctx, ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(i), "cpu-ns/op")
	b.ReportMetric(0, "db_calls/op")
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// measures the work per op better than wall time, which includes waiting
// for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkObserveParallel is BenchmarkObserve from GOMAXPROCS goroutines.
func BenchmarkObserveParallel(b *testing.B) {
	events := benchEvents(1 << 16)
	e := newEngine(b, Config{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := e.Observe(ctx, events[i&(len(events)-1)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkObserveLoginFailure is the worst common case: every event is a
// login failure touching four counters.
func BenchmarkObserveLoginFailure(b *testing.B) {
	events := benchEvents(1 << 16)
	e := newEngine(b, Config{})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	start := cpuTime()
	for b.Loop() {
		ev := events[i&(len(events)-1)]
		ev.Type = secmon.EventLoginFailure
		ev.Time = t0.Add(time.Duration(i) * 50 * time.Millisecond)
		if _, err := e.Observe(ctx, ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(i), "cpu-ns/op")
}

// BenchmarkMemoryPerKey fills MemoryCounters with 100,000 keys and reports
// the heap bytes each holds: count keys ("bf_ip:" + an IPv6 /64, as the
// rules write them) and distinct keys with 10 members.
func BenchmarkMemoryPerKey(b *testing.B) {
	const keys = 100_000
	for _, kind := range []string{"count", "distinct10"} {
		b.Run(kind, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				b.StopTimer()
				before := heapInUse()
				c := newMemory(b, MemoryCountersConfig{MaxKeys: 2 * keys}) // room to spare: no evictions
				b.StartTimer()
				ops := make([]Op, 1)
				for k := range keys {
					key := fmt.Sprintf("bf_ip:2001:db8:%x:%x::/64", k>>16, k&0xffff)
					if kind == "count" {
						ops[0] = CountOp("t", key, 5*time.Minute)
						_ = c.Do(context.Background(), t0, ops)
						continue
					}
					for m := range 10 {
						ops[0] = DistinctOp("t", key, fmt.Sprint("user", m), 10*time.Minute)
						_ = c.Do(context.Background(), t0, ops)
					}
				}
				b.StopTimer()
				perKey = float64(heapInUse()-before) / keys
				if c.Len() != keys {
					b.Fatalf("Len %d", c.Len())
				}
				runtime.KeepAlive(c)
				b.StartTimer()
			}
			b.ReportMetric(perKey, "bytes/key")
		})
	}
}

// BenchmarkBaselineSQLCount is the design this package replaces, measured
// against the real PostgreSQL: each failed login is inserted and then
// counted by IP and by user with two indexed COUNT queries (the audited
// detectBruteForce), three database calls per event against detect's zero.
func BenchmarkBaselineSQLCount(b *testing.B) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.DatabaseURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	schema := "detect_bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	for _, q := range []string{
		"CREATE SCHEMA " + schema,
		"CREATE TABLE " + schema + ".events (type text NOT NULL, ip inet, user_id text, created_at timestamptz NOT NULL)",
		"CREATE INDEX ON " + schema + ".events (type, ip, created_at)",
		"CREATE INDEX ON " + schema + ".events (type, user_id, created_at)",
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	events := benchEvents(1 << 12)
	var calls int64
	i := 0
	for b.Loop() {
		ev := events[i&(len(events)-1)]
		ev.Time = t0.Add(time.Duration(i) * 50 * time.Millisecond)
		i++
		if _, err := pool.Exec(ctx, "INSERT INTO "+schema+".events VALUES ($1, $2, $3, $4)", string(ev.Type), ev.IP.String(), ev.UserID, ev.Time); err != nil {
			b.Fatal(err)
		}
		var byIP, byUser int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".events WHERE type = 'login_failure' AND ip = $1 AND created_at >= $2",
			ev.IP.String(), ev.Time.Add(-5*time.Minute)).Scan(&byIP); err != nil {
			b.Fatal(err)
		}
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".events WHERE type = 'login_failure' AND user_id = $1 AND created_at >= $2",
			ev.UserID, ev.Time.Add(-15*time.Minute)).Scan(&byUser); err != nil {
			b.Fatal(err)
		}
		calls += 3
	}
	b.ReportMetric(float64(calls)/float64(i), "db_calls/op")
}
