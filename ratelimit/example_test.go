package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/secmon-go/secmon/ratelimit"
)

func ExampleMemory_AllowAt() {
	m, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Heartbeat})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 3; i++ {
		d, _ := m.AllowAt("user:42", now)
		fmt.Printf("beat %d: allowed=%v remaining=%d retry=%v\n", i, d.Allowed, d.Remaining, d.RetryAfter)
	}
	d, _ := m.AllowAt("user:42", now.Add(30*time.Second))
	fmt.Printf("30s later: allowed=%v\n", d.Allowed)
	// Output:
	// beat 1: allowed=true remaining=1 retry=0s
	// beat 2: allowed=true remaining=0 retry=0s
	// beat 3: allowed=false remaining=0 retry=30s
	// 30s later: allowed=true
}

type userKey struct{}

func ExampleMiddleware() {
	limiter, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Heartbeat})
	if err != nil {
		panic(err)
	}
	limit := ratelimit.Middleware(limiter, ratelimit.MiddlewareConfig{
		// The host's authentication put the user ID in the context.
		KeyFunc: ratelimit.KeyByUser(func(r *http.Request) string {
			id, _ := r.Context().Value(userKey{}).(string)
			return id
		}),
	})
	heartbeat := limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))

	for i := 1; i <= 3; i++ {
		r := httptest.NewRequest(http.MethodPost, "/api/session/heartbeat", nil)
		r = r.WithContext(context.WithValue(r.Context(), userKey{}, "alice"))
		w := httptest.NewRecorder()
		heartbeat.ServeHTTP(w, r)
		fmt.Printf("%d RateLimit: %s Retry-After: %q\n", w.Code, w.Header().Get("RateLimit"), w.Header().Get("Retry-After"))
	}
	// Output:
	// 204 RateLimit: "heartbeat";r=1;t=30 Retry-After: ""
	// 204 RateLimit: "heartbeat";r=0;t=60 Retry-After: ""
	// 429 RateLimit: "heartbeat";r=0;t=30 Retry-After: "30"
}

func ExampleKeyByIPGroup() {
	// Requests reach the service through a load balancer in 10.0.0.0/8.
	key := ratelimit.KeyByIPGroup([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})

	viaProxy := httptest.NewRequest(http.MethodPost, "/login", nil)
	viaProxy.RemoteAddr = "10.0.0.5:41000"
	viaProxy.Header.Set("X-Forwarded-For", "203.0.113.7")

	direct := httptest.NewRequest(http.MethodPost, "/login", nil)
	direct.RemoteAddr = "198.51.100.4:5000"
	direct.Header.Set("X-Forwarded-For", "192.0.2.1") // written by the client: ignored

	ipv6 := httptest.NewRequest(http.MethodPost, "/login", nil)
	ipv6.RemoteAddr = "[2001:db8:7:8:aaaa::1]:443"

	for _, r := range []*http.Request{viaProxy, direct, ipv6} {
		k, err := key(r)
		fmt.Println(k, err)
	}
	// Output:
	// ip:203.0.113.7/32 <nil>
	// ip:198.51.100.4/32 <nil>
	// ip:2001:db8:7:8::/64 <nil>
}
