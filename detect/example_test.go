package detect_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// Five failed logins from addresses inside one IPv6 /64 within ten minutes
// cross the brute_force_ip threshold once (fail2ban's defaults: maxretry 5,
// findtime 10 minutes).
func Example() {
	engine, err := detect.New(detect.Config{}) // the built-in rules, in-memory counters
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range 30 {
		fs, err := engine.Observe(context.Background(), secmon.Event{
			Time: start.Add(time.Duration(i) * 5 * time.Second),
			Type: secmon.EventLoginFailure,
			IP:   netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)),
		})
		if err != nil {
			panic(err)
		}
		for _, f := range fs {
			fmt.Println(f.Rule, f.Subject, f.Severity, f.Action.Kind, f.Action.Duration)
			fmt.Println(f.Summary)
		}
	}
	fmt.Println("suppressed repeats:", engine.Stats().Suppressed)
	// Output:
	// brute_force_ip ip:2001:db8:1:2::/64 high block 15m0s
	// 5 failed logins from 2001:db8:1:2::/64 within 10m0s
	// suppressed repeats: 25
}

// Rules are structs with thresholds a host may change before New.
func ExampleBruteForceAccount() {
	engine, err := detect.New(detect.Config{Rules: []detect.Rule{
		&detect.BruteForceAccount{Threshold: 3, Window: time.Minute},
	}})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		fs, _ := engine.Observe(context.Background(), secmon.Event{
			Time:   start.Add(time.Duration(i) * 10 * time.Second),
			Type:   secmon.EventLoginFailure,
			UserID: "alice",
		})
		for _, f := range fs {
			fmt.Println(f.Rule, f.Subject, f.Action.Kind, f.Evidence["count"])
		}
	}
	// Output:
	// brute_force_account user:alice step_up 3
}

// A recorded stream replays with its own timestamps.
func ExampleReplay() {
	stream := `# Paris, then Sydney an hour later
{"time":"2026-03-02T09:00:00Z","type":"login_success","user_id":"dave","geo":{"country":"FR","lat":48.86,"lon":2.35,"accuracy_km":20}}
{"time":"2026-03-02T10:00:00Z","type":"login_success","user_id":"dave","geo":{"country":"AU","lat":-33.87,"lon":151.21,"accuracy_km":20}}
`
	events, err := detect.ReadEvents(strings.NewReader(stream), 100)
	if err != nil {
		panic(err)
	}
	engine, _ := detect.New(detect.Config{Rules: []detect.Rule{&detect.ImpossibleTravel{}}})
	findings, err := detect.Replay(context.Background(), engine, events)
	if err != nil {
		panic(err)
	}
	for _, f := range findings {
		fmt.Println(f.Rule, f.Subject, f.Evidence["from_country"], "->", f.Evidence["to_country"], f.Evidence["speed_kmh"], "km/h")
	}
	// Output:
	// impossible_travel user:dave FR -> AU 16921 km/h
}
