package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/secmon-go/secmon"
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

// countingObserver is the cheapest useful Observer: one counter per outcome.
type countingObserver struct{ n [NumOutcomes]atomic.Uint64 }

func (c *countingObserver) ObserveRateLimit(_ string, o Outcome, _ secmon.Degradation) { c.n[o].Add(1) }

// BenchmarkMiddlewareObserved is BenchmarkMiddleware with an Observer that
// counts outcomes: the cost of the hook itself.
func BenchmarkMiddlewareObserved(b *testing.B) {
	m := newMemory(b, MemoryConfig{Policy: Activity})
	obs := &countingObserver{}
	h := Middleware(m, MiddlewareConfig{KeyFunc: KeyByUser(func(*http.Request) string { return "alice" }), Observer: obs})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodPost, "/api/activity", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, r)
	}
	if obs.n[OutcomeAllowed].Load()+obs.n[OutcomeDenied].Load() == 0 {
		b.Fatal("the observer heard nothing")
	}
}
