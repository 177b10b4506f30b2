package detecttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/secmon-go/secmon/detect"
)

// T0 is the time RunCounters' first op happens at.
var T0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// do runs one op at T0+at and returns its count.
func do(t testing.TB, c detect.Counters, at time.Duration, op detect.Op) int64 {
	t.Helper()
	ops := []detect.Op{op}
	if err := c.Do(context.Background(), T0.Add(at), ops); err != nil {
		t.Fatalf("Do: %v", err)
	}
	return ops[0].Count
}

// RunCounters checks that c behaves as the detect.Counters contract says:
// sliding counts that never include an occurrence older than the window,
// distinct counts that a late event answers at its own time, several ops in
// one call, and detect.ErrBadOp for invalid ops. Every key it writes starts with
// prefix, so several runs can share one backend; c must be empty of those
// keys.
func RunCounters(t *testing.T, c detect.Counters, prefix string) {
	t.Run("sliding count", func(t *testing.T) {
		key := prefix + "count"
		w := 10 * time.Minute // sub-buckets of one minute
		for i := range 5 {
			if got := do(t, c, time.Duration(i)*time.Minute, detect.CountOp("t", key, w)); got != int64(i+1) {
				t.Fatalf("occurrence %d: count %d", i+1, got)
			}
		}
		// At 9m59s every occurrence is within the window.
		if got := do(t, c, 9*time.Minute+59*time.Second, detect.CountOp("t", key, w)); got != 6 {
			t.Fatalf("at 9m59s: %d, want 6", got)
		}
		// At 10m30s the occurrence at 0s is older than the window.
		if got := do(t, c, 10*time.Minute+30*time.Second, detect.CountOp("t", key, w)); got != 6 {
			t.Fatalf("at 10m30s: %d, want 6", got)
		}
		// Far later only the new occurrence counts.
		if got := do(t, c, 2*time.Hour, detect.CountOp("t", key, w)); got != 1 {
			t.Fatalf("after 2h: %d, want 1", got)
		}
	})
	t.Run("never counts older than the window", func(t *testing.T) {
		key := prefix + "edge"
		w := time.Minute
		do(t, c, 0, detect.CountOp("t", key, w))
		if got := do(t, c, w, detect.CountOp("t", key, w)); got != 1 {
			t.Fatalf("an occurrence exactly one window old still counts: %d", got)
		}
	})
	t.Run("keys and windows are separate", func(t *testing.T) {
		do(t, c, 0, detect.CountOp("t", prefix+"a", time.Minute))
		if got := do(t, c, 0, detect.CountOp("t", prefix+"b", time.Minute)); got != 1 {
			t.Fatalf("b counted a: %d", got)
		}
	})
	t.Run("distinct", func(t *testing.T) {
		key := prefix + "distinct"
		w := 10 * time.Minute
		members := []string{"alice", "bob", "alice", "carol", "bob", "dave"}
		want := []int64{1, 2, 2, 3, 3, 4}
		for i, m := range members {
			if got := do(t, c, time.Duration(i)*time.Minute, detect.DistinctOp("t", key, m, w)); got != want[i] {
				t.Fatalf("member %d (%s): %d, want %d", i, m, got, want[i])
			}
		}
		// 30 minutes later the old members have left the window.
		if got := do(t, c, 40*time.Minute, detect.DistinctOp("t", key, "erin", w)); got != 1 {
			t.Fatalf("after the window: %d, want 1", got)
		}
		// A late event counts what was within the window at its own time:
		// not the members recorded after it, even those seen since.
		if got := do(t, c, 25*time.Minute, detect.DistinctOp("t", key, "frank", w)); got != 1 {
			t.Fatalf("late member: %d, want 1", got)
		}
		if got := do(t, c, 26*time.Minute, detect.DistinctOp("t", key, "erin", w)); got != 2 {
			t.Fatalf("late known member: %d, want 2 (frank, erin)", got)
		}
		if got := do(t, c, 41*time.Minute, detect.DistinctOp("t", key, "gina", w)); got != 2 {
			t.Fatalf("back in order: %d, want 2 (erin, gina)", got)
		}
	})
	t.Run("several ops in one call", func(t *testing.T) {
		ops := []detect.Op{
			detect.CountOp("t", prefix+"multi", time.Minute),
			detect.DistinctOp("t", prefix+"multi-d", "x", time.Minute),
			detect.CountOp("t", prefix+"multi", time.Minute),
		}
		if err := c.Do(context.Background(), T0, ops); err != nil {
			t.Fatal(err)
		}
		if ops[0].Count != 1 || ops[1].Count != 1 || ops[2].Count != 2 {
			t.Fatalf("counts %d %d %d", ops[0].Count, ops[1].Count, ops[2].Count)
		}
	})
	t.Run("bad ops", func(t *testing.T) {
		long := string(make([]byte, detect.MaxKeyLen+1))
		for _, op := range []detect.Op{
			{Kind: 0, Scope: "t", Key: "k", Window: time.Minute},
			detect.CountOp("", "k", time.Minute),
			detect.CountOp(string(make([]byte, detect.MaxScopeLen+1)), "k", time.Minute),
			detect.CountOp("t", "", time.Minute),
			detect.CountOp("t", long, time.Minute),
			detect.CountOp("t", "k", 0),
			detect.DistinctOp("t", "k", long, time.Minute),
		} {
			if err := c.Do(context.Background(), T0, []detect.Op{detect.CountOp("t", prefix+"ok", time.Minute), op}); !errors.Is(err, detect.ErrBadOp) {
				t.Errorf("%+v: err %v", op, err)
			}
		}
	})
}
