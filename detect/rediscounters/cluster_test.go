package rediscounters

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/internal/rediscluster"
)

// hostileKeys are counted keys an attacker may choose (user names are
// counted keys): braces that would empty or move the hash tag, and the
// escape character itself.
var hostileKeys = []string{"}x", "{", "}", "{}", "}{", "a}b{c", "%7Dx", "%7dx", "%", "{user}", "x{}"}

// Every sub-bucket key of one counted key lies in one slot, whatever the
// scope and key hold, and distinct (scope, key) pairs never share a Redis
// key.
func FuzzBucketKeys(f *testing.F) {
	for _, k := range append(hostileKeys, "192.0.2.0", "alice", "2001:db8::/64") {
		f.Add("bf_user", k, "bf_user", k+"x")
	}
	f.Add("s{", "k", "s%7B", "k")
	f.Add("a", "b:{c}", "a:{b", "c}")
	f.Fuzz(func(t *testing.T, scope1, key1, scope2, key2 string) {
		for _, s := range []string{scope1, key1, scope2, key2} {
			if s == "" || len(s) > detect.MaxKeyLen {
				t.Skip()
			}
		}
		k1 := bucketKeys("p:", scope1, key1, 60e9, 12345, 10)
		slot := rediscluster.Slot(k1[0])
		for _, k := range k1 {
			if !strings.HasPrefix(k, "p:") {
				t.Fatalf("key %q outside the prefix", k)
			}
			if s := rediscluster.Slot(k); s != slot {
				t.Fatalf("(%q, %q): sub-bucket %q in slot %d, first in %d", scope1, key1, k, s, slot)
			}
		}
		k2 := bucketKeys("p:", scope2, key2, 60e9, 12345, 10)
		if (scope1 == scope2 && key1 == key2) != (k1[0] == k2[0]) {
			t.Fatalf("(%q, %q) → %q and (%q, %q) → %q", scope1, key1, k1[0], scope2, key2, k2[0])
		}
	})
}

// Keys an attacker chose are counted apart from each other, and on a
// cluster every multi-key read over them stays in one slot (an empty hash
// tag would scatter the sub-buckets and Redis would refuse the MGET with
// CROSSSLOT).
func TestHostileKeys(t *testing.T) {
	onBackends(t, func(t *testing.T, b backend) {
		c := newRedisCounters(t, b.client, b.prefix)
		for round := range 2 {
			for i, k := range hostileKeys {
				ops := []detect.Op{
					detect.CountOp("t", k, 10*time.Minute),
					detect.DistinctOp("d", k, fmt.Sprint("m", round), 10*time.Minute),
				}
				// Later rounds a minute later: another sub-bucket, so the
				// MGET and PFCOUNT read several keys.
				if err := c.Do(context.Background(), t0.Add(time.Duration(round)*time.Minute+time.Duration(i)*time.Millisecond), ops); err != nil {
					t.Fatalf("key %q: %v", k, err)
				}
				if ops[0].Count != int64(round+1) || ops[1].Count != int64(round+1) {
					t.Fatalf("key %q round %d: counts %d and %d, want %d", k, round, ops[0].Count, ops[1].Count, round+1)
				}
			}
		}
	})
}

// On a cluster the counted keys spread over every master, each key's
// sub-buckets together.
func TestClusterKeysSpread(t *testing.T) {
	t.Parallel()
	cl := rediscluster.Shared(t)
	b := backend{client: cl.Client(t), prefix: randomPrefix()}
	c := newRedisCounters(t, b.client, b.prefix)
	ctx := context.Background()
	for i := range 60 {
		if err := c.Do(ctx, t0.Add(time.Duration(i)*time.Minute), []detect.Op{detect.CountOp("t", fmt.Sprint("user", i%20), time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	keys := b.scan(t, b.prefix+"*")
	slotsOf := map[string]map[int]bool{} // counted key → slots
	masters := map[int]bool{}
	for _, k := range keys {
		_, rest, _ := strings.Cut(k, "{")
		counted, _, _ := strings.Cut(rest, "}")
		if slotsOf[counted] == nil {
			slotsOf[counted] = map[int]bool{}
		}
		slot := rediscluster.Slot(k)
		slotsOf[counted][slot] = true
		owner, err := cl.Owner(ctx, slot)
		if err != nil {
			t.Fatal(err)
		}
		masters[owner] = true
	}
	if len(slotsOf) != 20 || len(masters) != 3 {
		t.Fatalf("%d keys for %d counted keys on masters %v; want 20 counted keys on all 3 masters", len(keys), len(slotsOf), masters)
	}
	for k, slots := range slotsOf {
		if len(slots) != 1 {
			t.Errorf("sub-buckets of %q in %d slots", k, len(slots))
		}
	}
}

// While the slot of a counted key moves from master to master, key by key,
// under concurrent counting, no Do fails and no occurrence is lost or
// counted twice: MOVED and ASK are followed, and reads refused with
// TRYAGAIN while the sub-buckets are split are asked again.
func TestClusterSlotMigration(t *testing.T) {
	t.Parallel()
	cl := rediscluster.Start(t, rediscluster.Config{})
	client, red := cl.WatchedClient(t)
	// The move is slowed down to a key every few milliseconds so that
	// traffic meets the half-moved slot; the Timeout leaves room for it.
	c, err := New(client, Config{Prefix: "mig:", Timeout: 5 * time.Second, Backoff: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const key, window, members = "203.0.113.0", time.Hour, 40
	slot := rediscluster.Slot(bucketKeys("mig:", "t", key, 1, 0, 1)[0])

	// Occurrences spread over 50 minutes: up to nine sub-buckets live, so
	// every read covers several keys.
	var counted atomic.Int64
	var seen sync.Map // members counted
	traffic := rediscluster.Traffic{Workers: 4, Op: func(g, i int) error {
		at := t0.Add(time.Duration((i*7+g*13)%50) * time.Minute)
		member := fmt.Sprint("member", (i*4+g)%members)
		ops := []detect.Op{
			detect.CountOp("t", key, window),
			detect.DistinctOp("d", key, member, window),
		}
		if err := c.Do(ctx, at, ops); err != nil {
			return fmt.Errorf("worker %d op %d: %w", g, i, err)
		}
		counted.Add(1)
		seen.Store(member, true)
		return nil
	}}
	// Move the slot around the three masters, then back, key by key.
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
	// Every occurrence counted exactly once, every member seen.
	final := []detect.Op{detect.CountOp("t", key, window), detect.DistinctOp("d", key, "member0", window)}
	if err := c.Do(ctx, t0.Add(50*time.Minute), final); err != nil {
		t.Fatal(err)
	}
	seen.Store("member0", true)
	distinct := 0
	seen.Range(func(any, any) bool { distinct++; return true })
	if final[0].Count != counted.Load()+1 || final[1].Count != int64(distinct) {
		t.Fatalf("after the moves: count %d for %d occurrences + 1, distinct %d for %d members",
			final[0].Count, counted.Load(), final[1].Count, distinct)
	}
	red.RequireMovedAndAsk(t)
	t.Logf("%d Do calls during 4 slot moves: %d MOVED, %d ASK, %d TRYAGAIN answered and followed; slowest Do %v",
		counted.Load(), red.Moved.Load(), red.Ask.Load(), red.TryAgain.Load(), slowest)
}

// A master killed (a process this test started): Do for a key on it fails
// before the caller's deadline, then backs off; keys on the masters that are
// up are counted once the back-off ends; after the restart the dead
// master's keys count again, from zero (no persistence).
func TestClusterMasterKilled(t *testing.T) {
	t.Parallel()
	cl := rediscluster.Start(t, rediscluster.Config{})
	client := cl.Client(t)
	clock := &stepClock{now: t0}
	c, err := New(client, Config{Prefix: "kill:", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A counted key on master 0 and one on master 1.
	keyOn := map[int]string{}
	for i := 0; len(keyOn) < 2; i++ {
		k := fmt.Sprint("user", i)
		owner, err := cl.Owner(ctx, rediscluster.Slot(bucketKeys("kill:", "t", k, 1, 0, 1)[0]))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := keyOn[owner]; !ok && owner < 2 {
			keyOn[owner] = k
		}
	}
	at := t0
	count := func(k string) (int64, error) {
		at = at.Add(time.Second)
		// The caller's deadline is far beyond the counters' Timeout.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ops := []detect.Op{detect.CountOp("t", k, time.Hour)}
		err := c.Do(cctx, at, ops)
		if cctx.Err() != nil {
			t.Fatalf("Do(%s) answered only after the caller's deadline", k)
		}
		return ops[0].Count, err
	}
	for _, k := range keyOn {
		if n, err := count(k); err != nil || n != 1 {
			t.Fatalf("before the kill: %d, %v", n, err)
		}
	}

	cl.Kill(0)
	if _, err := count(keyOn[0]); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("key on the killed master: err %v, want Redis' error", err)
	}
	// The back-off covers every key: the counters do not know which
	// master failed.
	if _, err := count(keyOn[1]); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("during the back-off: err %v, want ErrUnavailable", err)
	}
	clock.Advance(DefaultBackoff)
	if n, err := count(keyOn[1]); err != nil || n != 2 {
		t.Fatalf("key on a master that is up, after the back-off: %d, %v; want 2", n, err)
	}

	if err := cl.Restart(0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		clock.Advance(DefaultBackoff)
		n, err := count(keyOn[0])
		if err == nil {
			if n != 1 {
				t.Fatalf("key on the restarted master: count %d, want 1 (its data went with the process)", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key on the restarted master still failing: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	clock.Advance(DefaultBackoff)
	if n, err := count(keyOn[1]); err != nil || n != 3 {
		t.Fatalf("key on the master that stayed up: %d, %v; want 3", n, err)
	}
}
