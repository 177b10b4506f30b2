package secmon_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/store/memstore"
)

// newFakeClock returns a clock tests move by hand.
func newFakeClock() *secmontest.Clock {
	return secmontest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// testStore wraps memstore: it counts calls, records every row a successful
// call carried, and fails on demand (while the fake clock is before
// failUntil, or always while failAll is set).
type testStore struct {
	secmon.Store
	clock *secmontest.Clock

	mu            sync.Mutex
	failUntil     time.Time
	failAll       bool
	gate          chan struct{} // when non-nil, InsertEvents waits for it to close
	gateEntered   chan struct{} // when non-nil, receives once per InsertEvents waiting at gate
	eventCalls    int
	eventFails    int
	eventIDs      map[uuid.UUID]int
	sessionCalls  []int // rows per successful UpsertSessions call
	sessionFails  int
	activityIDs   map[uuid.UUID]int
	alertCalls    [][]secmon.Alert
	purges        []secmon.RetentionPolicy
	purgeNow      []time.Time
	purgeSignal   chan struct{}
	errInjected   error
	activityCalls int
	// afterEventFail, when set, runs once InsertEvents has decided to fail,
	// just before it returns the error.
	afterEventFail func()
}

var errOutage = errors.New("store outage")

func newTestStore(clock *secmontest.Clock) *testStore {
	return &testStore{
		Store: memstore.New(), clock: clock,
		eventIDs: map[uuid.UUID]int{}, activityIDs: map[uuid.UUID]int{},
	}
}

func (s *testStore) failing() bool {
	return s.failAll || s.clock.Now().Before(s.failUntil)
}

func (s *testStore) setFailAll(v bool) {
	s.mu.Lock()
	s.failAll = v
	s.mu.Unlock()
}

func (s *testStore) InsertEvents(ctx context.Context, events []secmon.Event) error {
	s.mu.Lock()
	gate, entered := s.gate, s.gateEntered
	s.mu.Unlock()
	if gate != nil {
		if entered != nil {
			select {
			case entered <- struct{}{}:
			default:
			}
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventCalls++
	if s.failing() {
		s.eventFails++
		if s.afterEventFail != nil {
			s.afterEventFail()
		}
		return errOutage
	}
	if err := s.Store.InsertEvents(ctx, events); err != nil {
		return err
	}
	for _, e := range events {
		s.eventIDs[e.ID]++
	}
	return nil
}

func (s *testStore) UpsertSessions(ctx context.Context, beats []secmon.SessionBeat) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing() {
		s.sessionFails++
		return errOutage
	}
	if err := s.Store.UpsertSessions(ctx, beats); err != nil {
		return err
	}
	s.sessionCalls = append(s.sessionCalls, len(beats))
	return nil
}

func (s *testStore) InsertActivities(ctx context.Context, acts []secmon.Activity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.activityCalls++
	if s.failing() {
		return errOutage
	}
	if err := s.Store.InsertActivities(ctx, acts); err != nil {
		return err
	}
	for _, a := range acts {
		s.activityIDs[a.ID]++
	}
	return nil
}

func (s *testStore) UpsertAlerts(ctx context.Context, alerts []secmon.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing() {
		return errOutage
	}
	if err := s.Store.UpsertAlerts(ctx, alerts); err != nil {
		return err
	}
	s.alertCalls = append(s.alertCalls, append([]secmon.Alert(nil), alerts...))
	return nil
}

func (s *testStore) Purge(ctx context.Context, p secmon.RetentionPolicy, now time.Time) (secmon.PurgeResult, error) {
	s.mu.Lock()
	s.purges = append(s.purges, p)
	s.purgeNow = append(s.purgeNow, now)
	sig := s.purgeSignal
	err := s.errInjected
	s.mu.Unlock()
	if sig != nil {
		select {
		case sig <- struct{}{}:
		default:
		}
	}
	if err != nil {
		return secmon.PurgeResult{}, err
	}
	return s.Store.Purge(ctx, p, now)
}

func (s *testStore) writtenEvents() (total int, dup int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.eventIDs {
		total++
		if n > 1 {
			dup++
		}
	}
	return total, dup
}

// setup returns a Monitor over a testStore with a fake clock. The flush
// interval is an hour, so only Flush, Close and full batches write.
func setup(t *testing.T, mod func(*secmon.Config)) (*secmon.Monitor, *testStore, *secmontest.Clock) {
	t.Helper()
	clock := newFakeClock()
	st := newTestStore(clock)
	cfg := secmon.Config{
		Store:         st,
		Clock:         clock,
		FlushInterval: time.Hour,
		MinBackoff:    time.Millisecond,
		MaxBackoff:    5 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := secmon.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.setFailAll(false)
		st.mu.Lock()
		if st.gate != nil {
			select {
			case <-st.gate:
			default:
				close(st.gate)
			}
		}
		st.mu.Unlock()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m, st, clock
}

func mustFlush(t *testing.T, m *secmon.Monitor) {
	t.Helper()
	if err := m.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// eventually polls cond until it holds, failing after a generous limit. It
// waits for background goroutines; it asserts nothing about how long they
// take.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	cases := []struct {
		name string
		cfg  secmon.Config
	}{
		{"no store", secmon.Config{}},
		{"negative batch", secmon.Config{Store: store, BatchSize: -1}},
		{"negative queue", secmon.Config{Store: store, QueueCapacity: -5}},
		{"huge queue", secmon.Config{Store: store, QueueCapacity: 1 << 40}},
		{"negative interval", secmon.Config{Store: store, FlushInterval: -time.Second}},
		{"negative window", secmon.Config{Store: store, SuppressWindow: -time.Minute}},
		{"backoff order", secmon.Config{Store: store, MinBackoff: time.Minute, MaxBackoff: time.Second}},
		{"empty action", secmon.Config{Store: store, AllowedActions: []string{"login", ""}}},
		{"control in action", secmon.Config{Store: store, AllowedActions: []string{"log\nin"}}},
		{"nil notifier", secmon.Config{Store: store, Notifiers: []secmon.Notifier{nil}}},
		{"bad privacy", secmon.Config{Store: store, Privacy: &secmon.PrivacyPolicy{IPMode: secmon.IPHash}}},
		{"negative maintenance", secmon.Config{Store: store, Maintenance: secmon.MaintenanceConfig{Interval: -1}}},
		{"negative detect queue", secmon.Config{Store: store, DetectQueue: -1}},
		{"huge detect queue", secmon.Config{Store: store, DetectQueue: 1 << 40}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := secmon.New(tc.cfg)
			if err == nil {
				_ = m.Close(context.Background())
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestLogStampsAppliesPrivacyAndWrites(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, nil)
	ctx := context.Background()
	err := m.Log(ctx, secmon.Event{
		Type: secmon.EventLoginFailure, UserID: "u1",
		IP:       netip.MustParseAddr("203.0.113.7"),
		Metadata: map[string]string{"reason": "bad_password", "password": "hunter2", "note": "free text"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().PendingEvents; got != 1 {
		t.Fatalf("PendingEvents = %d, want 1", got)
	}
	mustFlush(t, m)
	evs, err := st.QueryEvents(ctx, secmon.EventQuery{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("QueryEvents = %v, %v; want one event", evs, err)
	}
	e := evs[0]
	if e.ID == uuid.Nil || e.ID.Version() != 7 {
		t.Errorf("ID %v not a stamped UUIDv7", e.ID)
	}
	if !e.Time.Equal(clock.Now()) {
		t.Errorf("Time = %v, want the clock's %v", e.Time, clock.Now())
	}
	if _, ok := e.Metadata["password"]; ok {
		t.Errorf("password kept in metadata: %v", e.Metadata)
	}
	if _, ok := e.Metadata["note"]; ok {
		t.Errorf("non-allowlisted key kept: %v", e.Metadata)
	}
	if e.Metadata["reason"] != "bad_password" {
		t.Errorf("allowlisted key lost: %v", e.Metadata)
	}
	s := m.Stats()
	if s.EventsAccepted != 1 || s.EventsWritten != 1 || s.PendingEvents != 0 || s.Batches == 0 {
		t.Errorf("stats = %+v", s)
	}
	if s.LastFlushLatency <= 0 || s.MaxFlushLatency < s.LastFlushLatency {
		t.Errorf("flush latency last %v max %v", s.LastFlushLatency, s.MaxFlushLatency)
	}
}

func TestLogKeepsCallerIDAndTime(t *testing.T) {
	t.Parallel()
	m, st, _ := setup(t, nil)
	id := secmon.NewID()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := m.Log(context.Background(), secmon.Event{ID: id, Time: at, Type: secmon.EventLogout}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	evs, _ := st.QueryEvents(context.Background(), secmon.EventQuery{})
	if len(evs) != 1 || evs[0].ID != id || !evs[0].Time.Equal(at) {
		t.Fatalf("got %+v", evs)
	}
}

func TestLogRejectsInvalidEvent(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, nil)
	for _, e := range []secmon.Event{
		{},
		{Type: "Bad Type"},
		{Type: "ok", Severity: 99},
		{Type: "ok", UserID: "a\x00b"},
	} {
		if err := m.Log(context.Background(), e); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("Log(%+v) = %v, want ErrInvalid", e, err)
		}
	}
	if s := m.Stats(); s.EventsAccepted != 0 {
		t.Errorf("EventsAccepted = %d after invalid events", s.EventsAccepted)
	}
}

func TestLogSurvivesCancelledContext(t *testing.T) {
	t.Parallel()
	seen := make(chan error, 1)
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.Detector = secmon.DetectorFunc(func(ctx context.Context, e secmon.Event) ([]secmon.Finding, error) {
			seen <- ctx.Err()
			return nil, nil
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure}); err != nil {
		t.Fatalf("Log with cancelled ctx: %v", err)
	}
	if err := <-seen; err != nil {
		t.Errorf("detector saw a cancelled context: %v", err)
	}
	mustFlush(t, m)
	if n, _ := st.writtenEvents(); n != 1 {
		t.Fatalf("written = %d, want 1", n)
	}
}

// perEventDetector emits a brute-force finding for every failed login.
func perEventDetector() secmon.Detector {
	return secmon.DetectorFunc(func(_ context.Context, e secmon.Event) ([]secmon.Finding, error) {
		if e.Type != secmon.EventLoginFailure {
			return nil, nil
		}
		return []secmon.Finding{{
			Rule: "brute_force_ip", Subject: "ip:" + secmon.IPGroup(e.IP).String(),
			Severity: secmon.SeverityHigh, Summary: "failed logins from one address",
			Action: secmon.Action{Kind: secmon.ActionBlock, Duration: time.Hour},
		}}, nil
	})
}

func TestThousandFailedLoginsOneAlert(t *testing.T) {
	t.Parallel()
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("AsyncDetection=%v", async), func(t *testing.T) {
			t.Parallel()
			testThousandFailedLoginsOneAlert(t, async)
		})
	}
}

// testThousandFailedLoginsOneAlert runs the Detector inline or, with async,
// on the detection worker, whose findings Flush waits for.
func testThousandFailedLoginsOneAlert(t *testing.T, async bool) {
	var mu sync.Mutex
	var notified []secmon.Alert
	m, st, clock := setup(t, func(c *secmon.Config) {
		c.Detector = perEventDetector()
		c.AsyncDetection = async
		c.Notifiers = []secmon.Notifier{secmon.NotifierFunc(func(_ context.Context, a secmon.Alert) error {
			mu.Lock()
			notified = append(notified, a)
			mu.Unlock()
			return nil
		})}
	})
	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.23")
	for i := range 1000 {
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, UserID: fmt.Sprintf("user%d", i%7), IP: ip}); err != nil {
			t.Fatalf("Log %d: %v", i, err)
		}
		clock.Advance(100 * time.Millisecond)
		if i == 400 {
			mustFlush(t, m) // a flush mid-attack: the store adds the deltas
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
	if a.Count != 1000 || a.Rule != "brute_force_ip" || a.Subject != "ip:198.51.100.23/32" || a.Severity != secmon.SeverityHigh {
		t.Errorf("alert = %+v, want Count 1000 for brute_force_ip ip:198.51.100.23/32", a)
	}
	s := m.Stats()
	if s.AlertsOpened != 1 || s.AlertsSuppressed != 999 || s.PendingAlerts != 0 {
		t.Errorf("stats: opened %d suppressed %d pending %d", s.AlertsOpened, s.AlertsSuppressed, s.PendingAlerts)
	}
	eventually(t, "one notification", func() bool { mu.Lock(); defer mu.Unlock(); return len(notified) >= 1 })
	mustFlush(t, m)
	mu.Lock()
	defer mu.Unlock()
	if len(notified) != 1 || notified[0].Rule != "brute_force_ip" || notified[0].ID != a.ID {
		t.Errorf("notified %d times (%+v), want once for alert %v", len(notified), notified, a.ID)
	}
}

func TestSuppressWindowReopensAfterQuiet(t *testing.T) {
	t.Parallel()
	m, _, clock := setup(t, func(c *secmon.Config) {
		c.Detector = perEventDetector()
		c.SuppressWindow = time.Minute
	})
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.1")
	log := func() {
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: ip}); err != nil {
			t.Fatal(err)
		}
	}
	log()
	clock.Advance(59 * time.Second)
	log() // within the window of the previous finding
	clock.Advance(59 * time.Second)
	log() // still within the window of the previous finding
	if s := m.Stats(); s.AlertsOpened != 1 || s.AlertsSuppressed != 2 {
		t.Fatalf("opened %d suppressed %d, want 1 and 2", s.AlertsOpened, s.AlertsSuppressed)
	}
	clock.Advance(61 * time.Second)
	log() // quiet for longer than the window: a new alert
	if s := m.Stats(); s.AlertsOpened != 2 {
		t.Fatalf("opened %d after a quiet window, want 2", s.AlertsOpened)
	}
	// A different subject is a different alert.
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr("192.0.2.2")}); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.AlertsOpened != 3 {
		t.Fatalf("opened %d for a second subject, want 3", s.AlertsOpened)
	}
}

func TestHeartbeatsCoalesceIntoOneUpsertPerFlush(t *testing.T) {
	t.Parallel()
	const sessions, beats = 10000, 5
	m, st, clock := setup(t, func(c *secmon.Config) { c.MaxPendingSessions = sessions })
	ctx := context.Background()
	ip := netip.MustParseAddr("203.0.113.50")
	var last time.Time
	for round := range 2 {
		for b := range beats {
			for i := range sessions {
				err := m.Heartbeat(ctx, secmon.SessionBeat{
					SessionID: fmt.Sprintf("s%05d", i), UserID: fmt.Sprintf("u%d", i),
					IP: ip, UserAgent: "Mozilla/5.0",
				})
				if err != nil {
					t.Fatalf("round %d beat %d session %d: %v", round, b, i, err)
				}
			}
			last = clock.Now()
			clock.Advance(time.Minute)
		}
		mustFlush(t, m)
		st.mu.Lock()
		calls := append([]int(nil), st.sessionCalls...)
		st.mu.Unlock()
		if len(calls) != round+1 || calls[round] != sessions {
			t.Fatalf("after round %d: UpsertSessions rows per call = %v, want one more call of %d", round, calls, sessions)
		}
	}
	mustFlush(t, m) // nothing pending: no call
	st.mu.Lock()
	ncalls := len(st.sessionCalls)
	st.mu.Unlock()
	if ncalls != 2 {
		t.Errorf("empty flush made a call: %d calls", ncalls)
	}
	got, err := st.ActiveSessions(ctx, secmon.SessionQuery{UserID: "u42"})
	if err != nil || len(got) != 1 {
		t.Fatalf("ActiveSessions = %v, %v", got, err)
	}
	if !got[0].LastSeen.Equal(last) {
		t.Errorf("LastSeen = %v, want the newest beat %v", got[0].LastSeen, last)
	}
	s := m.Stats()
	if s.HeartbeatsReceived != 2*sessions*beats || s.HeartbeatsCoalesced != 2*sessions*(beats-1) || s.SessionsWritten != 2*sessions {
		t.Errorf("stats: received %d coalesced %d written %d", s.HeartbeatsReceived, s.HeartbeatsCoalesced, s.SessionsWritten)
	}
	if s.SessionAnomalies != 0 {
		t.Errorf("SessionAnomalies = %d for unchanged sessions", s.SessionAnomalies)
	}
}

// TestHeartbeatKeepsFirstBeatAsStart checks that a session whose beats are
// coalesced before one flush is stored with StartedAt at its first beat,
// not at the newest one, and that later flushes never move it forward.
func TestHeartbeatKeepsFirstBeatAsStart(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, nil)
	ctx := context.Background()
	first := clock.Now()
	for _, ua := range []string{"ua-1", "ua-2", "ua-3"} {
		if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s1", UserID: "u1", UserAgent: ua}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(500 * time.Millisecond)
	}
	newest := first.Add(time.Second)
	// An older beat arriving late, still before the flush: it moves the
	// start back but not LastSeen.
	if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s1", UserID: "u1", Time: first.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	check := func(when string, start, last time.Time) {
		t.Helper()
		got, err := st.ActiveSessions(ctx, secmon.SessionQuery{UserID: "u1"})
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: ActiveSessions = %v, %v", when, got, err)
		}
		if !got[0].StartedAt.Equal(start) || !got[0].LastSeen.Equal(last) {
			t.Errorf("%s: StartedAt %v LastSeen %v, want %v and %v", when, got[0].StartedAt, got[0].LastSeen, start, last)
		}
	}
	check("first flush", first.Add(-time.Second), newest)

	// Two more beats and a flush: the start stays where it was.
	clock.Advance(time.Minute)
	for range 2 {
		if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s1", UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(500 * time.Millisecond)
	}
	mustFlush(t, m)
	check("second flush", first.Add(-time.Second), clock.Now().Add(-500*time.Millisecond))

	// A host may give the session's sign-in time itself.
	signIn := first.Add(-time.Hour)
	if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s2", UserID: "u2", StartedAt: signIn}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	got, err := st.ActiveSessions(ctx, secmon.SessionQuery{UserID: "u2"})
	if err != nil || len(got) != 1 || !got[0].StartedAt.Equal(signIn) {
		t.Errorf("session with a given StartedAt: %+v, %v; want StartedAt %v", got, err, signIn)
	}
}

func TestHeartbeatNewestWinsAndLimits(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, func(c *secmon.Config) { c.MaxPendingSessions = 2 })
	ctx := context.Background()
	t0 := clock.Now()
	beat := func(id string, at time.Time) error {
		return m.Heartbeat(ctx, secmon.SessionBeat{SessionID: id, UserID: "u", Time: at})
	}
	if err := beat("a", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := beat("a", t0); err != nil { // older: coalesced away
		t.Fatal(err)
	}
	if err := beat("b", t0); err != nil {
		t.Fatal(err)
	}
	if err := beat("c", t0); !errors.Is(err, secmon.ErrQueueFull) {
		t.Fatalf("third pending session: %v, want ErrQueueFull", err)
	}
	if err := beat("a", t0.Add(2*time.Minute)); err != nil { // a pending session still coalesces
		t.Fatal(err)
	}
	for _, b := range []secmon.SessionBeat{{UserID: "u"}, {SessionID: "s"}, {SessionID: "s\x01", UserID: "u"}} {
		if err := m.Heartbeat(ctx, b); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("Heartbeat(%+v) = %v, want ErrInvalid", b, err)
		}
	}
	mustFlush(t, m)
	got, _ := st.ActiveSessions(ctx, secmon.SessionQuery{})
	if len(got) != 2 {
		t.Fatalf("sessions = %+v", got)
	}
	for _, s := range got {
		if s.SessionID == "a" && !s.LastSeen.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("session a LastSeen = %v", s.LastSeen)
		}
	}
	if err := beat("c", t0); err != nil {
		t.Fatalf("after flush: %v", err)
	}
	if s := m.Stats(); s.QueueFull != 1 {
		t.Errorf("QueueFull = %d, want 1", s.QueueFull)
	}
}

// TestInvalidInputCountedInStats checks that every call refused as invalid
// shows in Stats, by kind, besides returning its *FieldError: a beat
// without a SessionID must not vanish without trace.
func TestInvalidInputCountedInStats(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, nil)
	ctx := context.Background()
	for _, b := range []secmon.SessionBeat{{UserID: "u"}, {SessionID: "s"}, {SessionID: "s", UserID: "u\x00"}} {
		if err := m.Heartbeat(ctx, b); !errors.Is(err, secmon.ErrInvalid) {
			t.Fatalf("Heartbeat(%+v) = %v, want ErrInvalid", b, err)
		}
	}
	for _, e := range []secmon.Event{{}, {Type: "Not A Type"}} {
		if err := m.Log(ctx, e); !errors.Is(err, secmon.ErrInvalid) {
			t.Fatalf("Log(%+v) = %v, want ErrInvalid", e, err)
		}
	}
	if err := m.TrackActivity(ctx, secmon.Activity{Action: "login"}); !errors.Is(err, secmon.ErrInvalid) {
		t.Fatalf("TrackActivity without UserID = %v, want ErrInvalid", err)
	}
	if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	s := m.Stats()
	if s.HeartbeatsInvalid != 3 || s.EventsInvalid != 2 || s.ActivitiesInvalid != 1 || s.HeartbeatsReceived != 1 {
		t.Errorf("Stats: HeartbeatsInvalid %d EventsInvalid %d ActivitiesInvalid %d HeartbeatsReceived %d, want 3, 2, 1 and 1",
			s.HeartbeatsInvalid, s.EventsInvalid, s.ActivitiesInvalid, s.HeartbeatsReceived)
	}
}

func TestSessionAnomalyOnIPGroupOrUserAgentChange(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, nil)
	ctx := context.Background()
	beat := func(ip, ua string) {
		t.Helper()
		clock.Advance(time.Minute)
		if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s1", UserID: "u1", IP: netip.MustParseAddr(ip), UserAgent: ua}); err != nil {
			t.Fatal(err)
		}
	}
	beat("2001:db8:1:2::10", "Firefox")
	beat("2001:db8:1:2::99", "Firefox") // same /64: no anomaly
	if n := m.Stats().SessionAnomalies; n != 0 {
		t.Fatalf("anomaly within one IPv6 /64: %d", n)
	}
	beat("2001:db8:9:9::1", "Firefox") // new /64
	beat("2001:db8:9:9::1", "Chrome")  // new user agent
	beat("198.51.100.1", "Safari")     // both
	// Another session from elsewhere is not an anomaly of s1.
	if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s2", UserID: "u2", IP: netip.MustParseAddr("192.0.2.9"), UserAgent: "curl"}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	evs, err := st.QueryEvents(ctx, secmon.EventQuery{Types: []secmon.EventType{secmon.EventSessionAnomaly}})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		e := evs[i]
		if e.SessionID != "s1" || e.UserID != "u1" || e.Severity != secmon.SeverityMedium {
			t.Errorf("anomaly event %+v", e)
		}
		reasons = append(reasons, e.Metadata["reason"])
	}
	want := []string{secmon.AnomalyIPGroup, secmon.AnomalyUserAgent, secmon.AnomalyBoth}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("anomaly reasons = %v, want %v", reasons, want)
	}
	if n := m.Stats().SessionAnomalies; n != 3 {
		t.Errorf("SessionAnomalies = %d, want 3", n)
	}
}

func TestSessionTrackEvictionBounded(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, func(c *secmon.Config) { c.SessionTrackSize = 4; c.MaxPendingSessions = 4 })
	ctx := context.Background()
	pass := func(ip string) {
		t.Helper()
		for i := range 100 {
			err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: fmt.Sprint("s", i), UserID: "u", IP: netip.MustParseAddr(ip), UserAgent: "x"})
			if err != nil {
				t.Fatal(err)
			}
			if i%4 == 3 {
				mustFlush(t, m) // written sessions become evictable
			}
		}
	}
	pass("192.0.2.1")
	// A changed beat raises an anomaly only for a session still remembered:
	// at most SessionTrackSize + MaxPendingSessions of the 100.
	pass("192.0.2.200")
	if n := m.Stats().SessionAnomalies; n > 8 {
		t.Errorf("SessionAnomalies = %d; at most 8 sessions are remembered", n)
	}
}

func TestStoreOutageThirtySecondsLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, func(c *secmon.Config) {
		c.BatchSize = 50
		c.QueueCapacity = 5000
		c.Detector = perEventDetector()
	})
	ctx := context.Background()
	st.mu.Lock()
	st.failUntil = clock.Now().Add(30 * time.Second)
	st.mu.Unlock()

	const perSecond, seconds = 40, 40
	var acts int
	for sec := range seconds {
		for i := range perSecond {
			if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr("192.0.2.77"), UserID: fmt.Sprint("u", i)}); err != nil {
				t.Fatalf("second %d: %v", sec, err)
			}
		}
		if err := m.TrackActivity(ctx, secmon.Activity{UserID: "u1", Action: "page_view"}); err != nil {
			t.Fatal(err)
		}
		acts++
		if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: fmt.Sprint("s", sec%5), UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
		err := m.Flush(ctx)
		if sec < 30 && !errors.Is(err, errOutage) {
			t.Fatalf("second %d: Flush = %v, want the outage error", sec, err)
		}
		if sec >= 30 && err != nil {
			t.Fatalf("second %d, store back: Flush = %v", sec, err)
		}
		clock.Advance(time.Second)
	}
	total, dup := st.writtenEvents()
	if total != perSecond*seconds || dup != 0 {
		t.Fatalf("written %d distinct events (%d duplicated), want %d and none", total, dup, perSecond*seconds)
	}
	evs, err := st.QueryEvents(ctx, secmon.EventQuery{Limit: secmon.MaxQueryLimit})
	if err != nil || len(evs) != perSecond*seconds {
		t.Fatalf("store holds %d events (%v), want %d", len(evs), err, perSecond*seconds)
	}
	st.mu.Lock()
	nacts := len(st.activityIDs)
	sessionCalls := append([]int(nil), st.sessionCalls...)
	st.mu.Unlock()
	if nacts != acts {
		t.Errorf("activities written %d, want %d", nacts, acts)
	}
	// The beats of the outage were kept and merged: the first successful
	// call carries all five sessions at once.
	if len(sessionCalls) == 0 || sessionCalls[0] != 5 {
		t.Errorf("rows per successful UpsertSessions call = %v, want the first to hold all 5 sessions", sessionCalls)
	}
	alerts, _ := st.Alerts(ctx, secmon.AlertQuery{})
	if len(alerts) != 1 || alerts[0].Count != perSecond*seconds {
		t.Errorf("alerts after the outage = %+v, want one with Count %d", alerts, perSecond*seconds)
	}
	s := m.Stats()
	if s.EventsFailed == 0 || s.EventsWritten != perSecond*seconds || s.PendingEvents != 0 || s.LastError == "" {
		t.Errorf("stats = %+v", s)
	}
}

// TestBackgroundFlusherRetriesWithBackoff checks that the background
// flusher retries a failed write once the backoff has passed. The clock
// jumps past the outage at the worst moment: after the store has failed
// and before the flusher has finished handling the failure. The retry time
// must not depend on when the clock is read after the failure, or the
// flusher would wait for a time the clock never reaches.
func TestBackgroundFlusherRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, func(c *secmon.Config) {
		c.FlushInterval = time.Millisecond
	})
	st.mu.Lock()
	st.failUntil = clock.Now().Add(30 * time.Second)
	var once sync.Once
	st.afterEventFail = func() { once.Do(func() { clock.Advance(31 * time.Second) }) }
	st.mu.Unlock()
	for range 10 {
		if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLogout}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the retried batch", func() bool { return m.Stats().EventsWritten == 10 })
	if s := m.Stats(); s.EventsFailed == 0 {
		t.Errorf("EventsFailed = 0: the outage was never hit")
	}
	if total, dup := st.writtenEvents(); total != 10 || dup != 0 {
		t.Errorf("written %d (dup %d)", total, dup)
	}
}

func TestFlushBySize(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, func(c *secmon.Config) { c.BatchSize = 10 })
	for range 10 {
		if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLogout}); err != nil {
			t.Fatal(err)
		}
	}
	// FlushInterval is an hour: only the full batch can wake the flusher.
	eventually(t, "a size-triggered flush", func() bool { return m.Stats().EventsWritten == 10 })
}

func TestQueueFullThenCloseWritesEverything(t *testing.T) {
	t.Parallel()
	const capacity, batch = 200, 50
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.QueueCapacity = capacity
		c.BatchSize = batch
	})
	st.mu.Lock()
	st.gate = make(chan struct{}) // the store hangs until released
	st.mu.Unlock()
	ctx := context.Background()
	accepted, full := 0, 0
	for i := 0; i < capacity+batch+10; i++ {
		err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, UserID: fmt.Sprint("u", i)})
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, secmon.ErrQueueFull):
			full++
		default:
			t.Fatal(err)
		}
	}
	if full == 0 {
		t.Fatal("no ErrQueueFull although the store is stuck")
	}
	if s := m.Stats(); s.QueueFull != uint64(full) || s.EventsAccepted != uint64(accepted) {
		t.Errorf("stats QueueFull %d accepted %d, want %d and %d", s.QueueFull, s.EventsAccepted, full, accepted)
	}
	st.mu.Lock()
	close(st.gate)
	st.mu.Unlock()
	if err := m.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if total, dup := st.writtenEvents(); total != accepted || dup != 0 {
		t.Errorf("written %d (dup %d), want all %d accepted", total, dup, accepted)
	}
}

func TestCloseWritesFullBuffer(t *testing.T) {
	t.Parallel()
	const capacity, batch = 1000, 100
	entered := make(chan struct{}, 1)
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.QueueCapacity = capacity
		c.BatchSize = batch
	})
	st.mu.Lock()
	st.gate = make(chan struct{}) // the store hangs until released
	st.gateEntered = entered
	st.mu.Unlock()
	ctx := context.Background()
	accepted := 0
	for i := 0; ; i++ {
		err := m.Log(ctx, secmon.Event{Type: secmon.EventPageView, UserID: fmt.Sprint("u", i)})
		if errors.Is(err, secmon.ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if accepted++; accepted > capacity+batch {
			t.Fatal("the queue never filled")
		}
	}
	<-entered // the flusher holds one batch; the queue behind it is full
	if s := m.Stats(); s.PendingEvents != accepted || s.PendingEvents < capacity {
		t.Fatalf("pending %d, accepted %d, capacity %d", s.PendingEvents, accepted, capacity)
	}
	for i := range 50 {
		if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: fmt.Sprint("s", i), UserID: "u"}); err != nil {
			t.Fatal(err)
		}
		if err := m.TrackActivity(ctx, secmon.Activity{UserID: "u", Action: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	st.mu.Lock()
	close(st.gate)
	st.mu.Unlock()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if total, dup := st.writtenEvents(); total != accepted || dup != 0 {
		t.Errorf("Close wrote %d events (dup %d), want %d", total, dup, accepted)
	}
	sess, _ := st.ActiveSessions(ctx, secmon.SessionQuery{})
	st.mu.Lock()
	nacts := len(st.activityIDs)
	st.mu.Unlock()
	if len(sess) != 50 || nacts != 50 {
		t.Errorf("Close wrote %d sessions and %d activities, want 50 and 50", len(sess), nacts)
	}
	s := m.Stats()
	if s.PendingEvents+s.PendingSessions+s.PendingActivities != 0 {
		t.Errorf("pending after Close: %+v", s)
	}
}

func TestCallsAfterCloseReturnErrClosed(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, nil)
	ctx := context.Background()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checks := map[string]error{
		"Log":             m.Log(ctx, secmon.Event{Type: secmon.EventLogout}),
		"Heartbeat":       m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s", UserID: "u"}),
		"TrackActivity":   m.TrackActivity(ctx, secmon.Activity{UserID: "u", Action: "login"}),
		"Flush":           m.Flush(ctx),
		"SubscribeAlerts": m.SubscribeAlerts(ctx, func(secmon.Alert) {}),
	}
	for name, err := range checks {
		if !errors.Is(err, secmon.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestConcurrentCloseAndLog(t *testing.T) {
	t.Parallel()
	m, st, _ := setup(t, func(c *secmon.Config) { c.BatchSize = 16 })
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				err := m.Log(ctx, secmon.Event{Type: secmon.EventPageView, UserID: fmt.Sprint(g, "-", i)})
				if err == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				} else if !errors.Is(err, secmon.ErrClosed) && !errors.Is(err, secmon.ErrQueueFull) {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		if err := m.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if total, dup := st.writtenEvents(); total != accepted || dup != 0 {
		t.Errorf("written %d (dup %d), accepted %d: an accepted event was lost", total, dup, accepted)
	}
}

func TestCloseHonoursDeadlineAndCanBeRetried(t *testing.T) {
	t.Parallel()
	m, st, _ := setup(t, nil)
	ctx := context.Background()
	for range 7 {
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLogout}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	st.setFailAll(true)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := m.Close(short)
	var ue *secmon.UnflushedError
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errOutage) {
		t.Fatalf("Close on a dead store = %v, want an UnflushedError wrapping the deadline and the store error", err)
	}
	if ue.Events != 7 || ue.Sessions != 1 {
		t.Errorf("unflushed = %+v, want 7 events and 1 session", ue)
	}
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLogout}); !errors.Is(err, secmon.ErrClosed) {
		t.Errorf("Log after a failed Close = %v, want ErrClosed", err)
	}
	st.setFailAll(false)
	if err := m.Close(ctx); err != nil {
		t.Fatalf("second Close after recovery: %v", err)
	}
	if total, _ := st.writtenEvents(); total != 7 {
		t.Errorf("written %d, want 7", total)
	}
}

func TestDetectorPanicsAndErrorsAreContained(t *testing.T) {
	t.Parallel()
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.Detector = secmon.DetectorFunc(func(_ context.Context, e secmon.Event) ([]secmon.Finding, error) {
			switch e.UserID {
			case "panic":
				panic("rule bug")
			case "error":
				return nil, errors.New("counter backend down")
			case "bad":
				return []secmon.Finding{{Rule: "", Subject: "x"}}, nil
			}
			return nil, nil
		})
	})
	ctx := context.Background()
	for _, u := range []string{"panic", "error", "bad", "fine", "panic"} {
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, UserID: u}); err != nil {
			t.Fatalf("Log(%s) = %v", u, err)
		}
	}
	mustFlush(t, m)
	if total, _ := st.writtenEvents(); total != 5 {
		t.Errorf("written %d, want all 5", total)
	}
	s := m.Stats()
	if s.DetectorPanics != 2 || s.DetectorErrors != 4 || s.AlertsOpened != 0 {
		t.Errorf("stats: panics %d errors %d opened %d; want 2, 4, 0", s.DetectorPanics, s.DetectorErrors, s.AlertsOpened)
	}
}

func TestTrackActivity(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var keys []string
	deny := map[string]bool{"activity:spammer": true}
	m, st, clock := setup(t, func(c *secmon.Config) {
		c.AllowedActions = []string{"page_view", "export_data"}
		c.ActivityLimiter = secmon.RateLimiterFunc(func(_ context.Context, key string) (secmon.Decision, error) {
			mu.Lock()
			keys = append(keys, key)
			mu.Unlock()
			if key == "activity:broken" {
				return secmon.Decision{}, errors.New("limiter backend down")
			}
			if deny[key] {
				return secmon.Decision{Allowed: false, Limit: 20, RetryAfter: 3 * time.Second}, nil
			}
			return secmon.Decision{Allowed: true, Limit: 20, Remaining: 19}, nil
		})
	})
	ctx := context.Background()
	if err := m.TrackActivity(ctx, secmon.Activity{UserID: "u1", Action: "export_data", Resource: "report:42", Metadata: map[string]string{"rows": "10", "secret": "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.TrackActivity(ctx, secmon.Activity{UserID: "u1", Action: "login"}); !errors.Is(err, secmon.ErrActionNotAllowed) {
		t.Errorf("unlisted action: %v, want ErrActionNotAllowed", err)
	}
	err := m.TrackActivity(ctx, secmon.Activity{UserID: "spammer", Action: "page_view"})
	var rl *secmon.RateLimitedError
	if !errors.Is(err, secmon.ErrRateLimited) || !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
		t.Errorf("limited user: %v, want a RateLimitedError with RetryAfter 3s", err)
	}
	if err := m.TrackActivity(ctx, secmon.Activity{UserID: "broken", Action: "page_view"}); err != nil {
		t.Errorf("limiter failure must let the activity through: %v", err)
	}
	if err := m.TrackActivity(ctx, secmon.Activity{Action: "page_view"}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("missing UserID: %v", err)
	}
	mustFlush(t, m)
	got, err := st.Activities(ctx, secmon.ActivityQuery{UserID: "u1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("Activities = %+v, %v", got, err)
	}
	a := got[0]
	if a.ID == uuid.Nil || !a.Time.Equal(clock.Now()) || a.Resource != "report:42" || a.Metadata["rows"] != "10" {
		t.Errorf("stored activity %+v", a)
	}
	if _, ok := a.Metadata["secret"]; ok {
		t.Errorf("privacy policy not applied: %v", a.Metadata)
	}
	mu.Lock()
	if fmt.Sprint(keys) != "[activity:u1 activity:spammer activity:broken]" {
		t.Errorf("limiter keys = %v", keys)
	}
	mu.Unlock()
	s := m.Stats()
	if s.ActivitiesAccepted != 2 || s.ActivitiesWritten != 2 || s.ActivityDenied != 2 || s.ActivityLimiterErrors != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestDefaultAllowedActions(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, nil)
	if len(secmon.DefaultAllowedActions) != 11 {
		t.Fatalf("DefaultAllowedActions has %d actions, want the audited 11", len(secmon.DefaultAllowedActions))
	}
	for _, a := range secmon.DefaultAllowedActions {
		if err := m.TrackActivity(context.Background(), secmon.Activity{UserID: "u", Action: a}); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if err := m.TrackActivity(context.Background(), secmon.Activity{UserID: "u", Action: "drop_tables"}); !errors.Is(err, secmon.ErrActionNotAllowed) {
		t.Errorf("drop_tables: %v", err)
	}
}

func TestSlowAndFailingNotifiersDoNotStallLog(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	m, _, clock := setup(t, func(c *secmon.Config) {
		c.Detector = perEventDetector()
		c.NotifyQueue = 4
		c.NotifyTimeout = time.Hour
		c.Notifiers = []secmon.Notifier{
			secmon.NotifierFunc(func(ctx context.Context, a secmon.Alert) error {
				select {
				case entered <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			}),
			secmon.NotifierFunc(func(context.Context, secmon.Alert) error { return errors.New("smtp down") }),
			secmon.NotifierFunc(func(context.Context, secmon.Alert) error { panic("webhook bug") }),
		}
	})
	ctx := context.Background()
	// 100 distinct subjects: 100 new alerts while the first notifier hangs.
	for i := range 100 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: ip}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond)
	}
	<-entered
	s := m.Stats()
	if s.AlertsOpened != 100 || s.NotifyDropped == 0 {
		t.Errorf("opened %d dropped %d; want 100 and some dropped by the bounded queue", s.AlertsOpened, s.NotifyDropped)
	}
	close(release)
	eventually(t, "notifier failures", func() bool { return m.Stats().NotifyFailures >= 2 })
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s = m.Stats()
	delivered := s.Notifications + s.NotifyFailures
	if delivered%3 != 0 || delivered/3+s.NotifyDropped < 100 {
		t.Errorf("notifications %d failures %d dropped %d: every alert must be notified or counted as dropped",
			s.Notifications, s.NotifyFailures, s.NotifyDropped)
	}
	if s.NotifyFailures != 2*s.Notifications {
		t.Errorf("failures %d, successes %d: the failing and panicking notifiers should fail each time", s.NotifyFailures, s.Notifications)
	}
}

func TestSubscribeAlerts(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, func(c *secmon.Config) { c.Detector = perEventDetector() })
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan secmon.Alert, 16)
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		close(ready)
		done <- m.SubscribeAlerts(ctx, func(a secmon.Alert) { got <- a })
	}()
	<-ready
	// The subscription is registered asynchronously; keep raising new
	// subjects until one arrives.
	var first secmon.Alert
	for i := 0; first.ID == uuid.Nil; i++ {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure, IP: ip}); err != nil {
			t.Fatal(err)
		}
		select {
		case first = <-got:
		case <-time.After(time.Millisecond):
		}
		if i > 20000 {
			t.Fatal("no alert reached the subscriber")
		}
	}
	if first.Rule != "brute_force_ip" || first.Count != 1 || first.Status != secmon.AlertOpen {
		t.Errorf("opened alert = %+v", first)
	}
	// After a flush, subscribers hear the updated alert too.
	if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr(first.Subject[len("ip:") : len(first.Subject)-len("/32")])}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	for {
		a := <-got
		if a.ID == first.ID && a.Count == 2 {
			break
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("SubscribeAlerts returned %v, want context.Canceled", err)
	}
}

func TestGeoEnrichment(t *testing.T) {
	t.Parallel()
	known := netip.MustParseAddr("203.0.113.9")
	unknown := netip.MustParseAddr("192.0.2.4")
	slow := netip.MustParseAddr("198.51.100.200")
	var mu sync.Mutex
	calls := map[netip.Addr]int{}
	var seenGeo []secmon.Geo
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.GeoBudget = 20 * time.Millisecond
		c.Geo = secmon.GeoResolverFunc(func(ctx context.Context, ip netip.Addr) (secmon.Geo, error) {
			mu.Lock()
			calls[ip]++
			mu.Unlock()
			switch ip {
			case known:
				return secmon.Geo{Country: "NL", City: "Amsterdam", Latitude: 52.37, Longitude: 4.9}, nil
			case slow:
				<-ctx.Done()
				return secmon.Geo{}, ctx.Err()
			}
			return secmon.Geo{}, secmon.ErrNotFound
		})
		c.Detector = secmon.DetectorFunc(func(_ context.Context, e secmon.Event) ([]secmon.Finding, error) {
			mu.Lock()
			seenGeo = append(seenGeo, e.Geo)
			mu.Unlock()
			return nil, nil
		})
	})
	ctx := context.Background()
	logIP := func(ip netip.Addr) {
		t.Helper()
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginSuccess, IP: ip}); err != nil {
			t.Fatal(err)
		}
	}
	logIP(known)
	logIP(unknown)
	logIP(slow)
	mustFlush(t, m) // resolves within the budget while writing the batch
	logIP(known)    // now from the cache, on the hot path
	logIP(unknown)
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginSuccess, IP: known, Geo: secmon.Geo{Country: "FR"}}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	evs, _ := st.QueryEvents(ctx, secmon.EventQuery{})
	countries := map[string]int{}
	for _, e := range evs {
		if e.IP == slow && !e.Geo.IsZero() {
			t.Errorf("slow lookup produced %+v", e.Geo)
		}
		countries[e.Geo.Country]++
	}
	if countries["NL"] != 2 || countries["FR"] != 1 || countries[""] != 3 {
		t.Errorf("countries = %v, want NL×2, FR×1 (caller's Geo kept), none×3", countries)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls[known] != 1 || calls[unknown] != 1 {
		t.Errorf("resolver calls = %v: answers (including not-found) must be cached", calls)
	}
	if seenGeo[3].Country != "NL" {
		t.Errorf("detector saw %+v for a cached address, want the cached Geo", seenGeo[3])
	}
	if s := m.Stats(); s.GeoFailures != 1 {
		t.Errorf("GeoFailures = %d, want 1 (the slow lookup)", s.GeoFailures)
	}
}

// maintainerStore adds the Maintainer capability to a testStore.
type maintainerStore struct {
	*testStore
	calls chan time.Time
}

func (s *maintainerStore) Maintain(_ context.Context, now time.Time, p secmon.RetentionPolicy) (secmon.MaintenanceResult, error) {
	s.calls <- now
	if p.Events != secmon.DefaultEventRetention {
		return secmon.MaintenanceResult{}, fmt.Errorf("policy not defaulted: %+v", p)
	}
	return secmon.MaintenanceResult{PartitionsCreated: 2}, nil
}

func TestRunMaintenanceUsesMaintainerOrPurge(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, func(c *secmon.Config) {
		c.Maintenance.Retention = secmon.RetentionPolicy{Events: 24 * time.Hour}
	})
	ctx := context.Background()
	if _, err := m.RunMaintenance(ctx); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	if len(st.purges) != 1 || st.purges[0].Events != 24*time.Hour || st.purges[0].Sessions != secmon.DefaultSessionRetention || !st.purgeNow[0].Equal(clock.Now()) {
		t.Errorf("Purge calls %+v at %v", st.purges, st.purgeNow)
	}
	st.errInjected = errors.New("purge failed")
	st.mu.Unlock()
	if _, err := m.RunMaintenance(ctx); err == nil {
		t.Error("a failing Purge must be reported")
	}
	if s := m.Stats(); s.MaintenanceRuns != 2 || s.MaintenanceErrors != 1 {
		t.Errorf("maintenance stats %+v", s)
	}

	ms := &maintainerStore{testStore: newTestStore(clock), calls: make(chan time.Time, 1)}
	m2, err := secmon.New(secmon.Config{Store: ms, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	res, err := m2.RunMaintenance(ctx)
	if err != nil || res.PartitionsCreated != 2 {
		t.Errorf("Maintain result %+v, %v", res, err)
	}
	if got := <-ms.calls; !got.Equal(clock.Now()) {
		t.Errorf("Maintain now = %v", got)
	}
}

func TestMaintenanceLoopRunsAndStops(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	st := newTestStore(clock)
	st.purgeSignal = make(chan struct{}, 1)
	m, err := secmon.New(secmon.Config{Store: st, Clock: clock, Maintenance: secmon.MaintenanceConfig{Interval: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.purgeSignal:
	case <-time.After(20 * time.Second):
		t.Fatal("maintenance loop never ran")
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.Stats().MaintenanceRuns == 0 {
		t.Error("MaintenanceRuns = 0")
	}
}

func TestMaintenanceOffByDefault(t *testing.T) {
	t.Parallel()
	m, st, _ := setup(t, nil)
	mustFlush(t, m)
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.purges) != 0 {
		t.Errorf("Purge called %d times with maintenance off", len(st.purges))
	}
	_ = m
}

func TestSystemClockByDefault(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	m, err := secmon.New(secmon.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := time.Now()
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLogout}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	evs, _ := st.QueryEvents(ctx, secmon.EventQuery{})
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
	// Stores may drop the monotonic reading; allow for wall-clock rounding.
	if got := evs[0].Time; got.Before(before.Round(0).Add(-time.Millisecond)) || got.After(after.Round(0).Add(time.Millisecond)) {
		t.Errorf("stamped %v, want between %v and %v", got, before, after)
	}
}

func TestStoreRejectedRowsAreIsolated(t *testing.T) {
	t.Parallel()
	m, st, _ := setup(t, nil)
	ctx := context.Background()
	long := strings.Repeat("x", 300) // memstore refuses Geo names over 256 bytes
	for i := range 10 {
		e := secmon.Event{Type: secmon.EventLoginSuccess, UserID: fmt.Sprint("u", i)}
		if i == 4 {
			e.Geo.City = long
		}
		if err := m.Log(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "ok", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "bad", UserID: "u", Geo: secmon.Geo{City: long}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("Flush with one unfit row: %v (it must not block the batch)", err)
	}
	if total, _ := st.writtenEvents(); total != 9 {
		t.Errorf("written %d events, want the 9 fit ones", total)
	}
	sess, _ := st.ActiveSessions(ctx, secmon.SessionQuery{})
	if len(sess) != 1 || sess[0].SessionID != "ok" {
		t.Errorf("sessions = %+v", sess)
	}
	s := m.Stats()
	if s.EventsRejected != 1 || s.SessionsRejected != 1 || s.EventsWritten != 9 || s.PendingEvents != 0 || s.PendingSessions != 0 {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(s.LastError, "invalid") {
		t.Errorf("LastError = %q", s.LastError)
	}
	// The pipeline keeps flowing.
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLogout}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	if total, _ := st.writtenEvents(); total != 10 {
		t.Errorf("written %d after the rejection, want 10", total)
	}
}

func TestLogRejectsOversizedFingerprint(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, nil)
	fp := strings.Repeat("f", secmon.MaxIDLen+1)
	if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLogout, Fingerprint: fp}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("Log = %v, want ErrInvalid", err)
	}
	if err := m.Heartbeat(context.Background(), secmon.SessionBeat{SessionID: "s", UserID: "u", Fingerprint: fp}); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("Heartbeat = %v, want ErrInvalid", err)
	}
}

func TestAlertResolvedByHostWhileSuppressed(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, func(c *secmon.Config) { c.Detector = perEventDetector() })
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.50")
	logFail := func() {
		t.Helper()
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: ip}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	logFail()
	logFail()
	mustFlush(t, m)
	open, _ := st.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	if len(open) != 1 || open[0].Count != 2 {
		t.Fatalf("open alerts %+v", open)
	}
	if err := st.SetAlertStatus(ctx, open[0].ID, secmon.AlertResolved); err != nil {
		t.Fatal(err)
	}
	logFail() // still within the window in memory
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("Flush after the host resolved the alert: %v", err)
	}
	all, _ := st.Alerts(ctx, secmon.AlertQuery{})
	var counts []string
	for _, a := range all {
		counts = append(counts, fmt.Sprint(a.Status, ":", a.Count))
	}
	slices.Sort(counts)
	if fmt.Sprint(counts) != "[open:1 resolved:2]" {
		t.Errorf("alerts = %v, want the resolved one kept and a new open one", counts)
	}
	if s := m.Stats(); s.AlertsRejected != 0 || s.PendingAlerts != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestCloseDeadlineWhileStoreHangs(t *testing.T) {
	t.Parallel()
	m, st, _ := setup(t, func(c *secmon.Config) { c.BatchSize = 5 })
	entered := make(chan struct{}, 1)
	st.mu.Lock()
	st.gate = make(chan struct{})
	st.gateEntered = entered
	st.mu.Unlock()
	ctx := context.Background()
	for range 5 { // a full batch: the flusher starts a write that hangs
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLogout}); err != nil {
			t.Fatal(err)
		}
	}
	<-entered
	// Flush waits for the busy flusher only as long as its context allows.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := m.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush while the flusher hangs = %v, want DeadlineExceeded", err)
	}
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	err := m.Close(short2)
	var ue *secmon.UnflushedError
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) || ue.Events != 5 {
		t.Fatalf("Close with a hanging store = %v, want an UnflushedError for 5 events", err)
	}
	st.mu.Lock()
	close(st.gate)
	st.mu.Unlock()
	if err := m.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if total, dup := st.writtenEvents(); total != 5 || dup != 0 {
		t.Errorf("written %d (dup %d), want 5", total, dup)
	}
}

func TestGeoResolvesTheAddressBeforePrivacy(t *testing.T) {
	t.Parallel()
	raw := netip.MustParseAddr("203.0.113.9")
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.Privacy = &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: []byte("0123456789abcdef0123456789abcdef")}
		c.Geo = secmon.GeoResolverFunc(func(_ context.Context, ip netip.Addr) (secmon.Geo, error) {
			if ip == raw {
				return secmon.Geo{Country: "NL"}, nil
			}
			return secmon.Geo{}, secmon.ErrNotFound
		})
	})
	ctx := context.Background()
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginSuccess, IP: raw}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	evs, _ := st.QueryEvents(ctx, secmon.EventQuery{})
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
	if evs[0].IP == raw || !evs[0].IP.IsValid() {
		t.Errorf("stored IP %v: the policy should have hashed it", evs[0].IP)
	}
	if evs[0].Geo.Country != "NL" {
		t.Errorf("Geo = %+v, want the raw address's country", evs[0].Geo)
	}
}

func TestStampedIDsAreUniqueTimeOrderedUUIDv7(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, func(c *secmon.Config) { c.QueueCapacity = 20000 })
	ctx := context.Background()
	const n = 10000
	for i := range n {
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventPageView}); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			clock.Advance(time.Millisecond)
		}
	}
	old := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC) // before the epoch: clamped, no panic
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventPageView, Time: old}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, m)
	evs, err := st.QueryEvents(ctx, secmon.EventQuery{Limit: secmon.MaxQueryLimit, From: clock.Now().Add(-time.Hour)})
	if err != nil || len(evs) != n {
		t.Fatalf("got %d events, %v", len(evs), err)
	}
	seen := map[uuid.UUID]bool{}
	for _, e := range evs {
		if seen[e.ID] {
			t.Fatalf("duplicate ID %v", e.ID)
		}
		seen[e.ID] = true
		if e.ID.Version() != 7 || e.ID.Variant() != uuid.RFC4122 {
			t.Fatalf("ID %v: version %d variant %v", e.ID, e.ID.Version(), e.ID.Variant())
		}
		ms := int64(binary.BigEndian.Uint64(e.ID[0:8]) >> 16)
		if ms != e.Time.UnixMilli() {
			t.Fatalf("ID %v carries %d ms, event time is %d", e.ID, ms, e.Time.UnixMilli())
		}
	}
}

func TestConcurrentProducersAndFlushes(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, func(c *secmon.Config) {
		c.BatchSize = 7
		c.FlushInterval = time.Millisecond
		c.Detector = perEventDetector()
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	const workers, each = 4, 300
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				ip := netip.AddrFrom4([4]byte{10, 9, byte(g), byte(i % 3)})
				if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, UserID: fmt.Sprint(g), IP: ip}); err != nil {
					t.Error(err)
					return
				}
				if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: fmt.Sprint("s", g, "-", i%10), UserID: fmt.Sprint(g), IP: ip}); err != nil {
					t.Error(err)
					return
				}
				if err := m.TrackActivity(ctx, secmon.Activity{UserID: fmt.Sprint(g), Action: "page_view"}); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := m.Flush(ctx); err != nil {
						t.Error(err)
					}
					clock.Advance(time.Second)
				}
				_ = m.Stats()
			}
		})
	}
	wg.Wait()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	anomalies := int(m.Stats().SessionAnomalies) // sessions move between three addresses
	if total, dup := st.writtenEvents(); total != workers*each+anomalies || dup != 0 || anomalies == 0 {
		t.Errorf("events written %d (dup %d), want %d logged and %d anomalies", total, dup, workers*each, anomalies)
	}
	st.mu.Lock()
	nacts := len(st.activityIDs)
	st.mu.Unlock()
	if nacts != workers*each {
		t.Errorf("activities written %d, want %d", nacts, workers*each)
	}
	sess, _ := st.ActiveSessions(ctx, secmon.SessionQuery{Limit: 1000})
	if len(sess) != workers*10 {
		t.Errorf("sessions %d, want %d", len(sess), workers*10)
	}
	alerts, _ := st.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen, Limit: 1000})
	var count int64
	for _, a := range alerts {
		count += a.Count
	}
	if len(alerts) != workers*3 || count != workers*each {
		t.Errorf("%d open alerts with total Count %d, want %d and %d", len(alerts), count, workers*3, workers*each)
	}
}

// recordHandler is a slog.Handler that keeps the records it is given.
type recordHandler struct {
	mu   sync.Mutex
	recs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, b.String())
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestLoggerReportsFailuresWithoutEventData(t *testing.T) {
	t.Parallel()
	h := &recordHandler{}
	m, st, _ := setup(t, func(c *secmon.Config) { c.Logger = slog.New(h) })
	st.setFailAll(true)
	ctx := context.Background()
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, UserID: "alice@example.com", Metadata: map[string]string{"reason": "pw hunter2"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(ctx); err == nil {
		t.Fatal("Flush on a failing store returned nil")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	all := strings.Join(h.recs, "\n")
	if !strings.Contains(all, "flush failed") || !strings.Contains(all, errOutage.Error()) {
		t.Errorf("log lacks the failure: %q", all)
	}
	for _, secret := range []string{"alice", "hunter2"} {
		if strings.Contains(all, secret) {
			t.Errorf("log leaks %q: %q", secret, all)
		}
	}
}

func TestAlertCapacityBoundsMemory(t *testing.T) {
	t.Parallel()
	m, st, clock := setup(t, func(c *secmon.Config) {
		c.Detector = perEventDetector()
		c.AlertCapacity = 3
		c.SuppressWindow = time.Minute
	})
	ctx := context.Background()
	logFrom := func(i int) {
		t.Helper()
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: netip.AddrFrom4([4]byte{10, 7, 0, byte(i)})}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		logFrom(i)
	}
	if s := m.Stats(); s.AlertsOpened != 3 || s.AlertsDropped != 2 {
		t.Fatalf("opened %d dropped %d, want 3 and 2", s.AlertsOpened, s.AlertsDropped)
	}
	mustFlush(t, m)
	// Written and quiet for longer than the window: forgotten, room again.
	clock.Advance(2 * time.Minute)
	logFrom(10)
	if s := m.Stats(); s.AlertsOpened != 4 || s.AlertsDropped != 2 {
		t.Errorf("after the window: opened %d dropped %d, want 4 and 2", s.AlertsOpened, s.AlertsDropped)
	}
	mustFlush(t, m)
	alerts, _ := st.Alerts(ctx, secmon.AlertQuery{})
	if len(alerts) != 4 {
		t.Errorf("stored alerts = %d, want 4", len(alerts))
	}
}

// A slow ActivityLimiter (a rate limiter over the network) must not hold the
// Monitor's close lock: Close would wait for it, and while Close waits every
// Log and Heartbeat would wait too.
func TestSlowActivityLimiterDoesNotBlockClose(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.AllowedActions = []string{"page_view"}
		c.ActivityLimiter = secmon.RateLimiterFunc(func(ctx context.Context, _ string) (secmon.Decision, error) {
			once.Do(func() { close(entered) })
			<-release
			return secmon.Decision{Allowed: true}, nil
		})
	})
	tracked := make(chan error, 1)
	go func() {
		tracked <- m.TrackActivity(context.Background(), secmon.Activity{UserID: "u1", Action: "page_view"})
	}()
	<-entered
	if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure, UserID: "u2"}); err != nil {
		t.Fatalf("Log = %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close(context.Background()) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close = %v", err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		<-closed
		<-tracked
		t.Fatal("Close waited for the activity limiter")
	}
	close(release)
	if err := <-tracked; !errors.Is(err, secmon.ErrClosed) {
		t.Errorf("TrackActivity that finished after Close = %v, want ErrClosed", err)
	}
	if total, _ := st.writtenEvents(); total != 1 {
		t.Errorf("written %d events, want 1", total)
	}
}

// gatedSessions is a memstore whose UpsertSessions waits for the test: it
// signals entered, then returns what release sends (writing on nil).
type gatedSessions struct {
	*memstore.Store
	entered chan struct{}
	release chan error
}

func (s *gatedSessions) UpsertSessions(ctx context.Context, beats []secmon.SessionBeat) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case err := <-s.release:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.UpsertSessions(ctx, beats)
}

// Sessions whose write is in flight still hold memory (and return to the
// pending list if the write fails), so they count against
// MaxPendingSessions: a failed write must never leave more than
// MaxPendingSessions sessions pending. A session already in flight may
// still beat.
func TestMaxPendingSessionsCountsWritesInFlight(t *testing.T) {
	t.Parallel()
	st := &gatedSessions{Store: memstore.New(), entered: make(chan struct{}, 1), release: make(chan error, 8)}
	m, err := secmon.New(secmon.Config{Store: st, Clock: newFakeClock(), FlushInterval: time.Hour, MaxPendingSessions: 2,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	beat := func(id string) error { return m.Heartbeat(ctx, secmon.SessionBeat{SessionID: id, UserID: "u"}) }
	for _, id := range []string{"s1", "s2"} {
		if err := beat(id); err != nil {
			t.Fatalf("Heartbeat(%s) = %v", id, err)
		}
	}
	flushed := make(chan error, 1)
	go func() { flushed <- m.Flush(ctx) }()
	<-st.entered
	if err := beat("s3"); !errors.Is(err, secmon.ErrQueueFull) {
		t.Errorf("new session while 2 are being written: %v, want ErrQueueFull", err)
	}
	if err := beat("s1"); err != nil {
		t.Errorf("session in flight beating again: %v", err)
	}
	st.release <- errOutage
	if err := <-flushed; !errors.Is(err, errOutage) {
		t.Fatalf("Flush = %v, want the outage", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var ue *secmon.UnflushedError
	if err := m.Close(cctx); !errors.As(err, &ue) || ue.Sessions > 2 {
		t.Errorf("Close = %v; want an UnflushedError with at most 2 sessions", err)
	}
	st.release <- nil
	if err := m.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
	got, err := st.Store.ActiveSessions(ctx, secmon.SessionQuery{})
	if err != nil || len(got) != 2 {
		t.Errorf("stored sessions %v, %v; want s1 and s2", got, err)
	}
}

// TestFindingsByRule checks that Stats counts every valid finding by its
// rule, whether it opened an alert or merged into one, and that a Detector
// inventing rule names cannot grow the map without bound.
func TestFindingsByRule(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, func(c *secmon.Config) {
		c.Detector = secmon.DetectorFunc(func(_ context.Context, e secmon.Event) ([]secmon.Finding, error) {
			rule := secmon.RuleName(e.Metadata["reason"])
			return []secmon.Finding{
				{Rule: rule, Subject: "user:" + e.UserID, Severity: secmon.SeverityHigh},
				{Rule: "", Subject: "x", Severity: secmon.SeverityHigh}, // invalid: not counted by rule
			}, nil
		})
	})
	ctx := context.Background()
	log := func(rule, user string) {
		t.Helper()
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, UserID: user, Metadata: map[string]string{"reason": rule}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		log("brute_force_account", "bob") // one alert, two merges
	}
	log("impossible_travel", "alice")
	s := m.Stats()
	if got := s.FindingsByRule; len(got) != 2 || got["brute_force_account"] != 3 || got["impossible_travel"] != 1 {
		t.Errorf("FindingsByRule = %v", got)
	}
	s.FindingsByRule["brute_force_account"] = 99 // a copy
	if m.Stats().FindingsByRule["brute_force_account"] != 3 {
		t.Error("Stats returned the Monitor's own map")
	}

	for i := range secmon.MaxFindingRules + 10 {
		log(fmt.Sprintf("rule_%03d", i), "u")
	}
	got := m.Stats().FindingsByRule
	if len(got) != secmon.MaxFindingRules+1 || got[secmon.OtherRules] == 0 {
		t.Errorf("%d rules counted (other: %d), want %d and the rest under %q", len(got), got[secmon.OtherRules], secmon.MaxFindingRules+1, secmon.OtherRules)
	}
	var total uint64
	for _, n := range got {
		total += n
	}
	if total != 4+secmon.MaxFindingRules+10 {
		t.Errorf("total findings %d, want %d", total, 4+secmon.MaxFindingRules+10)
	}
}
