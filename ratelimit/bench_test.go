package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon/internal/testenv"
)

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

func BenchmarkMemoryAllow(b *testing.B) {
	ctx := context.Background()
	b.Run("hot", func(b *testing.B) {
		m := newMemory(b, MemoryConfig{Policy: Activity})
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Allow(ctx, "user:42")
		}
	})
	b.Run("keys100k", func(b *testing.B) {
		m := newMemory(b, MemoryConfig{Policy: Activity})
		keys := benchKeys(100_000)
		for _, k := range keys {
			_, _ = m.Allow(ctx, k)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = m.Allow(ctx, keys[i%len(keys)])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		m := newMemory(b, MemoryConfig{Policy: Activity})
		keys := benchKeys(100_000)
		for _, k := range keys {
			_, _ = m.Allow(ctx, k)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_, _ = m.Allow(ctx, keys[i%len(keys)])
				i += 7
			}
		})
	})
	b.Run("new-keys", func(b *testing.B) {
		// Every call inserts: table growth and sweeps included.
		m := newMemory(b, MemoryConfig{Policy: Activity})
		keys := benchKeys(1 << 20)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = m.Allow(ctx, keys[i%len(keys)])
			i++
		}
	})
}

func BenchmarkMiddleware(b *testing.B) {
	m := newMemory(b, MemoryConfig{Policy: Activity})
	h := Middleware(m, MiddlewareOptions{KeyFunc: KeyByUser(func(*http.Request) string { return "alice" })})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodPost, "/api/activity", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, r)
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b), ContextTimeoutEnabled: true})
	defer c.Close()
	prefix := testPrefix(b)
	cleanupKeys(b, c, prefix)
	r := newRedisLimiter(b, c, RedisConfig{Policy: Policy{Limit: 1_000_000, Period: 1e9}, KeyPrefix: prefix, Timeout: 1e9})
	ctx := context.Background()
	_, _ = r.Allow(ctx, "warm")
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := r.Allow(ctx, "hot"); d.Degraded != "" {
			b.Fatalf("degraded: %s", d.Degraded)
		}
	}
}
