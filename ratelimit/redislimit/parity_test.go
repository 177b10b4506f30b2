package redislimit

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/limittest"
	"github.com/secmon-go/secmon/ratelimit"
)

// ageScript moves a bucket's stored arrival time back by ARGV[1]
// microseconds, which to the GCRA script is the same as that much time
// passing for this key. A missing key stays missing.
var ageScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECRBY', KEYS[1], ARGV[1])
end
return 0
`)

// TestRedisMatchesMemory replays the same random traffic through the Redis
// script and the ratelimit.Memory limiter and expects the same decisions. ratelimit.Memory is
// given the Redis server's clock (TIME, read just before each call) plus the
// simulated time; the Redis bucket is aged by the simulated time directly.
// Steps are quarters of the emission interval, so no decision depends on the
// few microseconds between reading TIME and running the script.
func TestRedisMatchesMemory(t *testing.T) { onBackends(t, matchesMemory) }

func matchesMemory(t *testing.T, b backend) {
	c, prefix := b.client, b.prefix
	ctx := context.Background()
	for _, p := range []ratelimit.Policy{
		{Name: "one", Limit: 1, Period: time.Minute},
		{Name: "burst", Limit: 4, Period: time.Minute, Burst: 9},
		{Name: "narrow", Limit: 10, Period: time.Minute, Burst: 2},
		ratelimit.Heartbeat,
	} {
		t.Run(p.Name, func(t *testing.T) {
			r := newRedisLimiter(t, c, Config{Policy: p, KeyPrefix: prefix + p.Name + ":", Timeout: 5 * time.Second})
			m := newMemory(t, ratelimit.MemoryConfig{Policy: p})
			quarter := p.Period / time.Duration(p.Limit) / 4
			rng := rand.New(rand.NewPCG(7, uint64(p.Limit)))
			var shift time.Duration   // simulated time so far
			var slowest time.Duration // longest between so far (below)
			for i := range 300 {
				key := "k" + strconv.Itoa(rng.IntN(3))
				step := time.Duration(rng.IntN(6)) * quarter
				shift += step
				for k := range 3 {
					if err := ageScript.Run(ctx, c, []string{prefix + p.Name + ":k" + strconv.Itoa(k)}, step.Microseconds()).Err(); err != nil {
						t.Fatal(err)
					}
				}
				sent := time.Now()
				server, err := c.Time(ctx).Result()
				if err != nil {
					t.Fatal(err)
				}
				dr := limittest.MustAllow(t, r, key)
				// The script reads TIME again, at most this long after the
				// TIME above: its durations are shorter by up to that much.
				// A bucket last restarted by the script ("now") is later by
				// up to that step's between, so durations may be longer by
				// up to the slowest one so far.
				between := time.Since(sent)
				slowest = max(slowest, between)
				dm, err := m.AllowAt(key, server.Add(shift))
				if err != nil {
					t.Fatal(err)
				}
				if dr.Allowed != dm.Allowed || dr.Remaining != dm.Remaining || dr.Limit != dm.Limit {
					t.Fatalf("step %d key %s: Redis %+v, ratelimit.Memory %+v", i, key, dr, dm)
				}
				const rounding = time.Millisecond // microseconds in the script, nanoseconds in memory
				if d := dm.RetryAfter - dr.RetryAfter; d < -slowest-rounding || d > between+rounding {
					t.Fatalf("step %d key %s: RetryAfter Redis %v, ratelimit.Memory %v", i, key, dr.RetryAfter, dm.RetryAfter)
				}
				if d := dm.ResetAfter - dr.ResetAfter; d < -slowest-rounding || d > between+rounding {
					t.Fatalf("step %d key %s: ResetAfter Redis %v, ratelimit.Memory %v", i, key, dr.ResetAfter, dm.ResetAfter)
				}
				ttl, err := c.PTTL(ctx, prefix+p.Name+":"+key).Result()
				if err != nil {
					t.Fatal(err)
				}
				if dr.Allowed && (ttl <= 0 || ttl > dr.ResetAfter+time.Millisecond) {
					t.Fatalf("step %d key %s: TTL %v after an allow with ResetAfter %v", i, key, ttl, dr.ResetAfter)
				}
			}
		})
	}
}

// TestRedisServerClockBackwards stores a bucket whose arrival time lies an
// hour ahead of the server clock, as after the server's clock stepped back an
// hour, and expects the key to wait one interval, as ratelimit.Memory does, rather
// than the hour.
func TestRedisServerClockBackwards(t *testing.T) { onBackends(t, serverClockBackwards) }

func serverClockBackwards(t *testing.T, b backend) {
	c, prefix := b.client, b.prefix
	ctx := context.Background()
	r := newRedisLimiter(t, c, Config{Policy: ratelimit.Heartbeat, KeyPrefix: prefix, Timeout: 5 * time.Second})
	server, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	ahead := server.Add(time.Hour).UnixMicro()
	if err := c.Set(ctx, prefix+"k", strconv.FormatInt(ahead, 10), 2*time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	d := limittest.MustAllow(t, r, "k")
	if d.Allowed || d.RetryAfter <= 29*time.Second || d.RetryAfter > 30*time.Second || d.ResetAfter > time.Minute {
		t.Fatalf("bucket an hour ahead of the server clock: %+v, want denied for one interval (30s)", d)
	}
}

// TestRedisCallerCancelIsNotAnOutage cancels the caller's context before
// Allow: the fail policy answers, but a healthy Redis is not reported as
// failing and no outage warning is logged.
func TestRedisCallerCancelIsNotAnOutage(t *testing.T) { onBackends(t, callerCancelIsNotAnOutage) }

func callerCancelIsNotAnOutage(t *testing.T, b backend) {
	c, prefix := b.client, b.prefix
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	r := newRedisLimiter(t, c, Config{Policy: ratelimit.Heartbeat, KeyPrefix: prefix, OnFailure: FailClosed, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := r.Allow(ctx, "k")
	if err != nil || d.Allowed || d.Degraded != secmon.DegradedFailClosed {
		t.Fatalf("cancelled caller: %+v, %v; want the fail policy's denial", d, err)
	}
	if st := r.Stats(); st.Failing || st.Degraded != 1 {
		t.Fatalf("stats after a cancelled caller: %+v, want Degraded 1 and not Failing", st)
	}
	if logged.Len() != 0 {
		t.Fatalf("cancelled caller logged: %s", logged.String())
	}
}

// TestRedisIntervalNeverShorter checks that the microsecond arguments of the
// Redis script never describe a faster rate than the Policy: an interval
// that is not a whole number of microseconds rounds up, not down.
func TestRedisIntervalNeverShorter(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, p := range []ratelimit.Policy{
		{Limit: 2, Period: 3 * time.Microsecond},
		{Limit: 3, Period: time.Second},
		{Limit: 7, Period: time.Millisecond, Burst: 50},
		ratelimit.Heartbeat,
	} {
		r, err := New(c, Config{Policy: p, OnFailure: FailClosed})
		if err != nil {
			t.Fatal(err)
		}
		interval, _ := strconv.ParseInt(r.args[0].(string), 10, 64)
		fill, _ := strconv.ParseInt(r.args[1].(string), 10, 64)
		p = r.Policy()
		if got := time.Duration(interval) * time.Microsecond; got < p.Interval() || got >= p.Interval()+time.Microsecond {
			t.Errorf("%d per %v: script interval %v, policy interval %v", p.Limit, p.Period, got, p.Interval())
		}
		if got := time.Duration(fill) * time.Microsecond; got < p.Fill() {
			t.Errorf("%d per %v burst %d: script fill %v shorter than %v", p.Limit, p.Period, p.Burst, got, p.Fill())
		}
	}
}
