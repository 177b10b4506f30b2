package detect

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

func newMemory(t testing.TB, cfg MemoryConfig) *MemoryCounters {
	t.Helper()
	c, err := NewMemoryCounters(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do runs one op at t0+at and returns its count.
func do(t testing.TB, c Counters, at time.Duration, op Op) int64 {
	t.Helper()
	ops := []Op{op}
	if err := c.Do(context.Background(), t0.Add(at), ops); err != nil {
		t.Fatalf("Do: %v", err)
	}
	return ops[0].Count
}

// counterContract is what every Counters implementation must do; the Redis
// test runs it too.
func counterContract(t *testing.T, c Counters, prefix string) {
	t.Run("sliding count", func(t *testing.T) {
		key := prefix + "count"
		w := 10 * time.Minute // sub-buckets of one minute
		for i := range 5 {
			if got := do(t, c, time.Duration(i)*time.Minute, CountOp("t", key, w)); got != int64(i+1) {
				t.Fatalf("occurrence %d: count %d", i+1, got)
			}
		}
		// At 9m59s every occurrence is within the window.
		if got := do(t, c, 9*time.Minute+59*time.Second, CountOp("t", key, w)); got != 6 {
			t.Fatalf("at 9m59s: %d, want 6", got)
		}
		// At 10m30s the occurrence at 0s is older than the window.
		if got := do(t, c, 10*time.Minute+30*time.Second, CountOp("t", key, w)); got != 6 {
			t.Fatalf("at 10m30s: %d, want 6", got)
		}
		// Far later only the new occurrence counts.
		if got := do(t, c, 2*time.Hour, CountOp("t", key, w)); got != 1 {
			t.Fatalf("after 2h: %d, want 1", got)
		}
	})
	t.Run("never counts older than the window", func(t *testing.T) {
		key := prefix + "edge"
		w := time.Minute
		do(t, c, 0, CountOp("t", key, w))
		if got := do(t, c, w, CountOp("t", key, w)); got != 1 {
			t.Fatalf("an occurrence exactly one window old still counts: %d", got)
		}
	})
	t.Run("keys and windows are separate", func(t *testing.T) {
		do(t, c, 0, CountOp("t", prefix+"a", time.Minute))
		if got := do(t, c, 0, CountOp("t", prefix+"b", time.Minute)); got != 1 {
			t.Fatalf("b counted a: %d", got)
		}
	})
	t.Run("distinct", func(t *testing.T) {
		key := prefix + "distinct"
		w := 10 * time.Minute
		members := []string{"alice", "bob", "alice", "carol", "bob", "dave"}
		want := []int64{1, 2, 2, 3, 3, 4}
		for i, m := range members {
			if got := do(t, c, time.Duration(i)*time.Minute, DistinctOp("t", key, m, w)); got != want[i] {
				t.Fatalf("member %d (%s): %d, want %d", i, m, got, want[i])
			}
		}
		// 30 minutes later the old members have left the window.
		if got := do(t, c, 40*time.Minute, DistinctOp("t", key, "erin", w)); got != 1 {
			t.Fatalf("after the window: %d, want 1", got)
		}
		// A late event counts what was within the window at its own time:
		// not the members recorded after it, even those seen since.
		if got := do(t, c, 25*time.Minute, DistinctOp("t", key, "frank", w)); got != 1 {
			t.Fatalf("late member: %d, want 1", got)
		}
		if got := do(t, c, 26*time.Minute, DistinctOp("t", key, "erin", w)); got != 2 {
			t.Fatalf("late known member: %d, want 2 (frank, erin)", got)
		}
		if got := do(t, c, 41*time.Minute, DistinctOp("t", key, "gina", w)); got != 2 {
			t.Fatalf("back in order: %d, want 2 (erin, gina)", got)
		}
	})
	t.Run("several ops in one call", func(t *testing.T) {
		ops := []Op{
			CountOp("t", prefix+"multi", time.Minute),
			DistinctOp("t", prefix+"multi-d", "x", time.Minute),
			CountOp("t", prefix+"multi", time.Minute),
		}
		if err := c.Do(context.Background(), t0, ops); err != nil {
			t.Fatal(err)
		}
		if ops[0].Count != 1 || ops[1].Count != 1 || ops[2].Count != 2 {
			t.Fatalf("counts %d %d %d", ops[0].Count, ops[1].Count, ops[2].Count)
		}
	})
	t.Run("bad ops", func(t *testing.T) {
		long := string(make([]byte, MaxKeyLen+1))
		for _, op := range []Op{
			{Kind: 0, Scope: "t", Key: "k", Window: time.Minute},
			CountOp("", "k", time.Minute),
			CountOp(string(make([]byte, MaxScopeLen+1)), "k", time.Minute),
			CountOp("t", "", time.Minute),
			CountOp("t", long, time.Minute),
			CountOp("t", "k", 0),
			DistinctOp("t", "k", long, time.Minute),
		} {
			if err := c.Do(context.Background(), t0, []Op{CountOp("t", prefix+"ok", time.Minute), op}); !errors.Is(err, ErrBadOp) {
				t.Errorf("%+v: err %v", op, err)
			}
		}
	})
}

func TestMemoryCountersContract(t *testing.T) {
	t.Parallel()
	counterContract(t, newMemory(t, MemoryConfig{}), "")
}

func TestMemoryCountersOutOfOrder(t *testing.T) {
	t.Parallel()
	c := newMemory(t, MemoryConfig{})
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
	c := newMemory(t, MemoryConfig{MaxDistinct: 4})
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
	if got := e.incr(0, time.Minute); got != math.MaxInt32 {
		t.Fatalf("count %d", got)
	}
}

func TestMemoryKeyCap(t *testing.T) {
	t.Parallel()
	c := newMemory(t, MemoryConfig{MaxKeys: 1000})
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
	for _, cfg := range []MemoryConfig{{MaxKeys: -1}, {MaxDistinct: -1}, {MaxDistinct: MaxMaxDistinct + 1}} {
		if _, err := NewMemoryCounters(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestMemoryCountersConcurrent(t *testing.T) {
	t.Parallel()
	c := newMemory(t, MemoryConfig{MaxKeys: 10_000})
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
