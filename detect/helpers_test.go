package detect

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func event(at time.Duration, typ secmon.EventType, ip, user string) secmon.Event {
	e := secmon.Event{Time: t0.Add(at), Type: typ, UserID: user}
	if ip != "" {
		e.IP = netip.MustParseAddr(ip)
	}
	return e
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// pairs returns "rule subject" for each finding, sorted.
func pairs(fs []secmon.Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, string(f.Rule)+" "+f.Subject)
	}
	slices.Sort(out)
	return out
}

func only(fs []secmon.Finding, rule secmon.RuleName) []secmon.Finding {
	var out []secmon.Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func replayAll(t *testing.T, d secmon.Detector, events []secmon.Event) []secmon.Finding {
	t.Helper()
	fs, err := Replay(context.Background(), d, events)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return fs
}
