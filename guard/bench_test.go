package guard_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/internal/guardbench"
	"github.com/secmon-go/secmon/store/memstore"
)

// benchList returns an n-line list shaped like the published ones (see
// guardbench.List) under a comment line.
func benchList(n int, seed uint64) []byte {
	return append([]byte("# generated list\n"), guardbench.List(n, seed)...)
}

// benchGuard returns a guard holding a 100,000-line list and 10,000 blocks
// (IPv4 and IPv6 addresses, guardbench.Blocked), and the addresses the
// blocks are on.
func benchGuard(b *testing.B) (*guard.Guard, []netip.Addr) {
	b.Helper()
	g, err := guard.New(guard.Config{Store: memstore.New(), MaxBlocks: 20_000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Close(context.Background()) })
	if _, err := g.LoadList(guard.ListConfig{Name: "bench"}, bytes.NewReader(benchList(100_000, 1))); err != nil {
		b.Fatal(err)
	}
	blocked := guardbench.Blocked()
	for _, a := range blocked {
		if _, err := g.Block(context.Background(), secmon.Block{Prefix: netip.PrefixFrom(a, a.BitLen()), Until: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	return g, blocked
}

// BenchmarkCheck: Check with 100,000 list prefixes and 10,000 blocks held,
// on a mix of client addresses (1 in 16 blocked) and on blocked ones.
func BenchmarkCheck(b *testing.B) {
	g, blocked := benchGuard(b)
	for _, c := range []struct {
		name     string
		hitEvery int
	}{{"mixed", 16}, {"blocked", 1}} {
		addrs := guardbench.Probes(blocked, c.hitEvery)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				if _, ok := g.Check(addrs[i&4095], ""); ok {
					n++
				}
			}
			runtime.KeepAlive(n)
		})
	}
	b.Run("parallel", func(b *testing.B) {
		addrs := guardbench.Probes(blocked, 16)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(4096)
			for pb.Next() {
				g.Check(addrs[i&4095], "")
				i++
			}
		})
	})
	b.Run("user", func(b *testing.B) {
		if _, err := g.Block(context.Background(), secmon.Block{UserID: "mallory"}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			g.Check(netip.Addr{}, "Alice.Example")
		}
	})
}

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkMiddleware: a passed request through the middleware (client
// address from X-Forwarded-For behind a trusted proxy, then Check) beside
// the same handler called directly; the difference is the middleware's
// cost.
func BenchmarkMiddleware(b *testing.B) {
	g, _ := benchGuard(b)
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.2:40000"
	r.Header.Set("X-Forwarded-For", "198.18.7.9")
	w := &nopWriter{h: http.Header{}}
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"secmon", g.Middleware(guard.MiddlewareConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})(next)},
		{"baseline-no-middleware", next},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkListLoad: reading a 100,000-line list and swapping it into a
// guard that holds 10,000 blocks; B/prefix is the heap the loaded list
// keeps, per prefix.
func BenchmarkListLoad(b *testing.B) {
	g, _ := benchGuard(b) // already holds the "bench" list
	list := benchList(100_000, 9)
	prefixes := 0
	for b.Loop() {
		st, err := g.LoadList(guard.ListConfig{Name: "bench"}, bytes.NewReader(list))
		if err != nil || st.Prefixes < 90_000 {
			b.Fatalf("%+v %v", st, err)
		}
		prefixes = st.Prefixes
	}
	b.StopTimer()
	// The heap the list holds: with it swapped in, then removed.
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	g.RemoveList("bench")
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/float64(prefixes), "B/prefix")
}

// BenchmarkPropagation: the time from a block decided on one guard to its
// enforcement on another sharing the store (here a memstore in one
// process; the PostgreSQL figure is BenchmarkPropagationPostgres),
// reported as p50 and p99 over 1,000 blocks per run.
func BenchmarkPropagation(b *testing.B) {
	store := memstore.New()
	propagation(b, store, store)
}

func propagation(b *testing.B, sa, sb secmon.BlockStore) {
	a, err := guard.New(guard.Config{Store: sa})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	g, err := guard.New(guard.Config{Store: sb})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	if err := g.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	// Wait until g's subscription listens (it resyncs when it starts).
	for g.Stats().Resyncs < 2 {
		time.Sleep(time.Millisecond)
	}
	var lat []time.Duration
	n := 0
	for b.Loop() {
		for range 1000 {
			n++
			ip := netip.AddrFrom4([4]byte{100, 64, byte(n >> 8), byte(n)})
			start := time.Now()
			if _, err := a.Block(ctx, secmon.Block{Prefix: netip.PrefixFrom(ip, 32), Until: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			d, ok := waitEnforced(g, ip, start)
			if !ok {
				b.Fatalf("block %d not enforced on the other guard after 10s", n)
			}
			lat = append(lat, d)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkFindingToBlock: the time from a finding handed to the guard
// (as the Monitor hands it, from Log's goroutine) to the block being
// enforced by Check on the same instance, as p50 and p99 over 1,000
// findings per run.
func BenchmarkFindingToBlock(b *testing.B) {
	g, err := guard.New(guard.Config{Store: memstore.New()})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close(context.Background())
	var lat []time.Duration
	n := 0
	for b.Loop() {
		for range 1000 {
			n++
			ip := netip.AddrFrom4([4]byte{100, 65, byte(n >> 8), byte(n)})
			grp := secmon.IPGroup(ip)
			f := secmon.Finding{Rule: "brute_force_ip", Subject: "ip:" + grp.String(), Severity: secmon.SeverityHigh,
				Summary: "5 failed logins", Action: secmon.Action{Kind: secmon.ActionBlock, Duration: 15 * time.Minute},
				Sources: []secmon.Source{{Group: grp, Count: 5}}}
			start := time.Now()
			g.HandleFinding(f)
			d, ok := waitEnforced(g, ip, start)
			if !ok {
				b.Fatal("a finding was not enforced within 10s")
			}
			lat = append(lat, d)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "p99-µs")
}

// waitEnforced spins until g refuses ip and returns the time since start,
// or false once that is more than 10s.
func waitEnforced(g *guard.Guard, ip netip.Addr, start time.Time) (time.Duration, bool) {
	for {
		if _, ok := g.Check(ip, ""); ok {
			return time.Since(start), true
		}
		if time.Since(start) > 10*time.Second {
			return 0, false
		}
		runtime.Gosched()
	}
}
