package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/rediscounters"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/ratelimit/redislimit"
)

// RedisAddrVar names the variable holding the Redis host:port.
const RedisAddrVar = "SECMON_REDIS_ADDR"

// redisChecks need SECMON_REDIS_ADDR; without it they are skipped. Each
// plays two instances of a service sharing one Redis, under a key prefix of
// its own that it deletes at the end.
func redisChecks() []check {
	return []check{
		{"redis-shared-rate-limit", checkRedisRateLimit},
		{"redis-shared-detection", checkRedisDetection},
	}
}

// redisClient returns a client for the suite's Redis, closed with the suite,
// and a fresh key prefix whose keys are deleted with the suite.
func (s *suite) redisClient(ctx context.Context) (*redis.Client, string, error) {
	addr := s.env(RedisAddrVar)
	if addr == "" {
		return nil, "", skip(RedisAddrVar + " not set")
	}
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, DialTimeout: 2 * time.Second, MaxRetries: -1})
	s.cleanups = append(s.cleanups, func() { c.Close() })
	if err := c.Ping(ctx).Err(); err != nil {
		return nil, "", fmt.Errorf("Redis at %s does not answer: %w", addr, err)
	}
	prefix := randomName("secmon:selftest:") + ":"
	s.cleanups = append(s.cleanups, func() { deleteKeys(c, prefix) })
	return c, prefix, nil
}

// deleteKeys removes every key starting with prefix.
func deleteKeys(c *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}

// checkRedisRateLimit: two instances share the heartbeat limit through
// Redis; the 3rd beat of a minute is denied by whichever instance gets it,
// and no decision was made by the local fallback.
func checkRedisRateLimit(ctx context.Context, s *suite) error {
	c, prefix, err := s.redisClient(ctx)
	if err != nil {
		return err
	}
	cfg := redislimit.Config{Policy: ratelimit.Heartbeat, KeyPrefix: prefix + "rl:", OnFailure: redislimit.FailClosed}
	var instances [2]http.Handler
	var limiters [2]*redislimit.Limiter
	for i := range instances {
		if limiters[i], err = redislimit.New(c, cfg); err != nil {
			return err
		}
		instances[i] = ratelimit.Middleware(limiters[i], ratelimit.MiddlewareConfig{
			KeyFunc: ratelimit.KeyByUser(func(r *http.Request) string { return r.Header.Get("X-Test-User") }),
		})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	}
	beat := func(instance int) *http.Response {
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/session/heartbeat", nil)
		r.Header.Set("X-Test-User", "alice")
		return serve(instances[instance], r)
	}
	if code := beat(0).StatusCode; code != http.StatusNoContent {
		return fmt.Errorf("1st heartbeat on instance A got %d, want 204", code)
	}
	if code := beat(1).StatusCode; code != http.StatusNoContent {
		return fmt.Errorf("2nd heartbeat on instance B got %d, want 204", code)
	}
	res := beat(0)
	if res.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("3rd heartbeat on instance A got %d, want 429: the instances do not share the limit", res.StatusCode)
	}
	if ra, err := strconv.Atoi(res.Header.Get(ratelimit.HeaderRetryAfter)); err != nil || ra < 1 || ra > 60 {
		return fmt.Errorf("429 carries Retry-After %q, want 1 to 60 seconds", res.Header.Get(ratelimit.HeaderRetryAfter))
	}
	for i, l := range limiters {
		if st := l.Stats(); st.Degraded != 0 {
			return fmt.Errorf("instance %c answered %d decisions without Redis", 'A'+i, st.Degraded)
		}
	}
	return nil
}

// checkRedisDetection: two detection engines sharing counters in Redis see
// one brute force together, though each saw only half of it.
func checkRedisDetection(ctx context.Context, s *suite) error {
	c, prefix, err := s.redisClient(ctx)
	if err != nil {
		return err
	}
	var engines [2]*detect.Engine
	for i := range engines {
		counters, err := rediscounters.New(c, rediscounters.Config{Prefix: prefix + "detect:"})
		if err != nil {
			return err
		}
		if engines[i], err = detect.New(detect.Config{Counters: counters, Rules: []detect.Rule{&detect.BruteForceIP{}}}); err != nil {
			return err
		}
	}
	attacker := netip.MustParseAddr("203.0.113.99")
	// Event times are now, so the sub-buckets Redis expires are current.
	events := loginFailures(5, time.Now().UTC().Add(-30*time.Second), 2*time.Second,
		func(int) netip.Addr { return attacker }, func(i int) string { return fmt.Sprintf("user%d", i) })
	subject := detect.SubjectIP + "203.0.113.99/32"
	var findings []secmon.Finding
	for i, e := range events {
		f, err := engines[i%2].Observe(ctx, e)
		if err != nil {
			return fmt.Errorf("instance %c: %w", 'A'+i%2, err)
		}
		if countFindings(f, detect.RuleBruteForceIP, subject) > 0 && i != len(events)-1 {
			return fmt.Errorf("brute_force_ip fired at event %d of 5, below the threshold", i+1)
		}
		findings = append(findings, f...)
	}
	if n := countFindings(findings, detect.RuleBruteForceIP, subject); n != 1 {
		return fmt.Errorf("%d brute_force_ip findings for 5 failures split over two instances, want 1", n)
	}
	return nil
}
