package ratelimit

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/secmon-go/secmon/internal/limittest"
	"github.com/secmon-go/secmon/secmontest"
)

// TestMemoryDurationsMatchXTimeRate compares every field of Memory's
// Decisions with what golang.org/x/time/rate's token count implies, for a
// table of rates including Limit 1: Remaining is the whole tokens left,
// RetryAfter the time until one token is back, ResetAfter the time until the
// bucket is full. Rates and times are binary fractions of a second, so the
// float arithmetic of x/time/rate is exact.
func TestMemoryDurationsMatchXTimeRate(t *testing.T) {
	t.Parallel()
	for _, p := range []Policy{
		{Limit: 1, Period: time.Second},
		{Limit: 1, Period: 4 * time.Second},
		{Limit: 1, Period: time.Second / 2, Burst: 3},
		{Limit: 8, Period: 2 * time.Second, Burst: 1},
		{Limit: 2, Period: 64 * time.Second, Burst: 5},
	} {
		name := strconv.Itoa(p.Limit) + "per" + p.Period.String() + "burst" + strconv.Itoa(p.Burst)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := newMemory(t, MemoryConfig{Policy: p})
			burst := m.Policy().Burst
			r := rate.Limit(float64(p.Limit) / p.Period.Seconds())
			ref := rate.NewLimiter(r, burst)
			rng := rand.New(rand.NewPCG(3, uint64(p.Limit)))
			now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
			const tick = time.Second / 64
			seconds := func(tokens float64) time.Duration {
				return time.Duration(tokens / float64(r) * float64(time.Second))
			}
			for i := range 5000 {
				// Mostly bursts, sometimes long pauses.
				step := time.Duration(rng.IntN(4)) * tick
				if rng.IntN(20) == 0 {
					step = time.Duration(rng.IntN(64*10)) * tick
				}
				now = now.Add(step)
				want := ref.AllowN(now, 1)
				d, err := m.AllowAt("k", now)
				if err != nil {
					t.Fatal(err)
				}
				tokens := ref.TokensAt(now)
				if d.Allowed != want || d.Limit != burst || d.Remaining != max(int(tokens), 0) {
					t.Fatalf("step %d: %+v; x/time/rate allowed=%v with %v tokens", i, d, want, tokens)
				}
				wantReset := seconds(float64(burst) - tokens)
				wantRetry := time.Duration(0)
				if !want {
					wantRetry = seconds(1 - tokens)
				}
				if diff := d.ResetAfter - wantReset; diff < -time.Microsecond || diff > time.Microsecond {
					t.Fatalf("step %d: ResetAfter %v, x/time/rate implies %v", i, d.ResetAfter, wantReset)
				}
				if diff := d.RetryAfter - wantRetry; diff < -time.Microsecond || diff > time.Microsecond {
					t.Fatalf("step %d: RetryAfter %v, x/time/rate implies %v", i, d.RetryAfter, wantRetry)
				}
				if !d.Allowed && d.RetryAfter <= 0 {
					t.Fatalf("step %d: denial with RetryAfter %v", i, d.RetryAfter)
				}
			}
		})
	}
}

// TestMemoryHugeSweepInterval checks that a SweepInterval near the largest
// Duration means "rarely", not an overflow into sweeping at every call.
func TestMemoryHugeSweepInterval(t *testing.T) {
	t.Parallel()
	for _, iv := range []time.Duration{math.MaxInt64, 1 << 62} {
		// A clock after the limiter's creation, so the sum can overflow.
		clk := secmontest.NewClock(time.Now().Add(time.Hour))
		m := newMemory(t, MemoryConfig{Policy: Heartbeat, Clock: clk, Shards: 1, SweepInterval: iv})
		limittest.MustAllow(t, m, "a")
		clk.Advance(time.Minute) // a is full again, but no sweep is due
		limittest.MustAllow(t, m, "b")
		if st := m.Stats(); st.Evicted != 0 || st.Keys != 2 {
			t.Fatalf("SweepInterval %v: %+v, want no sweep yet", iv, st)
		}
	}
}
