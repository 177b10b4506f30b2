package memstore_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

func Example() {
	ctx := context.Background()
	store := memstore.New()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	var events []secmon.Event
	for i := range 5 {
		events = append(events, secmon.Event{
			ID: secmon.NewID(), Time: t0.Add(time.Duration(i) * time.Second),
			Type: secmon.EventLoginFailure, Severity: secmon.SeverityMedium,
			UserID: "alice", IP: netip.MustParseAddr("203.0.113.7"),
		})
	}
	if err := store.InsertEvents(ctx, events); err != nil {
		fmt.Println(err)
		return
	}
	// A retried batch is harmless.
	_ = store.InsertEvents(ctx, events)

	failures, _ := store.QueryEvents(ctx, secmon.EventQuery{
		Types: []secmon.EventType{secmon.EventLoginFailure},
		IP:    netip.MustParsePrefix("203.0.113.0/24"),
		Limit: 2,
	})
	for _, e := range failures {
		fmt.Println(e.Time.Format(time.TimeOnly), e.Type, e.UserID)
	}

	sum, _ := store.Summary(ctx, t0, t0.Add(time.Hour))
	fmt.Println("events:", sum.Events, "login failures:", sum.LoginFailures)
	// Output:
	// 09:00:04 login_failure alice
	// 09:00:03 login_failure alice
	// events: 5 login failures: 5
}

func ExampleStore_UpsertAlerts() {
	ctx := context.Background()
	store := memstore.New()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	// Three findings for the same (rule, subject) make one open alert.
	for i := range 3 {
		at := now.Add(time.Duration(i) * time.Minute)
		_ = store.UpsertAlerts(ctx, []secmon.Alert{{
			Rule: "brute_force_ip", Subject: "ip:203.0.113.7/32",
			Severity: secmon.SeverityHigh, Count: 1, LastSeen: at,
			Summary: fmt.Sprintf("%d failed logins", 10*(i+1)),
		}})
	}
	alerts, _ := store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	for _, a := range alerts {
		fmt.Println(a.Rule, a.Subject, a.Count, a.Summary)
	}
	// Output:
	// brute_force_ip ip:203.0.113.7/32 3 30 failed logins
}
