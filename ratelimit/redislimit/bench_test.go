package redislimit

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/ratelimit"
)

func BenchmarkRedisAllow(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b), ContextTimeoutEnabled: true})
	defer c.Close()
	prefix := testPrefix(b)
	cleanupKeys(b, c, prefix)
	r := newRedisLimiter(b, c, Config{Policy: ratelimit.Policy{Limit: 1_000_000, Period: 1e9}, KeyPrefix: prefix, Timeout: 1e9})
	ctx := context.Background()
	_, _ = r.Allow(ctx, "warm")
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := r.Allow(ctx, "hot"); d.Degraded != "" {
			b.Fatalf("degraded: %s", d.Degraded)
		}
	}
}
