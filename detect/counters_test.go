package detect

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// do runs one op at t0+at and returns its count.
func do(t testing.TB, c Counters, at time.Duration, op Op) int64 {
	t.Helper()
	ops := []Op{op}
	if err := c.Do(context.Background(), t0.Add(at), ops); err != nil {
		t.Fatalf("Do: %v", err)
	}
	return ops[0].Count
}

func newMemory(t testing.TB, cfg MemoryCountersConfig) *MemoryCounters {
	t.Helper()
	c, err := NewMemoryCounters(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMemoryCountersOutOfOrder(t *testing.T) {
	t.Parallel()
	c := newMemory(t, MemoryCountersConfig{})
	w := 10 * time.Minute
	do(t, c, 5*time.Minute, CountOp("t", "k", w))
	// A late event from 3 minutes earlier still counts, and sees only what
	// was within the window at its own time.
	if got := do(t, c, 2*time.Minute, CountOp("t", "k", w)); got != 1 {
		t.Fatalf("late event: %d, want 1", got)
	}
	if got := do(t, c, 6*time.Minute, CountOp("t", "k", w)); got != 3 {
		t.Fatalf("after: %d, want 3", got)
	}
	// One older than the whole ring is dropped, not misfiled.
	do(t, c, -time.Hour, CountOp("t", "k", w))
	if got := do(t, c, 6*time.Minute, CountOp("t", "k", w)); got != 4 {
		t.Fatalf("after a stale event: %d, want 4", got)
	}
	// A key's window changing starts it afresh rather than mixing widths.
	if got := do(t, c, 6*time.Minute, CountOp("t", "k", time.Minute)); got != 1 {
		t.Fatalf("new window: %d, want 1", got)
	}
}

func TestMemoryDistinctSaturates(t *testing.T) {
	t.Parallel()
	c := newMemory(t, MemoryCountersConfig{MaxDistinct: 4})
	var got int64
	for i := range 10 {
		got = do(t, c, time.Duration(i)*time.Second, DistinctOp("t", "k", fmt.Sprint(i), time.Hour))
	}
	if got != 4 {
		t.Fatalf("saturated count %d, want 4", got)
	}
	// Expired members make room again: exact after the window.
	got = do(t, c, 2*time.Hour, DistinctOp("t", "k", "new", time.Hour))
	if got != 1 {
		t.Fatalf("after expiry: %d, want 1", got)
	}
	e, _ := c.t.get("k")
	if cap(e.members) > 4 {
		t.Fatalf("members capacity %d exceeds MaxDistinct", cap(e.members))
	}
}

func TestMemoryCountSaturates(t *testing.T) {
	t.Parallel()
	var e memEntry
	e.incr(0, time.Minute)
	e.counts[0] = math.MaxInt32
	e.hasDropped = true // as if more were counted than remembered
	if got := e.incr(0, time.Minute); got != math.MaxInt32 {
		t.Fatalf("count %d", got)
	}
}

func TestMemoryKeyCap(t *testing.T) {
	t.Parallel()
	c := newMemory(t, MemoryCountersConfig{MaxKeys: 1000})
	for i := range 50_000 {
		do(t, c, time.Duration(i)*time.Millisecond, CountOp("t", fmt.Sprint("k", i), time.Minute))
	}
	if n := c.Len(); n > 1000 || n < 900 {
		t.Fatalf("Len = %d, want ≤ 1000 and close to it", n)
	}
	if c.Evictions() < 49_000 || c.MaxKeys() > 1000 {
		t.Fatalf("Evictions = %d, MaxKeys = %d", c.Evictions(), c.MaxKeys())
	}
	// A key being hit keeps its count while the flood goes on: eviction
	// takes the least recently updated.
	hot := "hot"
	var got int64
	for i := range 5_000 {
		at := time.Minute + time.Duration(i)*time.Millisecond
		do(t, c, at, CountOp("t", fmt.Sprint("flood", i), time.Minute))
		if i%100 == 0 {
			got = do(t, c, at, CountOp("t", hot, time.Minute))
		}
	}
	if got != 50 {
		t.Fatalf("hot key count %d, want 50", got)
	}
}

func TestMemoryConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []MemoryCountersConfig{{MaxKeys: -1}, {MaxDistinct: -1}, {MaxDistinct: MaxMaxDistinct + 1}} {
		if _, err := NewMemoryCounters(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestMemoryCountersConcurrent(t *testing.T) {
	t.Parallel()
	c := newMemory(t, MemoryCountersConfig{MaxKeys: 10_000})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				ops := []Op{CountOp("t", "shared", time.Hour), DistinctOp("t", fmt.Sprint("d", i%100), fmt.Sprint(g), time.Hour)}
				if err := c.Do(context.Background(), t0, ops); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := do(t, c, 0, CountOp("t", "shared", time.Hour)); got != 8001 {
		t.Fatalf("shared count %d, want 8001", got)
	}
	if c.Len() != 101 || c.Evictions() != 0 {
		t.Fatalf("Len %d, Evictions %d; want 101 keys, none evicted", c.Len(), c.Evictions())
	}
}

// Counts below ExactCount are exact, whatever the sub-bucket boundaries: a
// burst spread over just under a window is counted whole, and an
// occurrence exactly one window old is out.
func TestMemoryCountsExactly(t *testing.T) {
	t.Parallel()
	w := 10 * time.Minute
	c := newMemory(t, MemoryCountersConfig{})
	// 0:50 and 10:40 are 9m50s apart but in sub-buckets 0 and 10, which
	// a sub-bucket count never holds together.
	var got int64
	for _, at := range []time.Duration{50 * time.Second, 3 * time.Minute, 5 * time.Minute, 8 * time.Minute, 10*time.Minute + 40*time.Second} {
		got = do(t, c, at, CountOp("t", "burst", w))
	}
	if got != 5 {
		t.Errorf("5 occurrences within 9m50s counted %d", got)
	}
	for i, at := range []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 10 * time.Minute} {
		got = do(t, c, at, CountOp("t", "edge", w))
		if i == 4 && got != 4 {
			t.Errorf("the occurrence exactly one window old was counted: %d, want 4", got)
		}
	}
}

// A randomised comparison with a brute-force count: in time order the
// count is exact below ExactCount and at least ExactCount above; in any
// order it never counts an occurrence older than the window, nor one later
// than the occurrence's own sub-bucket.
func TestMemoryCountsMatchReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	w := time.Minute
	for round := range 200 {
		c := newMemory(t, MemoryCountersConfig{})
		inOrder := round%2 == 0
		var times []time.Duration
		at := time.Duration(0)
		for range 200 {
			if inOrder {
				at += time.Duration(rng.IntN(int(6 * time.Second)))
			} else {
				at = time.Duration(rng.IntN(int(5 * time.Minute)))
			}
			times = append(times, at)
			got := do(t, c, at, CountOp("t", "k", w))
			want, bound := int64(0), int64(0)
			for _, p := range times {
				if p <= at && p > at-w {
					want++
				}
				if p < at.Truncate(w/Buckets)+w/Buckets && p > at-w {
					bound++
				}
			}
			switch {
			case got > bound:
				t.Fatalf("round %d: count %d exceeds the %d occurrences in the window and the rest of its sub-bucket", round, got, bound)
			case inOrder && want < ExactCount && got != want:
				t.Fatalf("round %d (in order): count %d, true %d", round, got, want)
			case inOrder && want >= ExactCount && got < ExactCount:
				t.Fatalf("round %d (in order): count %d below ExactCount, true %d", round, got, want)
			}
		}
		e, _ := c.t.get("k")
		if len(e.recent) > ExactCount || cap(e.recent) > 2*ExactCount {
			t.Fatalf("remembered %d times (capacity %d)", len(e.recent), cap(e.recent))
		}
	}
}
