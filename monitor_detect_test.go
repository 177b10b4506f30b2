package secmon_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// With the built-in rules, an attack of 1,000 failed logins from one address
// over 50 minutes crosses brute_force_ip once per window; the Monitor merges
// every finding into one open alert.
func TestThousandFailedLoginsWithBuiltInRules(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	engine, err := detect.New(detect.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var notified int
	done := make(chan struct{}, 8)
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.Clock = clock
		c.Detector = engine
		c.Notifiers = []secmon.Notifier{secmon.NotifierFunc(func(context.Context, secmon.Alert) error {
			notified++ // only the notifier goroutine runs this
			done <- struct{}{}
			return nil
		})}
	})
	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.23")
	for i := range 1000 {
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: ip}); err != nil {
			t.Fatalf("Log %d: %v", i, err)
		}
		clock.Advance(3 * time.Second)
		if i%250 == 0 {
			mustFlush(t, m)
		}
	}
	mustFlush(t, m)
	alerts, err := st.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("open alerts = %d, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	s := m.Stats()
	findings := int64(s.AlertsOpened + s.AlertsSuppressed)
	if a.Rule != "brute_force_ip" || a.Subject != "ip:"+secmon.IPGroup(ip).String() || a.Count != findings || findings < 2 {
		t.Errorf("alert %s %s Count %d; want brute_force_ip for the address with Count = all %d findings (several windows)",
			a.Rule, a.Subject, a.Count, findings)
	}
	if s.AlertsOpened != 1 {
		t.Errorf("AlertsOpened = %d, want 1", s.AlertsOpened)
	}
	<-done
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if notified != 1 {
		t.Errorf("notified %d times, want once", notified)
	}
	t.Logf("findings merged into the alert: %d", findings)
}
