package secmontest_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/secmontest"
)

// fakeT records Fatalf instead of stopping the test, so the helpers' failure
// paths can be checked.
type fakeT struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func setup(t *testing.T) (*secmontest.Recorder, *secmon.Monitor, *secmontest.Clock) {
	t.Helper()
	rec := secmontest.NewRecorder()
	clock := secmontest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	mon, err := secmon.New(secmon.Config{Store: rec, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mon.Close(context.Background()) })
	return rec, mon, clock
}

func TestRequireEvent(t *testing.T) {
	t.Parallel()
	rec, mon, _ := setup(t)
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.4")
	if err := mon.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, UserID: "bob", IP: ip,
		Metadata: map[string]string{"reason": "bad_password"}}); err != nil {
		t.Fatal(err)
	}
	if err := mon.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	got := rec.RequireEvent(t, secmon.Event{Type: secmon.EventLoginFailure, IP: ip, Metadata: map[string]string{"reason": "bad_password"}})
	if got.UserID != "bob" {
		t.Errorf("RequireEvent returned %+v", got)
	}
	rec.RequireNoEvent(t, secmon.Event{Type: secmon.EventLoginSuccess})

	ft := &fakeT{TB: t}
	rec.RequireEvent(ft, secmon.Event{Type: secmon.EventLoginFailure, UserID: "carol"})
	if len(ft.failed) != 1 || !strings.Contains(ft.failed[0], "UserID") || !strings.Contains(ft.failed[0], "carol") {
		t.Errorf("mismatch not reported with a diff: %q", ft.failed)
	}
	ft = &fakeT{TB: t}
	rec.RequireEvent(ft, secmon.Event{Metadata: map[string]string{"reason": "locked"}})
	if len(ft.failed) != 1 || !strings.Contains(ft.failed[0], `Metadata["reason"]`) {
		t.Errorf("metadata mismatch not reported: %q", ft.failed)
	}
	ft = &fakeT{TB: t}
	rec.RequireNoEvent(ft, secmon.Event{UserID: "bob"})
	if len(ft.failed) != 1 {
		t.Errorf("RequireNoEvent did not fail on a stored match")
	}
}

func TestRequireEventEmptyStore(t *testing.T) {
	t.Parallel()
	rec := secmontest.NewRecorder()
	ft := &fakeT{TB: t}
	rec.RequireEvent(ft, secmon.Event{Type: secmon.EventLogout})
	if len(ft.failed) != 1 || !strings.Contains(ft.failed[0], "no event stored") {
		t.Errorf("got %q", ft.failed)
	}
}

func TestRequireAlertAndCalls(t *testing.T) {
	t.Parallel()
	rec := secmontest.NewRecorder()
	clock := secmontest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	engine, err := detect.New(detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mon, err := secmon.New(secmon.Config{Store: rec, Clock: clock, Detector: engine})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.9")
	for i := 0; i < 50; i++ {
		if err := mon.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, UserID: fmt.Sprintf("u%d", i), IP: ip}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	if err := mon.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a := rec.RequireAlert(t, "brute_force_ip", "ip:198.51.100.9/32")
	if a.Status != secmon.AlertOpen || a.Count < 1 {
		t.Errorf("alert %+v", a)
	}
	rec.RequireAlertStatus(t, a.ID, secmon.AlertOpen)
	if n := rec.Rows("InsertEvents"); n != 50 {
		t.Errorf("InsertEvents rows = %d, want 50", n)
	}
	if c := rec.Calls("InsertEvents"); c < 1 || c > 50 {
		t.Errorf("InsertEvents calls = %d", c)
	}

	ft := &fakeT{TB: t}
	rec.RequireAlert(ft, "brute_force_ip", "ip:203.0.113.1/32")
	if len(ft.failed) != 1 || !strings.Contains(ft.failed[0], "brute_force_ip/ip:198.51.100.9/32") {
		t.Errorf("missing alert not reported with what is stored: %q", ft.failed)
	}
	if err := rec.SetAlertStatus(ctx, a.ID, secmon.AlertResolved); err != nil {
		t.Fatal(err)
	}
	ft = &fakeT{TB: t}
	rec.RequireAlertStatus(ft, a.ID, secmon.AlertOpen)
	if len(ft.failed) != 1 {
		t.Error("RequireAlertStatus accepted the wrong status")
	}
}

func TestRequireAlertDuplicate(t *testing.T) {
	t.Parallel()
	rec := secmontest.NewRecorder()
	ctx := context.Background()
	now := time.Now()
	a := secmon.Alert{ID: secmon.NewID(), Rule: "r", Subject: "s", Status: secmon.AlertOpen, Count: 1, FirstSeen: now, LastSeen: now}
	if err := rec.UpsertAlerts(ctx, []secmon.Alert{a}); err != nil {
		t.Fatal(err)
	}
	rec.RequireAlert(t, "r", "s")
	if rec.Calls("UpsertAlerts") != 1 || rec.Rows("UpsertAlerts") != 1 {
		t.Errorf("calls %d rows %d", rec.Calls("UpsertAlerts"), rec.Rows("UpsertAlerts"))
	}
}

func TestReplayAndRequireFinding(t *testing.T) {
	t.Parallel()
	engine, err := detect.New(detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var stream []secmon.Event
	for i := 0; i < 6; i++ {
		stream = append(stream, secmon.Event{Type: secmon.EventLoginFailure, UserID: "victim",
			Time: start.Add(time.Duration(i) * time.Minute), IP: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})})
	}
	findings := secmontest.Replay(t, engine, stream)
	f := secmontest.RequireFinding(t, findings, "brute_force_account", "user:victim")
	if f.Severity < secmon.SeverityMedium {
		t.Errorf("severity %v", f.Severity)
	}
	ft := &fakeT{TB: t}
	secmontest.RequireFinding(ft, findings, "impossible_travel", "user:victim")
	if len(ft.failed) != 1 {
		t.Error("RequireFinding accepted a missing finding")
	}
}

func TestClockConcurrent(t *testing.T) {
	t.Parallel()
	c := secmontest.NewClock(time.Unix(0, 0))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				c.Advance(time.Millisecond)
				_ = c.Now()
			}
		}()
	}
	wg.Wait()
	if got := c.Now().Sub(time.Unix(0, 0)); got != 800*time.Millisecond {
		t.Errorf("advanced %v, want 800ms", got)
	}
	c.Set(time.Unix(5, 0))
	if !c.Now().Equal(time.Unix(5, 0)) {
		t.Error("Set did not move the clock")
	}
}
