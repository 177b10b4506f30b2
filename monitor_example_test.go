package secmon_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

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

// TrackActivity accepts allowlisted actions and can rate-limit each user.
func ExampleMonitor_TrackActivity() {
	store := memstore.New()
	m, err := secmon.New(secmon.Config{
		Store:          store,
		AllowedActions: []string{"page_view", "export_data"},
		// A toy limiter: every user may export twice.
		ActivityLimiter: func() secmon.RateLimiter {
			used := map[string]int{}
			return secmon.RateLimiterFunc(func(_ context.Context, key string) (secmon.Decision, error) {
				used[key]++
				if used[key] > 2 {
					return secmon.Decision{Allowed: false, Limit: 2, RetryAfter: time.Minute}, nil
				}
				return secmon.Decision{Allowed: true, Limit: 2, Remaining: 2 - used[key]}, nil
			})
		}(),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, action := range []string{"export_data", "export_data", "export_data", "drop_tables"} {
		err := m.TrackActivity(ctx, secmon.Activity{UserID: "alice", Action: action, Resource: "report:42"})
		var limited *secmon.RateLimitedError
		switch {
		case err == nil:
			fmt.Println(action, "recorded")
		case errors.As(err, &limited):
			fmt.Println(action, "rate limited; retry after", limited.RetryAfter)
		case errors.Is(err, secmon.ErrActionNotAllowed):
			fmt.Println(action, "not allowed")
		}
	}
	_ = m.Close(ctx)
	rows, _ := store.Activities(ctx, secmon.ActivityQuery{UserID: "alice"})
	fmt.Println(len(rows), "activities stored")
	// Output:
	// export_data recorded
	// export_data recorded
	// export_data rate limited; retry after 1m0s
	// drop_tables not allowed
	// 2 activities stored
}

// slowDetector stands for a Detector that waits on a network service for
// every event, such as detect.Engine over Redis counters. It says so, and
// the Monitor runs it on its detection worker instead of in Log.
type slowDetector struct{}

func (slowDetector) ObserveBlocks() bool { return true }

func (slowDetector) Observe(ctx context.Context, e secmon.Event) ([]secmon.Finding, error) {
	select { // a network round trip
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.Type != secmon.EventLoginFailure {
		return nil, nil
	}
	return []secmon.Finding{{
		Rule: "failed_login", Subject: "ip:" + secmon.IPGroup(e.IP).String(),
		Severity: secmon.SeverityMedium, Summary: "failed login",
	}}, nil
}

// A BlockingDetector runs on the Monitor's detection worker: Log only
// queues a copy of the event for it. Close lets the worker finish and
// writes the alerts its last findings raised.
func ExampleBlockingDetector() {
	store := memstore.New()
	m, err := secmon.New(secmon.Config{Store: store, Detector: slowDetector{}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 20 {
		_ = m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr("198.51.100.4")})
	}
	if err := m.Close(ctx); err != nil {
		fmt.Println("close:", err)
	}
	alerts, _ := store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	for _, a := range alerts {
		fmt.Println("alert:", a.Rule, a.Subject, "count", a.Count)
	}
	fmt.Println("not observed:", m.Stats().DetectDropped)
	// Output:
	// alert: failed_login ip:198.51.100.4/32 count 20
	// not observed: 0
}
