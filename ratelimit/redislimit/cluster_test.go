package redislimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/limittest"
	"github.com/secmon-go/secmon/internal/rediscluster"
	"github.com/secmon-go/secmon/ratelimit"
)

// With HashTag, each caller's key is placed by the key alone: thirty users'
// buckets spread over every master of the cluster.
func TestClusterKeysSpread(t *testing.T) {
	t.Parallel()
	cl := rediscluster.Shared(t)
	c := cl.Client(t)
	prefix := testPrefix(t)
	r := newRedisLimiter(t, c, Config{Policy: ratelimit.Activity, KeyPrefix: prefix, HashTag: true})
	ctx := context.Background()
	masters := map[int]int{}
	for i := range 30 {
		user := fmt.Sprint("user:", i)
		if d := limittest.MustAllow(t, r, user); !d.Allowed || d.Degraded != secmon.NotDegraded {
			t.Fatalf("%s: %+v", user, d)
		}
		key := prefix + "{" + user + "}"
		if rediscluster.Slot(key) != rediscluster.Slot(user) {
			t.Fatalf("key %q not placed by %q", key, user)
		}
		owner, err := cl.OwnerOfKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := cl.Do(ctx, owner, "exists", key).Int(); err != nil || n != 1 {
			t.Fatalf("key %q not on master %d, which serves its slot: %v %v", key, owner, n, err)
		}
		masters[owner]++
	}
	if len(masters) != 3 {
		t.Fatalf("30 users' buckets on masters %v, want all three", masters)
	}
}

// While the slot of two buckets moves from master to master, key by key,
// under concurrent callers, every decision comes from Redis (MOVED and ASK
// followed) and the buckets' state moves with them: exactly the burst is
// allowed, not a token more.
func TestClusterSlotMigration(t *testing.T) {
	t.Parallel()
	cl := rediscluster.Start(t, rediscluster.Config{})
	client, red := cl.WatchedClient(t)
	// A token an hour: no refill while the test runs. Two limiters whose
	// buckets for one user share the user's slot.
	a := newRedisLimiter(t, client, Config{Policy: ratelimit.Policy{Name: "a", Limit: 1, Period: time.Hour, Burst: 50},
		KeyPrefix: "mig:a:", HashTag: true, Timeout: 5 * time.Second, OnFailure: FailClosed})
	b := newRedisLimiter(t, client, Config{Policy: ratelimit.Policy{Name: "b", Limit: 1, Period: time.Hour, Burst: 30},
		KeyPrefix: "mig:b:", HashTag: true, Timeout: 5 * time.Second, OnFailure: FailClosed})
	const user = "user:7"
	slot := rediscluster.Slot(user)
	ctx := context.Background()

	var allowedA, allowedB, calls atomic.Int64
	// Each caller pauses between calls, to keep going through all moves
	// without spending the buckets in the first milliseconds.
	traffic := rediscluster.Traffic{Workers: 8, Pause: time.Millisecond, Op: func(g, i int) error {
		l, n := a, &allowedA
		if (i+g)%2 == 1 {
			l, n = b, &allowedB
		}
		d, err := l.Allow(ctx, user)
		if err != nil || d.Degraded != secmon.NotDegraded {
			return fmt.Errorf("caller %d call %d: %+v, %v", g, i, d, err)
		}
		calls.Add(1)
		if d.Allowed {
			n.Add(1)
		}
		return nil
	}}
	slowest, errs, err := traffic.During(func() error { return cl.CycleSlot(ctx, slot, 4) })
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// Callers that keep coming after the moves are still refused.
	for _, l := range []*Limiter{a, b} {
		if d := limittest.MustAllow(t, l, user); d.Allowed || d.Degraded != secmon.NotDegraded {
			t.Fatalf("after the moves: %+v, want a Redis denial", d)
		}
	}
	if allowedA.Load() != 50 || allowedB.Load() != 30 {
		t.Fatalf("%d calls: allowed %d and %d, want exactly the bursts 50 and 30", calls.Load(), allowedA.Load(), allowedB.Load())
	}
	red.RequireMovedAndAsk(t)
	t.Logf("%d decisions during 4 slot moves: %d MOVED, %d ASK, %d TRYAGAIN followed; slowest %v",
		calls.Load(), red.Moved.Load(), red.Ask.Load(), red.TryAgain.Load(), slowest)
}

// A master killed (a process this test started): a key on it is answered
// by each fail policy before the caller's deadline, keys on the masters
// that are up are still answered by Redis, and once the master is back its
// keys are answered by Redis again (with fresh buckets: its data went with
// the process).
func TestClusterMasterKilled(t *testing.T) {
	t.Parallel()
	cl := rediscluster.Start(t, rediscluster.Config{})
	client := cl.Client(t)
	ctx := context.Background()
	limiters := map[FailPolicy]*Limiter{}
	for _, p := range []FailPolicy{FailOpen, FailClosed, FailLocal} {
		limiters[p] = newRedisLimiter(t, client, Config{Policy: ratelimit.Heartbeat, KeyPrefix: "kill:" + p.String() + ":", HashTag: true, OnFailure: p})
	}
	keyOn := map[int]string{} // a user whose buckets live on master 0, one on master 1
	for i := 0; len(keyOn) < 2; i++ {
		user := fmt.Sprint("user:", i)
		owner, err := cl.OwnerOfKey(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := keyOn[owner]; !ok && owner < 2 {
			keyOn[owner] = user
		}
	}
	allow := func(l *Limiter, key string) (secmon.Decision, time.Duration) {
		// The caller's deadline is far beyond the limiter's Timeout.
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		start := time.Now()
		d, err := l.Allow(cctx, key)
		took := time.Since(start)
		if err != nil || cctx.Err() != nil {
			t.Fatalf("Allow(%s): %+v, %v (caller's deadline passed: %v)", key, d, err, cctx.Err())
		}
		return d, took
	}
	for p, l := range limiters {
		for _, key := range keyOn {
			if d, _ := allow(l, key); !d.Allowed || d.Degraded != secmon.NotDegraded || d.Remaining != 1 {
				t.Fatalf("%s before the kill, %s: %+v", p, key, d)
			}
		}
	}

	cl.Kill(0)
	want := map[FailPolicy]secmon.Degradation{FailOpen: secmon.DegradedFailOpen, FailClosed: secmon.DegradedFailClosed, FailLocal: secmon.DegradedLocal}
	var slowest time.Duration
	for p, l := range limiters {
		d, took := allow(l, keyOn[0])
		slowest = max(slowest, took)
		// FailLocal answers from a full local bucket.
		if d.Degraded != want[p] || d.Allowed != (p != FailClosed) {
			t.Errorf("%s, key on the killed master: %+v", p, d)
		}
		if !l.Stats().Failing {
			t.Errorf("%s: not failing with a master down", p)
		}
		// The masters that are up answer as before: the second heartbeat.
		if d, _ := allow(l, keyOn[1]); !d.Allowed || d.Degraded != secmon.NotDegraded || d.Remaining != 0 {
			t.Errorf("%s, key on a master that is up: %+v", p, d)
		}
	}

	if err := cl.Restart(0); err != nil {
		t.Fatal(err)
	}
	for p, l := range limiters {
		deadline := time.Now().Add(30 * time.Second)
		for {
			d, _ := allow(l, keyOn[0])
			if d.Degraded == secmon.NotDegraded {
				if !d.Allowed || d.Remaining != 1 {
					t.Errorf("%s after the restart: %+v, want a fresh bucket", p, d)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still degraded long after the master returned: %+v", p, d)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if l.Stats().Failing {
			t.Errorf("%s: still failing after recovery", p)
		}
		if d, _ := allow(l, keyOn[1]); d.Allowed || d.Degraded != secmon.NotDegraded {
			t.Errorf("%s, the master that stayed up kept its state: %+v, want the third heartbeat refused", p, d)
		}
	}
	t.Logf("slowest fail-policy answer with a master down: %v (Timeout %v)", slowest, DefaultTimeout)
}
