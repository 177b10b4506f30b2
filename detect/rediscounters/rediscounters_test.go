package rediscounters

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/detecttest"
)

// roundTrips counts what a go-redis client sends: pipelines and single
// commands.
type roundTrips struct {
	pipelines, commands atomic.Int64
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.commands.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

func newRedisCounters(t testing.TB, client redis.UniversalClient, prefix string) *Counters {
	t.Helper()
	c, err := New(client, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCountersContract(t *testing.T) {
	onBackends(t, func(t *testing.T, b backend) {
		detecttest.RunCounters(t, newRedisCounters(t, b.client, b.prefix), "")
	})
}

// All rules' counter operations for one event go to Redis in exactly one
// round trip; events no counting rule cares about cost none.
//
// On a cluster the one pipeline is split per master and sent to each at
// once (go-redis' per-node clients); what is counted here is the pipeline.
func TestRedisOneRoundTripPerEvent(t *testing.T) {
	onBackends(t, func(t *testing.T, b backend) { oneRoundTripPerEvent(t, b) })
}

func oneRoundTripPerEvent(t *testing.T, b backend) {
	client := b.another(t) // a client of its own: the hook sees only this test
	hook := &roundTrips{}
	client.AddHook(hook)
	e := newEngine(t, detect.Config{Counters: newRedisCounters(t, client, b.prefix)})
	ctx := context.Background()
	// Warm the connection up: its handshake (HELLO, CLIENT SETINFO) is a
	// once-per-connection cost, not a per-event one.
	if _, err := e.Observe(ctx, event(0, secmon.EventLoginFailure, "192.0.2.200", "warm")); err != nil {
		t.Fatal(err)
	}
	hook.commands.Store(0)
	for i, ev := range []secmon.Event{
		event(0, secmon.EventLoginFailure, "2001:db8::1", "alice"), // 4 ops: two counts, two distinct sets
		event(time.Second, secmon.EventUploadBlocked, "192.0.2.1", "bob"),
		event(2*time.Second, secmon.EventAccessDenied, "192.0.2.1", "bob"),
	} {
		before := hook.pipelines.Load()
		if _, err := e.Observe(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if got := hook.pipelines.Load() - before; got != 1 {
			t.Errorf("event %d (%s): %d round trips, want 1", i, ev.Type, got)
		}
	}
	before := hook.pipelines.Load()
	if _, err := e.Observe(ctx, event(3*time.Second, secmon.EventPageView, "192.0.2.1", "bob")); err != nil {
		t.Fatal(err)
	}
	if got := hook.pipelines.Load() - before; got != 0 {
		t.Errorf("page_view: %d round trips, want 0", got)
	}
	if c := hook.commands.Load(); c != 0 {
		t.Errorf("%d commands outside pipelines", c)
	}
}

// Two instances sharing one Redis see one attack: five failures reach each,
// the tenth crosses the threshold.
func TestRedisInstancesShareCounts(t *testing.T) {
	onBackends(t, instancesShareCounts)
}

func instancesShareCounts(t *testing.T, be backend) {
	client, prefix := be.client, be.prefix
	a := newEngine(t, detect.Config{Counters: newRedisCounters(t, client, prefix)})
	b := newEngine(t, detect.Config{Counters: newRedisCounters(t, be.another(t), prefix)})
	var fs []secmon.Finding
	for i := range 10 {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		// Addresses rotate inside one /64; users rotate too.
		ev := event(time.Duration(i)*10*time.Second, secmon.EventLoginFailure, fmt.Sprintf("2001:db8:7:7::%x", i+1), fmt.Sprint("user", i))
		got, err := inst.Observe(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		// brute_force_ip needs 5 failures: the fifth lands on a, which
		// saw only three itself, and the sixth on b, which suppresses
		// only its own repeats. credential_stuffing needs 10 accounts.
		if want := map[int]int{4: 1, 5: 1, 9: 1}[i]; len(got) != want {
			t.Fatalf("event %d: %d findings %+v, want %d", i, len(got), got, want)
		}
		fs = append(fs, got...)
	}
	want := []string{"brute_force_ip ip:2001:db8:7:7::/64", "brute_force_ip ip:2001:db8:7:7::/64", "credential_stuffing ip:2001:db8:7:7::/64"}
	if diff := cmp.Diff(want, detecttest.Pairs(fs)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// A third instance with its own prefix counts alone.
	c := newEngine(t, detect.Config{Counters: newRedisCounters(t, client, prefix+"other:")})
	got, _ := c.Observe(context.Background(), event(time.Minute, secmon.EventLoginFailure, "2001:db8:7:7::99", "x"))
	if len(got) != 0 {
		t.Fatalf("separate prefix saw the shared counts: %+v", got)
	}
}

// The detect package's replay scenarios give the same findings with counts
// kept in Redis.
func TestReplayScenarios(t *testing.T) {
	onBackends(t, func(t *testing.T, b backend) {
		detecttest.RunScenarios(t, "../testdata", func(t *testing.T, name string) secmon.Detector {
			return newEngine(t, detect.Config{Counters: newRedisCounters(t, b.client, b.prefix+name+":")})
		})
	})
}

// With Redis unreachable, Observe reports the error promptly and the rules
// that need no counters still run.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	e := newEngine(t, detect.Config{Counters: newRedisCounters(t, client, "x:")})
	role := event(0, secmon.EventRoleChange, "", "u")
	fs, err := e.Observe(context.Background(), role)
	if err != nil || len(fs) != 1 {
		t.Fatalf("role_change: %v, %v", fs, err)
	}
	// The dial is refused (go-redis may retry it until the counters'
	// Timeout ends the call): a counter error, never detect.ErrBadOp.
	_, err = e.Observe(context.Background(), event(0, secmon.EventLoginFailure, "192.0.2.1", "u"))
	var op *net.OpError
	if !(errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded)) || e.Stats().CounterErrors != 1 {
		t.Fatalf("err = %v, stats %+v", err, e.Stats())
	}
	// Then the counters back off: the next event does not dial again.
	_, err = e.Observe(context.Background(), event(time.Second, secmon.EventLoginFailure, "192.0.2.1", "u"))
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &op) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("during the back-off: err = %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Config{}); err == nil {
		t.Error("nil client accepted")
	}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	for _, b := range []int{-1, MaxBuckets + 1} {
		if _, err := New(client, Config{Buckets: b}); err == nil {
			t.Errorf("detect.Buckets %d accepted", b)
		}
	}
	// A braced prefix would decide every key's cluster slot.
	for _, prefix := range []string{"app{x}:", "a{", "}"} {
		if _, err := New(client, Config{Prefix: prefix}); err == nil {
			t.Errorf("Prefix %q accepted", prefix)
		}
	}
	// Invalid ops fail before any network use.
	c := newRedisCounters(t, client, "x:")
	if err := c.Do(context.Background(), t0, []detect.Op{detect.CountOp("t", "", time.Minute)}); !errors.Is(err, detect.ErrBadOp) {
		t.Errorf("err = %v", err)
	}
	if err := c.Do(context.Background(), t0, nil); err != nil {
		t.Errorf("no ops: %v", err)
	}
}

// An engine counting in Redis tells the Monitor that Observe waits on the
// network, so the Monitor runs it off the caller's goroutine.
func TestEngineObserveBlocks(t *testing.T) {
	t.Parallel()
	// The client is never used: ObserveBlocks looks only at the type of
	// the counters.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { client.Close() })
	var d secmon.Detector = newEngine(t, detect.Config{Counters: newRedisCounters(t, client, "x:")})
	bd, ok := d.(secmon.BlockingDetector)
	if !ok || !bd.ObserveBlocks() {
		t.Fatalf("an engine over Redis counters does not report that Observe blocks (%v)", ok)
	}
}
