package secmon_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

// Log queues events without blocking; Close writes what is queued.
func ExampleMonitor_Log() {
	store := memstore.New()
	m, err := secmon.New(secmon.Config{Store: store})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 3 {
		err := m.Log(ctx, secmon.Event{
			Type:   secmon.EventLoginFailure,
			UserID: "alice",
			IP:     netip.MustParseAddr("203.0.113.7"),
		})
		if err != nil {
			fmt.Println("log:", err)
		}
	}
	if err := m.Close(ctx); err != nil {
		fmt.Println("close:", err)
	}
	events, _ := store.QueryEvents(ctx, secmon.EventQuery{UserID: "alice"})
	s := m.Stats()
	fmt.Println(len(events), "events stored;", s.EventsAccepted, "accepted,", s.EventsWritten, "written")
	fmt.Println(m.Log(ctx, secmon.Event{Type: secmon.EventLogout}))
	// Output:
	// 3 events stored; 3 accepted, 3 written
	// secmon: closed
}

// Findings for the same rule and subject merge into one alert whose Count
// grows, and Notifiers hear about it once.
func ExampleMonitor_Log_alerts() {
	store := memstore.New()
	m, err := secmon.New(secmon.Config{
		Store: store,
		// A toy rule: every failed login is a finding about its address.
		Detector: secmon.DetectorFunc(func(_ context.Context, e secmon.Event) ([]secmon.Finding, error) {
			if e.Type != secmon.EventLoginFailure {
				return nil, nil
			}
			return []secmon.Finding{{
				Rule: "failed_login", Subject: "ip:" + secmon.IPGroup(e.IP).String(),
				Severity: secmon.SeverityMedium, Summary: "failed login",
			}}, nil
		}),
		Notifiers: []secmon.Notifier{secmon.NotifierFunc(func(_ context.Context, a secmon.Alert) error {
			fmt.Println("notified:", a.Rule, a.Subject)
			return nil
		})},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 5 {
		_ = m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr("198.51.100.4")})
	}
	_ = m.Close(ctx)
	alerts, _ := store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	for _, a := range alerts {
		fmt.Println("alert:", a.Rule, a.Subject, "count", a.Count)
	}
	// Output:
	// notified: failed_login ip:198.51.100.4/32
	// alert: failed_login ip:198.51.100.4/32 count 5
}

// Heartbeats coalesce by session: many beats, one row per session per flush.
func ExampleMonitor_Heartbeat() {
	store := memstore.New()
	m, err := secmon.New(secmon.Config{Store: store})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 4 {
		for _, id := range []string{"s1", "s2"} {
			_ = m.Heartbeat(ctx, secmon.SessionBeat{SessionID: id, UserID: "u-" + id})
		}
	}
	_ = m.Close(ctx)
	sessions, _ := store.ActiveSessions(ctx, secmon.SessionQuery{})
	s := m.Stats()
	fmt.Println(s.HeartbeatsReceived, "beats,", s.HeartbeatsCoalesced, "coalesced,", len(sessions), "sessions stored")
	// Output:
	// 8 beats, 6 coalesced, 2 sessions stored
}
