package secmontest_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/secmontest"
)

func ExampleRecorder() {
	rec := secmontest.NewRecorder()
	clock := secmontest.NewClock(time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))
	mon, _ := secmon.New(secmon.Config{Store: rec, Clock: clock})
	ctx := context.Background()

	for i := 0; i < 100; i++ {
		_ = mon.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s1", UserID: "alice"})
		clock.Advance(time.Second)
	}
	_ = mon.Log(ctx, secmon.Event{Type: secmon.EventLogout, UserID: "alice"})
	_ = mon.Close(ctx)

	fmt.Println("UpsertSessions calls:", rec.Calls("UpsertSessions"), "rows:", rec.Rows("UpsertSessions"))
	fmt.Println("events:", len(rec.Events()), rec.Events()[0].Type, rec.Events()[0].Time.Format(time.TimeOnly))
	// Output:
	// UpsertSessions calls: 1 rows: 1
	// events: 1 logout 03:01:40
}

func ExampleClock() {
	clock := secmontest.NewClock(time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))
	clock.Advance(90 * time.Second)
	fmt.Println(clock.Now().Format(time.TimeOnly))
	// Output: 03:01:30
}

func ExampleReplay() {
	engine, _ := detect.New(detect.Config{})
	start := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	var stream []secmon.Event
	for i := 0; i < 10; i++ {
		stream = append(stream, secmon.Event{
			Type: secmon.EventLoginFailure, Time: start.Add(time.Duration(i) * time.Second),
			UserID: fmt.Sprintf("user%d", i%3), IP: netip.MustParseAddr("2001:db8::1").Next(),
		})
	}
	// A test would call secmontest.Replay(t, engine, stream); Replay needs a
	// testing.TB, so the example goes through detect.Replay directly.
	findings, _ := detect.Replay(context.Background(), engine, stream)
	for _, f := range findings {
		fmt.Println(f.Rule, f.Subject)
	}
	// Output:
	// brute_force_ip ip:2001:db8::/64
}
