package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
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
	h := Middleware(m, MiddlewareConfig{KeyFunc: KeyByUser(func(*http.Request) string { return "alice" })})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodPost, "/api/activity", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, r)
	}
}
