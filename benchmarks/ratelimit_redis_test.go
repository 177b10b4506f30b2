package benchmarks

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/ratelimit/redislimit"
)

// BenchmarkRateLimitRedis compares ratelimit.Redis with redis_rate, both
// one EVALSHA per decision against the same server and client options, from
// one goroutine and from 32. The limit is high enough that every request is
// allowed, so both take their write path.
func BenchmarkRateLimitRedis(b *testing.B) {
	addr := testenv.RedisAddr(b)
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer client.Close()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	defer func() {
		iter := client.Scan(ctx, 0, "secmonbench:"+run+":*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	}()

	const rate = 1_000_000 // per second
	sec, err := redislimit.New(client, redislimit.Config{
		Policy:    ratelimit.Policy{Limit: rate, Period: time.Second},
		KeyPrefix: "secmonbench:" + run + ":secmon:",
		// redis_rate has no per-call timeout; a generous one keeps a slow
		// moment on a shared machine from turning into a local answer.
		Timeout: time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	rr := redis_rate.NewLimiter(client)
	rrLimit := redis_rate.Limit{Rate: rate, Period: time.Second, Burst: rate}
	rrPrefix := "secmonbench:" + run + ":redis_rate:"

	keys := rlKeys(1000)
	subjects := []struct {
		name  string
		allow func(key string) bool
	}{
		{"secmon", func(key string) bool {
			d, err := sec.Allow(ctx, key)
			if err != nil || d.Degraded != "" {
				b.Fatalf("secmon: %v %q", err, d.Degraded)
			}
			return d.Allowed
		}},
		{"redis_rate", func(key string) bool {
			res, err := rr.Allow(ctx, rrPrefix+key, rrLimit)
			if err != nil {
				b.Fatal(err)
			}
			return res.Allowed > 0
		}},
	}
	for _, s := range subjects { // load the scripts and fill the connection pool
		for _, k := range keys[:64] {
			s.allow(k)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for _, s := range subjects {
			b.Run(s.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					s.allow(keys[i%len(keys)])
					i++
				}
			})
		}
	})
	b.Run("parallel32", func(b *testing.B) {
		for _, s := range subjects {
			b.Run(s.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0))) // 32 goroutines
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						s.allow(keys[int(next.Add(1))%len(keys)])
					}
				})
			})
		}
	})
}
