package guard_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/store/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(testenv.M(m)) }

// t0 is the fake clock's start: whole seconds, so every store keeps it.
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// events records the security events a Guard logs.
type events struct {
	mu sync.Mutex
	ev []secmon.Event
}

func (r *events) Log(_ context.Context, e secmon.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	r.ev = append(r.ev, e)
	r.mu.Unlock()
	return nil
}

func (r *events) of(typ secmon.EventType) []secmon.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []secmon.Event
	for _, e := range r.ev {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

type fixture struct {
	g      *guard.Guard
	store  secmon.Store
	clock  *secmontest.Clock
	events *events
}

// setup returns a Guard over a fresh memstore with a fake clock, closed
// when t ends. mod may change the Config.
func setup(t *testing.T, mod func(*guard.Config)) *fixture {
	t.Helper()
	f := &fixture{store: memstore.New(), clock: secmontest.NewClock(t0), events: &events{}}
	cfg := guard.Config{Store: f.store, Clock: f.clock, Events: f.events, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	g, err := guard.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.g = g
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ready(t, g)
	return f
}

func ready(t testing.TB, g *guard.Guard) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func flush(t testing.TB, g *guard.Guard) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// eventually polls cond until it holds, failing after a generous limit. It
// waits for the guard's goroutines; it asserts nothing about how long
// they take.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// blocked reports whether Check refuses ip (no user).
func blocked(g *guard.Guard, ip string) bool {
	_, ok := g.Check(addr(ip), "")
	return ok
}

// bruteForce is a brute_force_ip finding about ip, as detect reports it.
func bruteForce(ip string) secmon.Finding {
	grp := secmon.IPGroup(addr(ip))
	return secmon.Finding{
		Rule: "brute_force_ip", Subject: "ip:" + grp.String(), Severity: secmon.SeverityHigh,
		Summary:  "5 failed logins from " + grp.String() + " within 10m0s",
		Evidence: map[string]string{"count": "5"},
		Action:   secmon.Action{Kind: secmon.ActionBlock, Duration: 15 * time.Minute},
		Time:     t0,
		Sources:  []secmon.Source{{Group: grp, Count: 5}},
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func setupStore() secmon.Store { return memstore.New() }
