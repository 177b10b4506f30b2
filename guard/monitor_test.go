package guard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/secmontest"
)

// detectLoop returns a ready guard on a test clock, recording into a
// Recorder, and a Monitor (closed when t ends) with a detection engine that
// hands the guard its findings and flushes every flushInterval (0: the
// default).
func detectLoop(t *testing.T, flushInterval time.Duration) (*guard.Guard, *secmon.Monitor, *secmontest.Recorder, *secmontest.Clock) {
	t.Helper()
	clock := secmontest.NewClock(t0)
	rec := secmontest.NewRecorder()
	g := newGuard(t, rec, clock, nil)
	ready(t, g)
	engine, err := detect.New(detect.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	mon, err := secmon.New(secmon.Config{
		Store: rec, Detector: engine, Clock: clock, FlushInterval: flushInterval,
		FindingHandlers: []secmon.FindingHandler{g},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close(context.Background()) })
	return g, mon, rec, clock
}

// The whole loop with a real Monitor: failed logins become a finding, the
// finding a block that the middleware enforces at once, and the block, the
// refusals and the lift are security events whose metadata survives the
// default privacy policy.
func TestMonitorLoop(t *testing.T) {
	t.Parallel()
	g, mon, rec, clock := detectLoop(t, time.Hour)
	g.SetEvents(mon)

	h := g.Middleware(guard.MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = mon.Log(r.Context(), secmon.Event{Type: secmon.EventLoginFailure, IP: secmon.ClientIP(r, nil), UserID: "bob"})
		w.WriteHeader(http.StatusUnauthorized)
	}))
	codes := map[int]int{}
	for range 8 {
		clock.Advance(10 * time.Second)
		codes[serve(h, request("203.0.113.7:4444", "")).Code]++
		flush(t, g) // the block is decided off the caller's goroutine
	}
	if codes[http.StatusUnauthorized] != 5 || codes[http.StatusForbidden] != 3 {
		t.Fatalf("responses %v: want 5 failed logins, then refusals", codes)
	}
	b, ok := g.Check(addr("203.0.113.7"), "")
	if !ok {
		t.Fatal("not blocked")
	}
	clock.Advance(time.Second)
	if err := g.Lift(t.Context(), b.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	flush(t, g)
	if err := mon.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	blockedEv := rec.RequireEvent(t, secmon.Event{Type: secmon.EventIPBlocked, IP: addr("203.0.113.7")})
	for _, k := range []string{"block_id", "scope", "origin", "level", "until", "duration", "rule", "reason", "actor_id", "prefix_len"} {
		if blockedEv.Metadata[k] == "" {
			t.Errorf("ip_blocked lost metadata %q to the privacy policy: %v", k, blockedEv.Metadata)
		}
	}
	if blockedEv.Metadata["block_id"] != b.ID.String() {
		t.Errorf("block_id %q, want %s (a UUID must not be redacted)", blockedEv.Metadata["block_id"], b.ID)
	}
	access := rec.RequireEvent(t, secmon.Event{Type: secmon.EventAccessBlocked, IP: addr("203.0.113.7")})
	if access.Metadata["block_id"] != b.ID.String() || access.Metadata["count"] != "1" {
		t.Errorf("access_blocked %v", access.Metadata)
	}
	lifted := rec.RequireEvent(t, secmon.Event{Type: secmon.EventBlockLifted})
	if lifted.Metadata["actor_id"] != "alice" {
		t.Errorf("block_lifted %v", lifted.Metadata)
	}
	rec.RequireAlert(t, detect.RuleBruteForceIP, "ip:203.0.113.7/32")
	if n := rec.Calls("PutBlocks"); n == 0 {
		t.Error("the block was never written")
	}
}

// Example-style wiring, checked: the Guard must exist before the Monitor
// that hands it findings.
func TestWiringOrder(t *testing.T) {
	t.Parallel()
	rec := secmontest.NewRecorder()
	g := newGuard(t, rec, nil, nil)
	mon, err := secmon.New(secmon.Config{Store: rec, FindingHandlers: []secmon.FindingHandler{g}})
	if err != nil {
		t.Fatal(err)
	}
	g.SetEvents(mon)
	if _, err := g.Block(t.Context(), secmon.Block{Prefix: prefix("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	if err := mon.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The Monitor is closed: the guard's events are refused and counted.
	w := httptest.NewRecorder()
	g.Enforcer(guard.MiddlewareConfig{}).Refuse(w, request("192.0.2.1:1", ""), "")
	if g.Stats().EventErrors == 0 {
		t.Error("an event refused by a closed Monitor was not counted")
	}
}

// A client that forges X-Forwarded-For to name a victim's address gets
// itself blocked, not the victim: the failures are counted against the
// address ClientIP believes, and only trusted proxies' headers are read.
func TestSpoofedForwardedForBlocksTheSpoofer(t *testing.T) {
	t.Parallel()
	g, mon, _, clock := detectLoop(t, 0)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	h := g.Middleware(guard.MiddlewareConfig{TrustedProxies: trusted})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = mon.Log(r.Context(), secmon.Event{Type: secmon.EventLoginFailure, IP: secmon.ClientIP(r, trusted), UserID: "bob"})
		w.WriteHeader(http.StatusUnauthorized)
	}))
	for range 6 {
		clock.Advance(5 * time.Second)
		serve(h, request("203.0.113.7:1234", "192.0.2.50"))             // direct, forging the victim's address
		serve(h, request("10.0.0.3:1234", "192.0.2.50, 198.51.100.44")) // through the proxy, forging a hop to the left
		flush(t, g)
	}
	for ip, want := range map[string]bool{"203.0.113.7": true, "198.51.100.44": true, "192.0.2.50": false, "10.0.0.3": false} {
		if blocked(g, ip) != want {
			t.Errorf("%s blocked = %v, want %v", ip, !want, want)
		}
	}
}
