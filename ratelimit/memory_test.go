package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/time/rate"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/limittest"
	"github.com/secmon-go/secmon/secmontest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newFakeClock returns a clock tests move by hand.
func newFakeClock() *secmontest.Clock {
	return secmontest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

func newMemory(t testing.TB, cfg MemoryConfig) *Memory {
	t.Helper()
	m, err := NewMemory(cfg)
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	return m
}

func TestMemoryBurstAndRefill(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, MemoryConfig{Policy: Activity, Clock: clk})
	for i := range 20 {
		d := limittest.MustAllow(t, m, "user:1")
		if !d.Allowed || d.Remaining != 19-i || d.Limit != 20 || d.Degraded != secmon.NotDegraded {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, 19-i)
		}
		if want := time.Duration(i+1) * 3 * time.Second; d.ResetAfter != want {
			t.Fatalf("request %d: ResetAfter %v, want %v", i+1, d.ResetAfter, want)
		}
	}
	d := limittest.MustAllow(t, m, "user:1")
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != 3*time.Second || d.ResetAfter != time.Minute {
		t.Fatalf("21st request: %+v, want denied, RetryAfter 3s, ResetAfter 1m", d)
	}
	if d := limittest.MustAllow(t, m, "user:2"); !d.Allowed {
		t.Fatalf("another key is limited too: %+v", d)
	}
	clk.Advance(3*time.Second - time.Nanosecond)
	if d := limittest.MustAllow(t, m, "user:1"); d.Allowed || d.RetryAfter != time.Nanosecond {
		t.Fatalf("just before refill: %+v", d)
	}
	clk.Advance(time.Nanosecond)
	if d := limittest.MustAllow(t, m, "user:1"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after one interval: %+v, want one allowed", d)
	}
	if d := limittest.MustAllow(t, m, "user:1"); d.Allowed {
		t.Fatalf("second request after one interval allowed: %+v", d)
	}
	clk.Advance(time.Hour)
	for i := range 20 {
		if d := limittest.MustAllow(t, m, "user:1"); !d.Allowed {
			t.Fatalf("after an hour, request %d denied: %+v", i+1, d)
		}
	}
}

func TestMemoryBurstSmallerThanLimit(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, MemoryConfig{Policy: Policy{Limit: 60, Period: time.Minute, Burst: 5}, Clock: clk})
	allowed := 0
	for range 10 {
		if limittest.MustAllow(t, m, "k").Allowed {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("allowed %d at once, want burst 5", allowed)
	}
	clk.Advance(2 * time.Second)
	allowed = 0
	for range 10 {
		if limittest.MustAllow(t, m, "k").Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("allowed %d after 2s at 1/s, want 2", allowed)
	}
}

// TestMemoryMatchesXTimeRate replays random traffic through Memory and
// golang.org/x/time/rate and expects identical decisions. Times are
// multiples of 1/64 s and the rate is 2/s so both do exact arithmetic.
func TestMemoryMatchesXTimeRate(t *testing.T) {
	t.Parallel()
	for _, burst := range []int{1, 3, 10} {
		t.Run("burst="+strconv.Itoa(burst), func(t *testing.T) {
			t.Parallel()
			p := Policy{Limit: 4, Period: 2 * time.Second, Burst: burst}
			m := newMemory(t, MemoryConfig{Policy: p})
			ref := map[string]*rate.Limiter{}
			rng := rand.New(rand.NewPCG(1, uint64(burst)))
			now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
			const tick = time.Second / 64
			for i := range 20000 {
				now = now.Add(time.Duration(rng.IntN(8)) * tick)
				key := "k" + strconv.Itoa(rng.IntN(5))
				lim := ref[key]
				if lim == nil {
					lim = rate.NewLimiter(rate.Limit(2), burst)
					ref[key] = lim
				}
				want := lim.AllowN(now, 1)
				d, err := m.AllowAt(key, now)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed != want {
					t.Fatalf("step %d key %s: Memory allowed=%v, x/time/rate %v", i, key, d.Allowed, want)
				}
				if tokens := int(lim.TokensAt(now)); d.Allowed && d.Remaining != tokens {
					t.Fatalf("step %d key %s: Remaining %d, x/time/rate has %d tokens", i, key, d.Remaining, tokens)
				}
			}
		})
	}
}

func TestMemoryConcurrentExactCount(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, MemoryConfig{Policy: Activity, Clock: clk})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 4 {
				if d, _ := m.Allow(context.Background(), "hot"); d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 20 {
		t.Fatalf("allowed %d of 128 concurrent requests, want 20", got)
	}
}

func TestMemoryIdleExpiry(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, MemoryConfig{Policy: Heartbeat, Clock: clk, Shards: 1, SweepInterval: 40 * time.Second})
	for i := range 100 {
		limittest.MustAllow(t, m, "idle:"+strconv.Itoa(i)) // one token used: full again in 30s
	}
	limittest.MustAllow(t, m, "busy")
	limittest.MustAllow(t, m, "busy") // two tokens used: full again in 60s
	if got := m.Stats().Keys; got != 101 {
		t.Fatalf("Keys = %d, want 101", got)
	}
	// The first call scheduled the next sweep 40s later.
	clk.Advance(35 * time.Second)
	limittest.MustAllow(t, m, "other")
	if got := m.Stats().Keys; got != 102 {
		t.Fatalf("swept before SweepInterval: Keys = %d, want 102", got)
	}
	clk.Advance(10 * time.Second)
	// This call sweeps: the idle keys go, busy stays with its state (one
	// token back after 45s; a fresh bucket would leave 1 remaining).
	if d := limittest.MustAllow(t, m, "busy"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("busy after 45s: %+v, want allowed with 0 remaining", d)
	}
	st := m.Stats()
	if st.Keys != 2 || st.Evicted != 100 {
		t.Fatalf("after sweep: %+v, want busy and other left and 100 evicted", st)
	}
}

// TestMemoryKeyFlood floods a limiter holding an attacker's limited key with
// a million new keys and checks the attacker's state survives.
func TestMemoryKeyFlood(t *testing.T) {
	t.Parallel()
	flood := 1_000_000
	if testing.Short() {
		flood = 100_000
	}
	clk := newFakeClock()
	const maxKeys = 1024
	m := newMemory(t, MemoryConfig{Policy: Activity, Clock: clk, MaxKeys: maxKeys})
	for range 20 {
		limittest.MustAllow(t, m, "attacker")
	}
	before := limittest.MustAllow(t, m, "attacker")
	if before.Allowed {
		t.Fatal("attacker not limited after 20 requests")
	}
	run := func(from, to int) (admitted, refused int) {
		for i := from; i < to; i++ {
			d, err := m.AllowAt("flood:"+strconv.Itoa(i), clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case d.Allowed:
				admitted++
			case d.Degraded == secmon.DegradedKeyCap && d.RetryAfter > 0:
				refused++
			default:
				t.Fatalf("flood key %d: unexpected decision %+v", i, d)
			}
		}
		return admitted, refused
	}
	admitted, refused := run(0, flood/2)
	if admitted > maxKeys-1 || admitted < maxKeys/2 || admitted+refused != flood/2 {
		t.Fatalf("first wave: %d admitted, %d refused; want at most %d admitted", admitted, refused, maxKeys-1)
	}
	if got := m.Stats().Keys; got > maxKeys {
		t.Fatalf("Keys = %d above MaxKeys %d", got, maxKeys)
	}
	if d := limittest.MustAllow(t, m, "attacker"); d.Allowed || d.RetryAfter != before.RetryAfter {
		t.Fatalf("attacker after first wave: %+v, want still limited like %+v", d, before)
	}
	// 6s later the flood keys (one token used, 3s to refill) are full and
	// may go; the attacker (60s to refill) may not.
	clk.Advance(6 * time.Second)
	admitted, _ = run(flood/2, flood)
	if admitted < maxKeys/2 {
		t.Fatalf("second wave: only %d admitted after the first wave refilled", admitted)
	}
	// The attacker earned two tokens in 6s; a reset bucket would hold 20.
	if d := limittest.MustAllow(t, m, "attacker"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("attacker after second wave: %+v, want allowed with 1 remaining", d)
	}
	limittest.MustAllow(t, m, "attacker")
	if d := limittest.MustAllow(t, m, "attacker"); d.Allowed {
		t.Fatalf("attacker's third request after 6s allowed: %+v", d)
	}
	if st := m.Stats(); st.Keys > maxKeys || st.Refused == 0 || st.Evicted == 0 {
		t.Fatalf("stats %+v: want Keys ≤ %d and both refusals and evictions", st, maxKeys)
	}
}

func TestMemoryRefusesOnlyWhenNothingIsFull(t *testing.T) {
	t.Parallel()
	// Both a clock far before the limiter's creation and the real one.
	for name, start := range map[string]time.Time{"past": newFakeClock().Now(), "now": time.Now()} {
		t.Run(name, func(t *testing.T) {
			clk := secmontest.NewClock(start)
			m := newMemory(t, MemoryConfig{Policy: Heartbeat, Clock: clk, MaxKeys: 2, Shards: 1})
			limittest.MustAllow(t, m, "a")
			limittest.MustAllow(t, m, "b")
			d := limittest.MustAllow(t, m, "c")
			if d.Allowed || d.Degraded != secmon.DegradedKeyCap || d.RetryAfter != 30*time.Second {
				t.Fatalf("third key at cap 2: %+v, want refused for 30s", d)
			}
			clk.Advance(30 * time.Second)
			if d := limittest.MustAllow(t, m, "c"); !d.Allowed || d.Degraded != secmon.NotDegraded {
				t.Fatalf("third key after a and b refilled: %+v", d)
			}
		})
	}
}

func TestMemoryZeroAllocs(t *testing.T) {
	m := newMemory(t, MemoryConfig{Policy: Activity})
	limittest.MustAllow(t, m, "user:42")
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _, _ = m.Allow(ctx, "user:42") }); n != 0 {
		t.Fatalf("Allow on a known key: %v allocations, want 0", n)
	}
}

func TestMemoryKeyTooLong(t *testing.T) {
	t.Parallel()
	m := newMemory(t, MemoryConfig{Policy: Activity, MaxKeyLen: 8})
	if _, err := m.Allow(context.Background(), "123456789"); !errors.Is(err, ErrKeyTooLong) || !errors.Is(err, secmon.ErrInvalid) {
		t.Fatalf("9-byte key with MaxKeyLen 8: err %v", err)
	}
	if _, err := m.Allow(context.Background(), "12345678"); err != nil {
		t.Fatalf("8-byte key: %v", err)
	}
}

func TestNewMemoryInvalid(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]MemoryConfig{
		"no policy":        {},
		"zero period":      {Policy: Policy{Limit: 1}},
		"negative burst":   {Policy: Policy{Limit: 1, Period: time.Second, Burst: -1}},
		"bad name":         {Policy: Policy{Name: `a"b`, Limit: 1, Period: time.Second}},
		"long name":        {Policy: Policy{Name: strings.Repeat("a", 65), Limit: 1, Period: time.Second}},
		"too fast":         {Policy: Policy{Limit: 1_000_000, Period: time.Millisecond}},
		"overflow":         {Policy: Policy{Limit: 1, Period: time.Hour, Burst: 1 << 40}},
		"shards not pow2":  {Policy: Activity, Shards: 3},
		"shards > maxkeys": {Policy: Activity, Shards: 8, MaxKeys: 4},
		"negative maxkeys": {Policy: Activity, MaxKeys: -1},
	} {
		if _, err := NewMemory(cfg); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}

func TestMemoryBytesPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million keys")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := newMemory(t, MemoryConfig{Policy: Activity})
	now := time.Now()
	for i := range n {
		if d, _ := m.AllowAt("user:"+strconv.Itoa(i), now); !d.Allowed {
			t.Fatalf("key %d refused: %+v", i, d)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.1f bytes per key at %d keys (the keys are hashed, not stored)", perKey, n)
	if perKey > 96 {
		t.Errorf("%.1f bytes per key, want at most 96", perKey)
	}
	runtime.KeepAlive(m)
}

// TestMemoryManyKeysKeepState drives the tables through many growths and a
// shrinking sweep and checks no bucket is lost or mixed up on the way.
func TestMemoryManyKeysKeepState(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, MemoryConfig{Policy: Heartbeat, Clock: clk, Shards: 4, SweepInterval: time.Hour})
	const n = 50_000
	key := func(i int) string { return "k" + strconv.Itoa(i) }
	for round := range 3 {
		for i := range n {
			d := limittest.MustAllow(t, m, key(i))
			if d.Allowed != (round < 2) {
				t.Fatalf("round %d key %d: %+v", round, i, d)
			}
		}
	}
	if got := m.Stats().Keys; got != n {
		t.Fatalf("Keys = %d, want %d", got, n)
	}
	clk.Advance(30 * time.Second)
	for i := range n {
		if i%2 == 0 {
			continue
		}
		if d := limittest.MustAllow(t, m, key(i)); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("key %d after 30s: %+v, want one token back", i, d)
		}
	}
	// 60s after the start the even keys are full and the odd ones are not;
	// an hour later everything is, and sweeps empty the tables.
	clk.Advance(30 * time.Second)
	clk.Advance(time.Hour)
	for i := range 64 { // reaches every shard but with probability 4·(3/4)⁶⁴
		limittest.MustAllow(t, m, "z"+strconv.Itoa(i))
	}
	if st := m.Stats(); st.Keys != 64 || st.Evicted != n {
		t.Fatalf("after an hour: %+v, want only the 64 new keys and %d evicted", st, n)
	}
	for i := range m.shards {
		if s := &m.shards[i]; s.n > 0 && len(s.slots) > 64 {
			t.Fatalf("shard %d keeps %d slots for %d keys after the sweep", i, len(s.slots), s.n)
		}
	}
}

func TestShardLayout(t *testing.T) {
	if got := unsafe.Sizeof(shard{}); got != 128 {
		t.Fatalf("shard is %d bytes, want 128 (two cache lines)", got)
	}
}

func TestMemoryClockBackwards(t *testing.T) {
	t.Parallel()
	m := newMemory(t, MemoryConfig{Policy: Heartbeat})
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for range 2 {
		if d, _ := m.AllowAt("k", now); !d.Allowed {
			t.Fatal("fresh bucket denied")
		}
	}
	// x/time/rate keeps the token count when time goes back; Memory cannot
	// know it, but a bucket is at worst empty: the wait is one interval,
	// not the length of the clock step.
	d, _ := m.AllowAt("k", now.Add(-time.Hour))
	if d.Allowed || d.RetryAfter != 30*time.Second || d.ResetAfter != time.Minute {
		t.Fatalf("an hour back in time: %+v, want denied for one interval", d)
	}
	if d, _ := m.AllowAt("k", now.Add(-time.Hour+30*time.Second)); !d.Allowed {
		t.Fatalf("one interval after the step: %+v", d)
	}
	// An idle key whose clock steps back a day is not locked out for a day.
	if d, _ := m.AllowAt("idle", now); !d.Allowed {
		t.Fatal("fresh bucket denied")
	}
	back := now.Add(-24 * time.Hour)
	if d, _ := m.AllowAt("idle", back); d.Allowed || d.RetryAfter != 30*time.Second {
		t.Fatalf("a day back: %+v, want denied for one interval", d)
	}
	if d, _ := m.AllowAt("idle", back.Add(30*time.Second)); !d.Allowed {
		t.Fatalf("a day back, one interval later: %+v, want allowed", d)
	}
}

func TestMemoryParallelManyKeys(t *testing.T) {
	t.Parallel()
	m := newMemory(t, MemoryConfig{Policy: Heartbeat, Shards: 8})
	var wg sync.WaitGroup
	var sharedAllowed atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				k := "g" + strconv.Itoa(g) + ":" + strconv.Itoa(i)
				if d := limittest.MustAllow(t, m, k); !d.Allowed || d.Remaining != 1 {
					t.Errorf("fresh key %s: %+v", k, d)
					return
				}
				if i%100 == 0 && limittest.MustAllow(t, m, "shared").Allowed {
					sharedAllowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := m.Stats().Keys; got != 8*5000+1 {
		t.Fatalf("Keys = %d, want %d", got, 8*5000+1)
	}
	if got := sharedAllowed.Load(); got != 2 {
		t.Fatalf("shared key allowed %d times, want 2", got)
	}
}
