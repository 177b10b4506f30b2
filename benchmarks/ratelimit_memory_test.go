package benchmarks

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	golimiter "github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	throttledmem "github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/secmon-go/secmon/ratelimit"
)

// Every limiter gets the same policy: 20 requests per minute per key, burst
// 20, and room for at least 2^20 keys.
const (
	rlLimit   = 20
	rlPeriod  = time.Minute
	rlMaxKeys = 1 << 20
)

// rlSubject is one limiter under test: allow reports whether one request for
// key may proceed; close releases what the limiter owns.
type rlSubject struct {
	allow func(ctx context.Context, key string) bool
	close func()
}

// rlSubjectDef names a limiter and builds a fresh one.
type rlSubjectDef struct {
	name string
	make func(testing.TB) rlSubject
}

var rlSubjects = []rlSubjectDef{
	{"secmon", func(tb testing.TB) rlSubject {
		m, err := ratelimit.NewMemory(ratelimit.MemoryConfig{
			Policy:  ratelimit.Policy{Limit: rlLimit, Period: rlPeriod},
			MaxKeys: rlMaxKeys,
		})
		if err != nil {
			tb.Fatal(err)
		}
		return rlSubject{
			allow: func(ctx context.Context, key string) bool { d, _ := m.Allow(ctx, key); return d.Allowed },
			close: func() {},
		}
	}},
	{"go-limiter", func(tb testing.TB) rlSubject {
		s, err := golimiter.New(&golimiter.Config{Tokens: rlLimit, Interval: rlPeriod})
		if err != nil {
			tb.Fatal(err)
		}
		return rlSubject{
			allow: func(ctx context.Context, key string) bool { _, _, _, ok, _ := s.Take(ctx, key); return ok },
			close: func() { _ = s.Close(context.Background()) },
		}
	}},
	{"ulule", func(tb testing.TB) rlSubject {
		l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: rlPeriod, Limit: rlLimit})
		return rlSubject{
			allow: func(ctx context.Context, key string) bool { c, _ := l.Get(ctx, key); return !c.Reached },
			close: func() {},
		}
	}},
	{"throttled", func(tb testing.TB) rlSubject {
		st, err := throttledmem.NewCtx(rlMaxKeys)
		if err != nil {
			tb.Fatal(err)
		}
		rl, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerMin(rlLimit), MaxBurst: rlLimit - 1})
		if err != nil {
			tb.Fatal(err)
		}
		return rlSubject{
			allow: func(ctx context.Context, key string) bool {
				limited, _, _ := rl.RateLimitCtx(ctx, key, 1)
				return !limited
			},
			close: func() {},
		}
	}},
}

func rlKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkRateLimitHotKey: one goroutine, one key.
func BenchmarkRateLimitHotKey(b *testing.B) {
	for _, s := range rlSubjects {
		b.Run(s.name, func(b *testing.B) {
			l := s.make(b)
			defer l.close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				l.allow(ctx, "user:42")
			}
		})
	}
}

// warmLimiter returns a new limiter of subject s that has seen every key once,
// with the garbage of filling it collected.
func warmLimiter(b *testing.B, s rlSubjectDef, keys []string) rlSubject {
	b.Helper()
	l := s.make(b)
	ctx := context.Background()
	for _, k := range keys {
		l.allow(ctx, k)
	}
	runtime.GC()
	return l
}

// BenchmarkRateLimitKeys100k: one goroutine, 100,000 keys in turn.
func BenchmarkRateLimitKeys100k(b *testing.B) {
	keys := rlKeys(100_000)
	for _, s := range rlSubjects {
		b.Run(s.name, func(b *testing.B) {
			l := warmLimiter(b, s, keys)
			defer l.close()
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				l.allow(ctx, keys[i])
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkRateLimitParallel: GOMAXPROCS goroutines, each walking the
// 100,000 keys from its own starting point.
func BenchmarkRateLimitParallel(b *testing.B) {
	keys := rlKeys(100_000)
	for _, s := range rlSubjects {
		b.Run(s.name, func(b *testing.B) {
			l := warmLimiter(b, s, keys)
			defer l.close()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			var start atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(start.Add(7919)) % len(keys) // spread the goroutines' starting points
				for pb.Next() {
					l.allow(ctx, keys[i])
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
		})
	}
}

// settleHeap collects garbage until limiters closed earlier have let go of
// their state: some peers stop a cleanup goroutine asynchronously, and until
// it exits the goroutine keeps the old map reachable.
func settleHeap() {
	for range 3 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkRateLimitBytesPerKey reports the heap each limiter holds per key
// after one request for each of 1,000,000 distinct keys (runtime.MemStats,
// after GC). Keys are built inside the loop, so their bytes count only when
// the limiter keeps them.
func BenchmarkRateLimitBytesPerKey(b *testing.B) {
	const n = 1_000_000
	for _, s := range rlSubjects {
		b.Run(s.name, func(b *testing.B) {
			ctx := context.Background()
			var perKey float64
			for b.Loop() {
				var before, after runtime.MemStats
				settleHeap() // the previous subject's cleanup goroutine may still hold its map
				runtime.ReadMemStats(&before)
				l := s.make(b)
				for i := range n {
					l.allow(ctx, "user:"+strconv.Itoa(i))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
				l.close()
				runtime.KeepAlive(l)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}
