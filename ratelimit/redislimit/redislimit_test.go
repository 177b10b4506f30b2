package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/faulttest"
	"github.com/secmon-go/secmon/internal/limittest"
	"github.com/secmon-go/secmon/internal/rediscluster"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/ratelimit"
)

// testPrefix is a Redis key prefix no other test run uses.
func testPrefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "secmontest:rl:" + hex.EncodeToString(b[:]) + ":"
}

// newRedisClient connects to addr the way the package documentation asks:
// with ContextTimeoutEnabled so deadlines bound socket reads.
func newRedisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func cleanupKeys(t testing.TB, c redis.UniversalClient, prefix string) {
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
}

func newRedisLimiter(t testing.TB, c redis.UniversalClient, cfg Config) *Limiter {
	t.Helper()
	r, err := New(c, cfg)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	return r
}

func TestRedisConcurrentExactCount(t *testing.T) { onBackends(t, concurrentExactCount) }

func concurrentExactCount(t *testing.T, b backend) {
	c, prefix := b.client, b.prefix
	r := newRedisLimiter(t, c, Config{Policy: ratelimit.Activity, KeyPrefix: prefix, Timeout: 5 * time.Second})
	var allowed, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			d, err := r.Allow(context.Background(), "fresh")
			if err != nil || d.Degraded != secmon.NotDegraded {
				errs <- errors.Join(err, errors.New("degraded: "+string(d.Degraded)))
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else {
				denied.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if allowed.Load() != 20 || denied.Load() != 12 {
		t.Fatalf("allowed %d, denied %d of 32; want 20 and 12", allowed.Load(), denied.Load())
	}
	ttl, err := c.PTTL(context.Background(), prefix+"fresh").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("key TTL %v (%v), want within (0, 1m]", ttl, err)
	}
}

func TestRedisRefill(t *testing.T) { onBackends(t, refill) }

func refill(t *testing.T, b backend) {
	c, prefix := b.client, b.prefix
	p := ratelimit.Policy{Name: "fast", Limit: 20, Period: time.Second}
	r := newRedisLimiter(t, c, Config{Policy: p, KeyPrefix: prefix, Timeout: 5 * time.Second})
	var last secmon.Decision
	allowed := 0
	for range 100 {
		last = limittest.MustAllow(t, r, "k")
		if !last.Allowed {
			break
		}
		allowed++
	}
	if last.Allowed || allowed < 20 || last.RetryAfter <= 0 || last.RetryAfter > 50*time.Millisecond {
		t.Fatalf("after %d allowed: %+v, want a denial with RetryAfter in (0, 50ms]", allowed, last)
	}
	// Wait until the bucket is full again; only counts are asserted.
	time.Sleep(p.Period + 50*time.Millisecond)
	for i := range 20 {
		if d := limittest.MustAllow(t, r, "k"); !d.Allowed {
			t.Fatalf("request %d after a full refill denied: %+v", i+1, d)
		}
	}
	for i := range 1000 {
		if d := limittest.MustAllow(t, r, "k"); !d.Allowed {
			return
		} else if i == 999 {
			t.Fatalf("1000 further requests at 20/s all allowed: %+v", d)
		}
	}
}

func TestRedisHashTagAndRemaining(t *testing.T) { onBackends(t, hashTagAndRemaining) }

func hashTagAndRemaining(t *testing.T, b backend) {
	c, prefix := b.client, b.prefix
	r := newRedisLimiter(t, c, Config{Policy: ratelimit.Heartbeat, KeyPrefix: prefix, HashTag: true})
	d := limittest.MustAllow(t, r, "user:7")
	if !d.Allowed || d.Remaining != 1 || d.Limit != 2 || d.ResetAfter <= 0 || d.ResetAfter > 30*time.Second {
		t.Fatalf("first heartbeat: %+v", d)
	}
	if n, err := c.Exists(context.Background(), prefix+"{user:7}").Result(); err != nil || n != 1 {
		t.Fatalf("hash-tagged key %q missing: %v %v", prefix+"{user:7}", n, err)
	}
	limittest.MustAllow(t, r, "user:7")
	if d := limittest.MustAllow(t, r, "user:7"); d.Allowed || d.RetryAfter <= 29*time.Second || d.RetryAfter > 30*time.Second {
		t.Fatalf("third heartbeat: %+v, want denied for about 30s", d)
	}
}

func TestNewRedisInvalid(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := New(nil, Config{Policy: ratelimit.Activity}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("nil client: %v", err)
	}
	if _, err := New(c, Config{}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("no policy: %v", err)
	}
	if _, err := New(c, Config{Policy: ratelimit.Activity, OnFailure: 7}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("bad fail policy: %v", err)
	}
	// With HashTag each key must place by its own braces; a prefix holding
	// braces would place every key by the prefix instead.
	if _, err := New(c, Config{Policy: ratelimit.Activity, HashTag: true, KeyPrefix: "rl:{app}:"}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("HashTag with a braced prefix: %v", err)
	}
	if _, err := New(c, Config{Policy: ratelimit.Activity, KeyPrefix: "rl:{app}:"}); err != nil {
		t.Errorf("braced prefix without HashTag: %v", err)
	}
	r, err := New(c, Config{Policy: ratelimit.Activity, MaxKeyLen: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Allow(context.Background(), "12345"); !errors.Is(err, ratelimit.ErrKeyTooLong) {
		t.Errorf("long key: %v", err)
	}
}

func TestRedisOutage(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	for _, tc := range []struct {
		policy   FailPolicy
		want     secmon.Degradation
		allowed  bool
		silent   bool          // the proxy swallows traffic instead of refusing it
		deadline time.Duration // caller's deadline; the limiter's Timeout is 150ms
	}{
		{FailOpen, secmon.DegradedFailOpen, true, false, time.Minute},
		{FailClosed, secmon.DegradedFailClosed, false, false, time.Minute},
		{FailLocal, secmon.DegradedLocal, true, false, time.Minute},
		{FailOpen, secmon.DegradedFailOpen, true, true, time.Minute},
		{FailClosed, secmon.DegradedFailClosed, false, true, 50 * time.Millisecond},
		{FailLocal, secmon.DegradedLocal, true, true, time.Minute},
	} {
		name := tc.policy.String() + map[bool]string{false: "/refused", true: "/silent"}[tc.silent]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			px := faulttest.NewProxy(t, addr)
			c := newRedisClient(t, px.Addr())
			prefix := testPrefix(t)
			cleanupKeys(t, newRedisClient(t, addr), prefix)
			r := newRedisLimiter(t, c, Config{Policy: ratelimit.Heartbeat, KeyPrefix: prefix, OnFailure: tc.policy, Timeout: 150 * time.Millisecond})
			if d := limittest.MustAllow(t, r, "u"); !d.Allowed || d.Degraded != secmon.NotDegraded {
				t.Fatalf("before the outage: %+v", d)
			}
			if tc.silent {
				px.Blackhole()
			} else {
				px.Cut()
			}
			for i := range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
				d, err := r.Allow(ctx, "u")
				cancel()
				if err != nil {
					t.Fatalf("call %d during outage: %v", i+1, err)
				}
				if d.Degraded != tc.want {
					t.Fatalf("call %d during outage: %+v, want Degraded %q", i+1, d, tc.want)
				}
				wantAllowed := tc.allowed
				if tc.policy == FailLocal {
					wantAllowed = i < 2 // the local bucket starts full: 2 heartbeats
				}
				if d.Allowed != wantAllowed {
					t.Fatalf("call %d during outage: %+v, want Allowed %v", i+1, d, wantAllowed)
				}
			}
			if st := r.Stats(); !st.Failing || st.Degraded != 3 {
				t.Fatalf("stats during outage: %+v", st)
			}
			px.Restore()
			var d secmon.Decision
			for range 50 {
				d = limittest.MustAllow(t, r, "u")
				if d.Degraded == secmon.NotDegraded {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Redis kept the state from before the outage: one heartbeat
			// was used, so one is left.
			if d.Degraded != secmon.NotDegraded || !d.Allowed || d.Remaining != 0 {
				t.Fatalf("after recovery: %+v, want the Redis answer with 0 remaining", d)
			}
			if r.Stats().Failing {
				t.Fatal("still failing after recovery")
			}
		})
	}
}

// TestRedisNoScript runs against a Redis whose script cache is flushed: on
// a server the test starts itself, so the shared one is left alone, and on
// the package's cluster (every master flushed; the other tests sharing it
// only fall back to EVAL too).
func TestRedisNoScript(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		testenv.RedisAddr(t)
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			testenv.Missing(t, "redis-server not on PATH")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		c := newRedisClient(t, "127.0.0.1:"+port)
		ctx := context.Background()
		for i := 0; c.Ping(ctx).Err() != nil; i++ {
			if i == 100 {
				t.Fatal("throwaway redis-server did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
		noScript(t, c, testPrefix(t))
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		noScript(t, rediscluster.Shared(t).Client(t), testPrefix(t))
	})
}

func noScript(t *testing.T, c redis.UniversalClient, prefix string) {
	ctx := context.Background()
	r := newRedisLimiter(t, c, Config{Policy: ratelimit.Heartbeat, OnFailure: FailClosed, KeyPrefix: prefix})
	for i, flush := range []bool{false, true, false} {
		if flush {
			if err := c.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		d := limittest.MustAllow(t, r, "k")
		if d.Degraded != secmon.NotDegraded || d.Allowed != (i < 2) {
			t.Fatalf("call %d (flushed before: %v): %+v", i+1, flush, d)
		}
	}
}

// TestAuditHeartbeatSpamRedis runs the audit's acceptance test against
// three instances sharing one Redis, each with a client of its own: the
// client spreads its 100 heartbeats over them and still gets only 2
// through.
func TestAuditHeartbeatSpamRedis(t *testing.T) { onBackends(t, auditHeartbeatSpam) }

func auditHeartbeatSpam(t *testing.T, b backend) {
	var servers [3]http.Handler
	for i := range servers {
		r := newRedisLimiter(t, b.another(t), Config{Policy: ratelimit.Heartbeat, KeyPrefix: b.prefix, HashTag: true, Timeout: 5 * time.Second})
		servers[i] = limittest.WithUser(ratelimit.Middleware(r, ratelimit.MiddlewareConfig{KeyFunc: ratelimit.KeyByUser(limittest.User)})(limittest.OK))
	}
	for i := 1; i <= 100; i++ {
		rec := limittest.Serve(servers[i%3], limittest.UserRequest("/api/session/heartbeat", "alice"))
		want := http.StatusTooManyRequests
		if i <= 2 {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Fatalf("heartbeat %d: status %d, want %d", i, rec.Code, want)
		}
		if want == http.StatusTooManyRequests {
			if ra, err := strconv.Atoi(rec.Header().Get(ratelimit.HeaderRetryAfter)); err != nil || ra < 1 || ra > 30 {
				t.Fatalf("heartbeat %d: Retry-After %q", i, rec.Header().Get(ratelimit.HeaderRetryAfter))
			}
		}
	}
}
