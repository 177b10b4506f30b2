package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/limittest"
)

// TestAuditHeartbeatSpam is the audit's acceptance test: an authenticated
// client spamming the heartbeat endpoint 100 times gets 429 with a
// Retry-After from the third request on.
func TestAuditHeartbeatSpam(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, MemoryConfig{Policy: Heartbeat, Clock: clk})
	h := limittest.WithUser(Middleware(m, MiddlewareConfig{KeyFunc: KeyByUser(limittest.User)})(limittest.OK))
	for i := 1; i <= 100; i++ {
		rec := limittest.Serve(h, limittest.UserRequest("/api/session/heartbeat", "alice"))
		if i <= 2 {
			if rec.Code != http.StatusOK {
				t.Fatalf("heartbeat %d: status %d, want 200", i, rec.Code)
			}
			continue
		}
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("heartbeat %d: status %d, want 429", i, rec.Code)
		}
		ra, err := strconv.Atoi(rec.Header().Get(HeaderRetryAfter))
		if err != nil || ra < 1 || ra > 30 {
			t.Fatalf("heartbeat %d: Retry-After %q, want 1..30 seconds", i, rec.Header().Get(HeaderRetryAfter))
		}
	}
	// Another user is not affected, and alice may beat again 30s later.
	if rec := limittest.Serve(h, limittest.UserRequest("/api/session/heartbeat", "bob")); rec.Code != http.StatusOK {
		t.Fatalf("bob: status %d", rec.Code)
	}
	clk.Advance(30 * time.Second)
	if rec := limittest.Serve(h, limittest.UserRequest("/api/session/heartbeat", "alice")); rec.Code != http.StatusOK {
		t.Fatalf("alice after 30s: status %d", rec.Code)
	}
}

// TestAuditActivityLimit: the activity endpoint allows 20 per minute per user.
func TestAuditActivityLimit(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, MemoryConfig{Policy: Activity, Clock: clk})
	h := limittest.WithUser(Middleware(m, MiddlewareConfig{KeyFunc: KeyByUser(limittest.User)})(limittest.OK))
	for minute := range 3 {
		for i := 1; i <= 21; i++ {
			rec := limittest.Serve(h, limittest.UserRequest("/api/activity", "alice"))
			if want := map[bool]int{true: 200, false: 429}[i <= 20]; rec.Code != want {
				t.Fatalf("minute %d, request %d: status %d, want %d", minute, i, rec.Code, want)
			}
		}
		clk.Advance(time.Minute)
	}
}

func TestMiddlewareHeaders(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	m := newMemory(t, MemoryConfig{Policy: Heartbeat, Clock: clk})
	h := limittest.WithUser(Middleware(m, MiddlewareConfig{KeyFunc: KeyByUser(limittest.User)})(limittest.OK))
	want := []struct {
		code                        int
		rateLimit, retryAfter, body string
	}{
		{200, `"heartbeat";r=1;t=30`, "", "ok"},
		{200, `"heartbeat";r=0;t=60`, "", "ok"},
		{429, `"heartbeat";r=0;t=30`, "30", "Too Many Requests\n"},
	}
	for i, w := range want {
		r := limittest.UserRequest("/hb", "carol")
		// Hostile request headers must never come back.
		r.Header.Set(HeaderRateLimit, "evil")
		r.Header.Set(HeaderRateLimitPolicy, "evil")
		r.Header.Set(HeaderRetryAfter, "evil")
		rec := limittest.Serve(h, r)
		got := rec.Header()
		if rec.Code != w.code || got.Get(HeaderRateLimitPolicy) != `"heartbeat";q=2;w=60` ||
			got.Get(HeaderRateLimit) != w.rateLimit || got.Get(HeaderRetryAfter) != w.retryAfter || rec.Body.String() != w.body {
			t.Fatalf("request %d: %d %v %q", i+1, rec.Code, got, rec.Body.String())
		}
		for name, vs := range got {
			for _, v := range vs {
				if strings.Contains(v, "evil") || strings.Contains(v, "carol") {
					t.Fatalf("request %d: header %s echoes the request: %q", i+1, name, v)
				}
			}
		}
	}
}

func TestMiddlewareOnDeniedLogsEvent(t *testing.T) {
	t.Parallel()
	m := newMemory(t, MemoryConfig{Policy: Policy{Name: "api", Limit: 1, Period: time.Hour}})
	var logged []secmon.Event
	logger := secmon.LoggerFunc(func(_ context.Context, e secmon.Event) error {
		logged = append(logged, e)
		return nil
	})
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	h := Middleware(m, MiddlewareConfig{
		KeyFunc: KeyByIPGroup(trusted),
		OnDenied: func(w http.ResponseWriter, r *http.Request, d secmon.Decision) {
			_ = logger.Log(r.Context(), secmon.Event{
				Type:     secmon.EventRateLimited,
				Severity: secmon.SeverityLow,
				IP:       secmon.ClientIP(r, trusted),
				Metadata: map[string]string{"policy": "api", "retry_after_s": strconv.FormatInt(ceilSeconds(d.RetryAfter), 10)},
			})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"rate_limited"}`))
		},
	})(limittest.OK)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "198.51.100.9:4000"
	limittest.Serve(h, r)
	rec := limittest.Serve(h, r)
	if rec.Code != 429 || rec.Body.String() != `{"error":"rate_limited"}` || rec.Header().Get(HeaderRetryAfter) != "3600" {
		t.Fatalf("denied response: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if len(logged) != 1 || logged[0].Type != secmon.EventRateLimited || logged[0].IP != netip.MustParseAddr("198.51.100.9") {
		t.Fatalf("logged %+v, want one rate_limited event from 198.51.100.9", logged)
	}
}

func TestKeyByIPGroupIgnoresSpoofedForwarding(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	kf := KeyByIPGroup(trusted)
	key := func(remote string, xff ...string) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		for _, v := range xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		k, err := kf(r)
		if err != nil {
			t.Fatalf("key for %s %v: %v", remote, xff, err)
		}
		return k
	}
	base := key("203.0.113.7:5555")
	if base != "ip:203.0.113.7/32" {
		t.Fatalf("key %q", base)
	}
	for _, xff := range [][]string{{"1.2.3.4"}, {"10.0.0.1"}, {"1.1.1.1, 2.2.2.2"}, {"garbage"}, {"1.2.3.4", "5.6.7.8"}} {
		if k := key("203.0.113.7:5555", xff...); k != base {
			t.Fatalf("untrusted peer with X-Forwarded-For %v keyed %q, want %q", xff, k, base)
		}
	}
	// Behind a trusted proxy the forwarded client is the key.
	if k := key("10.1.2.3:80", "198.51.100.20"); k != "ip:198.51.100.20/32" {
		t.Fatalf("via trusted proxy: %q", k)
	}
	// One IPv6 /64 is one key.
	a, b := key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:2")
	if a != b || a != "ip:2001:db8:1:2::/64" {
		t.Fatalf("IPv6 keys %q and %q, want one /64", a, b)
	}

	// End to end: a spoofing client does not get a fresh bucket per header.
	m := newMemory(t, MemoryConfig{Policy: Login})
	h := Middleware(m, MiddlewareConfig{KeyFunc: kf})(limittest.OK)
	denied := 0
	for i := range 20 {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.RemoteAddr = "203.0.113.7:5555"
		r.Header.Set("X-Forwarded-For", "192.0.2."+strconv.Itoa(i))
		if limittest.Serve(h, r).Code == http.StatusTooManyRequests {
			denied++
		}
	}
	if denied != 10 {
		t.Fatalf("%d of 20 spoofed logins denied, want 10", denied)
	}
}

func TestMiddlewareErrors(t *testing.T) {
	t.Parallel()
	m := newMemory(t, MemoryConfig{Policy: Activity, MaxKeyLen: 16})
	// No user: KeyByUser reports ErrNoKey and the default answer is 401,
	// with no rate-limit headers (no bucket was asked).
	h := Middleware(m, MiddlewareConfig{KeyFunc: KeyByUser(limittest.User)})(limittest.OK)
	if rec := limittest.Serve(h, httptest.NewRequest(http.MethodGet, "/", nil)); rec.Code != http.StatusUnauthorized || rec.Body.String() == "ok" || rec.Header().Get(HeaderRateLimit) != "" {
		t.Fatalf("anonymous request: %d %q %v, want 401", rec.Code, rec.Body, rec.Header())
	}
	// Another key error is still a server error.
	failing := func(*http.Request) (string, error) { return "", errors.New("session store down") }
	h = Middleware(m, MiddlewareConfig{KeyFunc: failing})(limittest.OK)
	if rec := limittest.Serve(h, httptest.NewRequest(http.MethodGet, "/", nil)); rec.Code != http.StatusInternalServerError {
		t.Fatalf("failing KeyFunc: %d, want 500", rec.Code)
	}
	// OnError overrides the 401.
	h = Middleware(m, MiddlewareConfig{KeyFunc: KeyByUser(limittest.User),
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) bool {
			if errors.Is(err, ErrNoKey) {
				w.WriteHeader(http.StatusForbidden)
			}
			return false
		}})(limittest.OK)
	if rec := limittest.Serve(h, httptest.NewRequest(http.MethodGet, "/", nil)); rec.Code != http.StatusForbidden {
		t.Fatalf("anonymous request with OnError: %d, want 403", rec.Code)
	}
	// A custom OnError may let the request through.
	var seen error
	h = limittest.WithUser(Middleware(m, MiddlewareConfig{
		KeyFunc: KeyByUser(limittest.User),
		OnError: func(_ http.ResponseWriter, _ *http.Request, err error) bool { seen = err; return true },
	})(limittest.OK))
	if rec := limittest.Serve(h, limittest.UserRequest("/", strings.Repeat("x", 40))); rec.Code != 200 || !errors.Is(seen, ErrKeyTooLong) {
		t.Fatalf("long key with passing OnError: %d, err %v", rec.Code, seen)
	}
	// A nil limiter is an error for every request, not a panic.
	h = Middleware(nil, MiddlewareConfig{})(limittest.OK)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if rec := limittest.Serve(h, r); rec.Code != http.StatusInternalServerError {
		t.Fatalf("nil limiter: %d", rec.Code)
	}
}

func TestMiddlewareDegradedHeaders(t *testing.T) {
	t.Parallel()
	open := secmon.RateLimiterFunc(func(context.Context, string) (secmon.Decision, error) {
		return secmon.Decision{Allowed: true, Limit: 2, Degraded: secmon.DegradedFailOpen}, nil
	})
	h := Middleware(open, MiddlewareConfig{KeyFunc: func(*http.Request) (string, error) { return "k", nil }, Policy: Heartbeat})(limittest.OK)
	rec := limittest.Serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 || rec.Header().Get(HeaderRateLimit) != "" || rec.Header().Get(HeaderRateLimitPolicy) != `"heartbeat";q=2;w=60` {
		t.Fatalf("fail-open response: %d %v", rec.Code, rec.Header())
	}
	closed := secmon.RateLimiterFunc(func(context.Context, string) (secmon.Decision, error) {
		return secmon.Decision{Limit: 2, RetryAfter: 1500 * time.Millisecond, Degraded: secmon.DegradedFailClosed}, nil
	})
	h = Middleware(closed, MiddlewareConfig{KeyFunc: func(*http.Request) (string, error) { return "k", nil }})(limittest.OK)
	rec = limittest.Serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 429 || rec.Header().Get(HeaderRetryAfter) != "2" || rec.Header().Get(HeaderRateLimit) != `"default";r=0;t=2` || rec.Header().Get(HeaderRateLimitPolicy) != "" {
		t.Fatalf("fail-closed response: %d %v", rec.Code, rec.Header())
	}
}

func TestFormatPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Heartbeat, `"heartbeat";q=2;w=60`},
		{Policy{Name: "x", Limit: 5, Period: time.Hour}, `"x";q=5;w=3600`},
		{Policy{Name: "sub", Limit: 5, Period: 100 * time.Millisecond}, `"sub";q=50;w=1`},
		{Policy{Name: "odd", Limit: 3, Period: 1500 * time.Millisecond}, `"odd";q=4;w=2`},
	} {
		p, err := tc.p.WithDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if got := formatPolicy(p); got != tc.want {
			t.Errorf("formatPolicy(%+v) = %s, want %s", tc.p, got, tc.want)
		}
	}
	if got := ceilSeconds(time.Duration(1<<63 - 1)); got != 9223372037 {
		t.Errorf("ceilSeconds(max) = %d", got)
	}
}

// FuzzKeyByIPGroup feeds hostile peer addresses and forwarding headers to
// the key function: it must not panic, keys must be IP-group keys, and an
// untrusted peer's key must not depend on the headers it sends.
func FuzzKeyByIPGroup(f *testing.F) {
	f.Add("203.0.113.7:1234", "1.2.3.4")
	f.Add("10.0.0.1:80", "198.51.100.1, 10.0.0.2")
	f.Add("[2001:db8::1]:443", "::ffff:1.2.3.4")
	f.Add("[fe80::1%eth0]:1", "")
	f.Add("garbage", "x, y, , ,")
	f.Add("10.9.9.9:1", strings.Repeat("1.1.1.1,", 200))
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	kf := KeyByIPGroup(trusted)
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		bare, bareErr := kf(r)
		r.Header.Set("X-Forwarded-For", xff)
		k, err := kf(r)
		if err != nil {
			if !errors.Is(err, ErrNoKey) {
				t.Fatalf("error %v is not ErrNoKey", err)
			}
			return
		}
		p, perr := netip.ParsePrefix(strings.TrimPrefix(k, "ip:"))
		if !strings.HasPrefix(k, "ip:") || perr != nil || (p.Bits() != 32 && p.Bits() != 64) {
			t.Fatalf("key %q is not an IP group", k)
		}
		if bareErr == nil {
			peer, _ := netip.ParsePrefix(strings.TrimPrefix(bare, "ip:"))
			if !trusted[0].Contains(peer.Addr()) && k != bare {
				t.Fatalf("untrusted peer %q: key %q with X-Forwarded-For, %q without", remote, k, bare)
			}
		}
	})
}

func TestMiddlewarePolicySource(t *testing.T) {
	t.Parallel()
	m := newMemory(t, MemoryConfig{Policy: Upload})
	kf := func(*http.Request) (string, error) { return "k", nil }
	for _, tc := range []struct {
		opt  Policy
		want string
	}{
		{Policy{}, `"upload";q=10;w=60`},                                          // the limiter's own
		{Policy{Name: "bad name", Limit: 1}, `"upload";q=10;w=60`},                // invalid: ignored
		{Policy{Name: "shown", Limit: 5, Period: time.Second}, `"shown";q=5;w=1`}, // explicit
	} {
		h := Middleware(m, MiddlewareConfig{KeyFunc: kf, Policy: tc.opt})(limittest.OK)
		rec := limittest.Serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
		if got := rec.Header().Get(HeaderRateLimitPolicy); got != tc.want {
			t.Errorf("Policy %+v: RateLimit-Policy %q, want %q", tc.opt, got, tc.want)
		}
	}
}

// TestMiddlewareDenyWithoutRetryAfter checks that a denial from a limiter
// that leaves RetryAfter zero still tells the client to wait: Retry-After
// and the RateLimit header's t agree on at least one second.
func TestMiddlewareDenyWithoutRetryAfter(t *testing.T) {
	t.Parallel()
	deny := secmon.RateLimiterFunc(func(context.Context, string) (secmon.Decision, error) {
		return secmon.Decision{Limit: 5}, nil
	})
	h := Middleware(deny, MiddlewareConfig{KeyFunc: func(*http.Request) (string, error) { return "k", nil }})(limittest.OK)
	rec := limittest.Serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 429 || rec.Header().Get(HeaderRetryAfter) != "1" || rec.Header().Get(HeaderRateLimit) != `"default";r=0;t=1` {
		t.Fatalf("denial with zero RetryAfter: %d %v", rec.Code, rec.Header())
	}
}

// TestKeyByIPGroupNoAddress checks that a peer address that is not an IP
// (a Unix socket listener's "@" or an empty one) is ErrNoKey, refused with
// 401 by the default OnError, and is not believed from X-Forwarded-For either.
func TestKeyByIPGroupNoAddress(t *testing.T) {
	t.Parallel()
	m := newMemory(t, MemoryConfig{Policy: Login})
	h := Middleware(m, MiddlewareConfig{KeyFunc: KeyByIPGroup(nil)})(limittest.OK)
	for _, addr := range []string{"@", "", "not-an-ip:80"} {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if _, err := KeyByIPGroup(nil)(r); !errors.Is(err, ErrNoKey) {
			t.Errorf("RemoteAddr %q: err %v, want ErrNoKey", addr, err)
		}
		if rec := limittest.Serve(h, r); rec.Code != http.StatusUnauthorized || rec.Body.String() == "ok" {
			t.Errorf("RemoteAddr %q: %d %q, want refused with 401", addr, rec.Code, rec.Body)
		}
	}
}

// observed is one call of an Observer.
type observed struct {
	policy   string
	outcome  Outcome
	degraded secmon.Degradation
}

type recordingObserver struct {
	mu  sync.Mutex
	got []observed
}

func (o *recordingObserver) ObserveRateLimit(policy string, outcome Outcome, degraded secmon.Degradation) {
	o.mu.Lock()
	o.got = append(o.got, observed{policy, outcome, degraded})
	o.mu.Unlock()
}

// TestMiddlewareObserver checks that the Observer hears of every answered
// request with its policy, outcome and degradation, whether the handler ran
// or not.
func TestMiddlewareObserver(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	m := newMemory(t, MemoryConfig{Policy: Policy{Name: "tight", Limit: 1, Period: time.Hour, Burst: 1}})
	h := limittest.WithUser(Middleware(m, MiddlewareConfig{KeyFunc: KeyByUser(limittest.User), Observer: obs})(limittest.OK))
	limittest.Serve(h, limittest.UserRequest("/", "alice"))           // allowed
	limittest.Serve(h, limittest.UserRequest("/", "alice"))           // denied
	limittest.Serve(h, httptest.NewRequest(http.MethodGet, "/", nil)) // no user: no key
	failOpen := secmon.RateLimiterFunc(func(context.Context, string) (secmon.Decision, error) {
		return secmon.Decision{Allowed: true, Degraded: secmon.DegradedFailOpen}, nil
	})
	h2 := Middleware(failOpen, MiddlewareConfig{Observer: obs})(limittest.OK)
	limittest.Serve(h2, httptest.NewRequest(http.MethodGet, "/", nil)) // allowed while degraded, policy "default"
	broken := secmon.RateLimiterFunc(func(context.Context, string) (secmon.Decision, error) {
		return secmon.Decision{}, errors.New("store down")
	})
	h3 := Middleware(broken, MiddlewareConfig{Policy: Login, Observer: obs, OnError: func(http.ResponseWriter, *http.Request, error) bool { return true }})(limittest.OK)
	if rec := limittest.Serve(h3, httptest.NewRequest(http.MethodGet, "/", nil)); rec.Body.String() != "ok" {
		t.Fatalf("OnError let the request through, but the handler did not run: %d", rec.Code)
	}
	want := []observed{
		{"tight", OutcomeAllowed, ""},
		{"tight", OutcomeDenied, ""},
		{"tight", OutcomeNoKey, ""},
		{"default", OutcomeAllowed, secmon.DegradedFailOpen},
		{"login", OutcomeError, ""},
	}
	if diff := cmp.Diff(want, obs.got, cmp.AllowUnexported(observed{})); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	for o, name := range map[Outcome]string{OutcomeAllowed: "allowed", OutcomeDenied: "denied", OutcomeNoKey: "no_key", OutcomeError: "error", 9: "outcome(9)"} {
		if o.String() != name {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, o.String(), name)
		}
	}
}
