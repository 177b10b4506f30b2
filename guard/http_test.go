package guard_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

func request(remote, xff string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Requests from a blocked address are refused with 403 (or 429 and
// Retry-After); others pass.
func TestMiddlewareRefuses(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	if _, err := f.g.Block(t.Context(), secmon.Block{Prefix: prefix("203.0.113.7/32"), Until: t0.Add(90 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	h := f.g.Middleware(guard.MiddlewareConfig{})(okHandler)
	if w := serve(h, request("203.0.113.7:5555", "")); w.Code != http.StatusForbidden || w.Body.String() != "Forbidden\n" ||
		w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("blocked request: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if w := serve(h, request("203.0.113.8:5555", "")); w.Code != http.StatusNoContent {
		t.Errorf("other request: %d", w.Code)
	}
	h429 := f.g.Middleware(guard.MiddlewareConfig{TooManyRequests: true})(okHandler)
	if w := serve(h429, request("203.0.113.7:5555", "")); w.Code != http.StatusTooManyRequests || w.Header().Get(guard.HeaderRetryAfter) != "90" {
		t.Errorf("429 mode: %d, Retry-After %q", w.Code, w.Header().Get(guard.HeaderRetryAfter))
	}
	var seen secmon.Block
	custom := f.g.Middleware(guard.MiddlewareConfig{OnBlocked: func(w http.ResponseWriter, _ *http.Request, b secmon.Block) {
		seen = b
		w.WriteHeader(http.StatusTeapot)
	}})(okHandler)
	if w := serve(custom, request("203.0.113.7:5555", "")); w.Code != http.StatusTeapot || seen.Subject != "ip:203.0.113.7/32" {
		t.Errorf("OnBlocked: %d, %+v", w.Code, seen)
	}
	// A block on the account refuses requests naming it.
	if _, err := f.g.Block(t.Context(), secmon.Block{UserID: "mallory"}); err != nil {
		t.Fatal(err)
	}
	byUser := f.g.Middleware(guard.MiddlewareConfig{UserID: func(r *http.Request) string { return r.Header.Get("X-User") }})(okHandler)
	r := request("192.0.2.1:1", "")
	r.Header.Set("X-User", "Mallory")
	if w := serve(byUser, r); w.Code != http.StatusForbidden {
		t.Errorf("blocked account: %d", w.Code)
	}
}

// A spoofed X-Forwarded-For can neither hide a blocked client nor get
// someone else's address checked; through a trusted proxy the header is
// believed, and the proxy itself is never refused.
func TestMiddlewareSpoofedForwardedFor(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	for _, p := range []string{"203.0.113.7/32", "198.51.100.9/32"} {
		if _, err := f.g.Block(t.Context(), secmon.Block{Prefix: prefix(p)}); err != nil {
			t.Fatal(err)
		}
	}
	proxies := []netip.Prefix{prefix("10.0.0.0/8")}
	h := f.g.Middleware(guard.MiddlewareConfig{TrustedProxies: proxies})(okHandler)
	for _, c := range []struct {
		name, remote, xff string
		want              int
	}{
		{"blocked client claiming another address", "203.0.113.7:1000", "192.0.2.50", http.StatusForbidden},
		{"blocked client claiming a trusted proxy", "203.0.113.7:1000", "10.0.0.1", http.StatusForbidden},
		{"innocent client naming a blocked address", "192.0.2.60:1000", "198.51.100.9", http.StatusNoContent},
		{"through the proxy, the blocked client", "10.0.0.1:1000", "198.51.100.9", http.StatusForbidden},
		{"through the proxy, spoofing a hop to the left", "10.0.0.1:1000", "192.0.2.50, 198.51.100.9", http.StatusForbidden},
		{"through the proxy, an innocent client", "10.0.0.1:1000", "192.0.2.61", http.StatusNoContent},
		{"the proxy itself", "10.0.0.1:1000", "", http.StatusNoContent},
	} {
		if w := serve(h, request(c.remote, c.xff)); w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
	}
	// Refusals never block anyone new.
	if s := f.g.Stats(); s.BlocksActive != 2 {
		t.Errorf("%d blocks after the requests, want the 2 set", s.BlocksActive)
	}
}

// Refused requests are logged as access_blocked without flooding: one
// event per subject and window, the refusals in between counted into the
// event that closes the window.
func TestAccessEventsDeduplicated(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) { c.AccessWindow = time.Minute })
	b, err := f.g.Block(t.Context(), secmon.Block{Prefix: prefix("203.0.113.7/32"), Reason: "abuse", By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	enf := f.g.Enforcer(guard.MiddlewareConfig{})
	h := enf.Middleware(okHandler)
	for range 1000 {
		serve(h, request("203.0.113.7:1", ""))
	}
	evs := f.events.of(secmon.EventAccessBlocked)
	if len(evs) != 1 || evs[0].Metadata["count"] != "1" || evs[0].Metadata["block_id"] != b.ID.String() || evs[0].IP != addr("203.0.113.7") {
		t.Fatalf("after 1,000 refusals in a window: %+v", evs)
	}
	f.clock.Advance(61 * time.Second)
	eventually(t, "the folded refusals logged", func() bool { return len(f.events.of(secmon.EventAccessBlocked)) == 2 })
	if e := f.events.of(secmon.EventAccessBlocked)[1]; e.Metadata["count"] != "999" || e.Metadata["window"] != "1m0s" {
		t.Errorf("closing event %+v, want count 999", e)
	}
	if s := f.g.Stats(); s.AccessEvents != 2 || s.AccessFolded != 999 {
		t.Errorf("stats %+v", s)
	}
	// A login handler checks the account it is about to verify.
	if _, err := f.g.Block(t.Context(), secmon.Block{UserID: "bob"}); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if !enf.Refuse(w, request("192.0.2.9:1", ""), "Bob") || w.Code != http.StatusForbidden {
		t.Errorf("Refuse for a blocked account: %d", w.Code)
	}
	if enf.Refuse(httptest.NewRecorder(), request("192.0.2.9:1", ""), "alice") {
		t.Error("Refuse for a free account")
	}
	last := f.events.of(secmon.EventAccessBlocked)
	if e := last[len(last)-1]; e.UserID != "Bob" || e.Metadata["scope"] != "user" {
		t.Errorf("account refusal event %+v", e)
	}
}

// The number of subjects whose refusals are being counted is bounded.
func TestAccessSubjectsBounded(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) { c.MaxAccessSubjects = 10 })
	if _, err := f.g.LoadList(guard.ListConfig{Name: "big"}, stringsReader("100.64.0.0/10\n")); err != nil {
		t.Fatal(err)
	}
	h := f.g.Middleware(guard.MiddlewareConfig{})(okHandler)
	for i := range 100 {
		ip := netip.AddrFrom4([4]byte{100, 64, 0, byte(i)})
		serve(h, request(netip.AddrPortFrom(ip, 1).String(), ""))
	}
	s := f.g.Stats()
	if s.AccessEvents != 10 || s.AccessDropped != 90 || s.ListRefusals != 100 {
		t.Errorf("stats %+v: want 10 events (one per client of the list, up to the cap) and 90 dropped", s)
	}
}
