package redislimit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/faulttest"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/ratelimit"
)

// outageSetup returns a Redis limiter whose client reaches Redis only
// through a proxy the test owns, and a direct client for cleanup.
func outageSetup(t *testing.T, cfg Config) (*Limiter, *faulttest.Proxy) {
	t.Helper()
	addr := testenv.RedisAddr(t)
	px := faulttest.NewProxy(t, addr)
	c := redis.NewClient(&redis.Options{Addr: px.Addr(), ContextTimeoutEnabled: true, DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	direct := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = direct.Close() })
	cfg.KeyPrefix = fmt.Sprintf("secmontest:rl:outage:%s:", secmon.NewID())
	t.Cleanup(func() {
		ctx := context.Background()
		iter := direct.Scan(ctx, 0, cfg.KeyPrefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			direct.Del(ctx, iter.Val())
		}
	})
	r, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, px
}

func outageAllow(t *testing.T, r *Limiter, key string) secmon.Decision {
	t.Helper()
	d, err := r.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

// recovered polls until a decision comes from Redis again. The bound only
// stops a limiter that never recovers from hanging the test.
func recovered(t *testing.T, r *Limiter, key string) secmon.Decision {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := outageAllow(t, r, key)
		if d.Degraded == secmon.NotDegraded {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("still degraded long after Redis returned: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisOutageConcurrentCallers: while Redis is refused or silent, many
// callers at once each get an answer, without error, before the deadline
// they gave, carrying the fail policy's Degraded value; once Redis is back
// the answers come from Redis again, with the state from before the outage.
func TestRedisOutageConcurrentCallers(t *testing.T) {
	t.Parallel()
	const callers, calls = 16, 4
	for _, policy := range []FailPolicy{FailOpen, FailClosed, FailLocal} {
		for _, outage := range []string{"refused", "silent"} {
			t.Run(policy.String()+"/"+outage, func(t *testing.T) {
				t.Parallel()
				r, px := outageSetup(t, Config{Policy: ratelimit.Heartbeat, OnFailure: policy, Timeout: 100 * time.Millisecond})
				for g := range callers {
					if d := outageAllow(t, r, fmt.Sprint("k", g)); !d.Allowed || d.Degraded != secmon.NotDegraded {
						t.Fatalf("before the outage: %+v", d)
					}
				}
				if outage == "refused" {
					px.Cut()
				} else {
					px.Blackhole()
				}
				want := map[FailPolicy]secmon.Degradation{FailOpen: secmon.DegradedFailOpen, FailClosed: secmon.DegradedFailClosed, FailLocal: secmon.DegradedLocal}[policy]

				var wg sync.WaitGroup
				errs := make(chan error, callers*calls)
				for g := range callers {
					wg.Go(func() {
						key := fmt.Sprint("k", g)
						for i := range calls {
							// The caller's deadline is far above the limiter's
							// Timeout: the answer must come before it.
							ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
							d, err := r.Allow(ctx, key)
							late := ctx.Err()
							cancel()
							switch {
							case err != nil:
								errs <- fmt.Errorf("%s call %d: %v", key, i, err)
							case late != nil:
								errs <- fmt.Errorf("%s call %d: answered only after the caller's deadline", key, i)
							case d.Degraded != want:
								errs <- fmt.Errorf("%s call %d: %+v, want Degraded %q", key, i, d, want)
							case policy == FailOpen && !d.Allowed,
								policy == FailClosed && (d.Allowed || d.RetryAfter <= 0),
								policy == FailLocal && d.Allowed != (i < 2): // the local bucket starts full: 2 heartbeats
								errs <- fmt.Errorf("%s call %d under %s: %+v", key, i, policy, d)
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				if st := r.Stats(); !st.Failing || st.Degraded != callers*calls {
					t.Errorf("stats during outage: %+v, want Failing and %d degraded", st, callers*calls)
				}

				px.Restore()
				// Redis kept each key's state from before the outage (one of
				// two heartbeats used); degraded answers never touched it.
				for g := range callers {
					key := fmt.Sprint("k", g)
					// Each key polls until Redis answers: on a loaded machine a
					// call can still miss the 100 ms Timeout after the first
					// key saw Redis again, and that is the fail policy
					// working, not the state being lost.
					d := recovered(t, r, key)
					if d.Degraded != secmon.NotDegraded || !d.Allowed || d.Remaining != 0 {
						t.Fatalf("%s after recovery: %+v, want the Redis answer with 0 remaining", key, d)
					}
				}
				if r.Stats().Failing {
					t.Error("still failing after recovery")
				}
			})
		}
	}
}

// TestRedisOutageFlapping: Redis going away and coming back several times
// leaves the limiter answering from Redis each time it returns, and the
// quota counted only by the calls Redis answered.
func TestRedisOutageFlapping(t *testing.T) {
	t.Parallel()
	r, px := outageSetup(t, Config{Policy: ratelimit.Activity, OnFailure: FailClosed, Timeout: 100 * time.Millisecond})
	used := 0
	for cycle := range 3 {
		d := recovered(t, r, "user")
		used++
		if !d.Allowed || d.Remaining != ratelimit.Activity.Limit-used {
			t.Fatalf("cycle %d, Redis answer: %+v, want %d remaining", cycle, d, ratelimit.Activity.Limit-used)
		}
		px.Cut()
		for range 3 {
			if d := outageAllow(t, r, "user"); d.Allowed || d.Degraded != secmon.DegradedFailClosed {
				t.Fatalf("cycle %d during outage: %+v", cycle, d)
			}
		}
		px.Restore()
	}
	d := recovered(t, r, "user")
	used++
	if !d.Allowed || d.Remaining != ratelimit.Activity.Limit-used {
		t.Fatalf("after flapping: %+v, want %d remaining", d, ratelimit.Activity.Limit-used)
	}
	if st := r.Stats(); st.Degraded != 9 || st.Failing {
		t.Fatalf("stats %+v, want 9 degraded and not failing", st)
	}
}

// TestRedisOutageMiddleware: through the HTTP middleware, an outage under
// FailClosed is a 429 with Retry-After and under FailOpen the request goes
// through without a RateLimit header (there is no quota to report); both
// recover to Redis answers.
func TestRedisOutageMiddleware(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy FailPolicy
		status int
	}{
		{FailClosed, http.StatusTooManyRequests},
		{FailOpen, http.StatusOK},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			t.Parallel()
			r, px := outageSetup(t, Config{Policy: ratelimit.Login, OnFailure: tc.policy, Timeout: 100 * time.Millisecond})
			h := ratelimit.Middleware(r, ratelimit.MiddlewareConfig{
				Policy:  ratelimit.Login,
				KeyFunc: func(*http.Request) (string, error) { return "203.0.113.9", nil },
			})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
			serve := func() *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
				return rec
			}
			if rec := serve(); rec.Code != http.StatusOK || rec.Header().Get(ratelimit.HeaderRateLimit) == "" {
				t.Fatalf("before the outage: %d %v", rec.Code, rec.Header())
			}
			px.Blackhole()
			rec := serve()
			if rec.Code != tc.status {
				t.Fatalf("during the outage: %d, want %d", rec.Code, tc.status)
			}
			if tc.policy == FailClosed && rec.Header().Get(ratelimit.HeaderRetryAfter) == "" {
				t.Error("429 during the outage without Retry-After")
			}
			if tc.policy == FailOpen && rec.Header().Get(ratelimit.HeaderRateLimit) != "" {
				t.Errorf("fail-open answer reports a quota: %q", rec.Header().Get(ratelimit.HeaderRateLimit))
			}
			px.Restore()
			recovered(t, r, "203.0.113.9")
			if rec := serve(); rec.Code != http.StatusOK || rec.Header().Get(ratelimit.HeaderRateLimit) == "" {
				t.Fatalf("after recovery: %d %v", rec.Code, rec.Header())
			}
		})
	}
}
