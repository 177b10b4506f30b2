package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, cfg memstore.Config) *memstore.Store {
	t.Helper()
	s, err := memstore.NewWithConfig(cfg)
	if err != nil {
		t.Fatalf("NewWithConfig: %v", err)
	}
	return s
}

func ev(sec int) secmon.Event {
	return secmon.Event{ID: secmon.NewID(), Time: t0.Add(time.Duration(sec) * time.Second), Type: secmon.EventPageView, UserID: "u"}
}

func TestNewWithConfigRejectsNegative(t *testing.T) {
	t.Parallel()
	for _, cfg := range []memstore.Config{
		{MaxEvents: -1}, {MaxSessions: -1}, {MaxActivities: -1}, {MaxAlerts: -1}, {SubscriberBuffer: -1},
	} {
		if s, err := memstore.NewWithConfig(cfg); err == nil || s != nil {
			t.Errorf("NewWithConfig(%+v) = %v, %v; want an error", cfg, s, err)
		}
	}
}

func TestEventsEvictOldest(t *testing.T) {
	t.Parallel()
	s := setup(t, memstore.Config{MaxEvents: 10})
	ctx := t.Context()
	var batch []secmon.Event
	for i := range 15 {
		batch = append(batch, ev(i))
	}
	if err := s.InsertEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// An event older than everything held is evicted at once; a newer
	// one evicts the oldest.
	if err := s.InsertEvents(ctx, []secmon.Event{ev(-100), ev(100)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.QueryEvents(ctx, secmon.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var secs []int
	for _, e := range got {
		secs = append(secs, int(e.Time.Sub(t0)/time.Second))
	}
	if want := []int{100, 14, 13, 12, 11, 10, 9, 8, 7, 6}; fmt.Sprint(secs) != fmt.Sprint(want) {
		t.Errorf("held events (seconds) = %v, want %v", secs, want)
	}
	st := s.Stats()
	if st.Events != 10 || st.EvictedEvents != 7 {
		t.Errorf("Stats = %+v, want 10 events held and 7 evicted", st)
	}
}

func TestActivitiesEvictOldest(t *testing.T) {
	t.Parallel()
	s := setup(t, memstore.Config{MaxActivities: 3})
	for i := range 5 {
		a := secmon.Activity{ID: secmon.NewID(), Time: t0.Add(time.Duration(i) * time.Minute), UserID: "u", Action: fmt.Sprint("a", i)}
		if err := s.InsertActivities(t.Context(), []secmon.Activity{a}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Activities(t.Context(), secmon.ActivityQuery{})
	if len(got) != 3 || got[0].Action != "a4" || got[2].Action != "a2" {
		t.Errorf("held activities = %v, want a4, a3, a2", got)
	}
	if st := s.Stats(); st.EvictedActivities != 2 {
		t.Errorf("EvictedActivities = %d, want 2", st.EvictedActivities)
	}
}

func TestSessionsEvictLeastRecentlySeen(t *testing.T) {
	t.Parallel()
	s := setup(t, memstore.Config{MaxSessions: 3})
	ctx := t.Context()
	beat := func(id string, min int) secmon.SessionBeat {
		return secmon.SessionBeat{SessionID: id, UserID: "u-" + id, Time: t0.Add(time.Duration(min) * time.Minute)}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.UpsertSessions(ctx, []secmon.SessionBeat{beat("a", 1), beat("b", 2), beat("c", 3)}))
	must(s.UpsertSessions(ctx, []secmon.SessionBeat{beat("a", 4)})) // a is now the most recent
	must(s.UpsertSessions(ctx, []secmon.SessionBeat{beat("d", 5)})) // evicts b
	got, _ := s.ActiveSessions(ctx, secmon.SessionQuery{})
	var ids []string
	for _, x := range got {
		ids = append(ids, x.SessionID)
	}
	if fmt.Sprint(ids) != "[d a c]" {
		t.Errorf("sessions = %v, want [d a c]", ids)
	}
	if byUser, _ := s.ActiveSessions(ctx, secmon.SessionQuery{UserID: "u-b"}); len(byUser) != 0 {
		t.Errorf("the evicted session is still indexed by user: %v", byUser)
	}
	if st := s.Stats(); st.Sessions != 3 || st.EvictedSessions != 1 {
		t.Errorf("Stats = %+v, want 3 sessions, 1 evicted", st)
	}
}

func TestAlertsEvictClosedFirst(t *testing.T) {
	t.Parallel()
	s := setup(t, memstore.Config{MaxAlerts: 2})
	ctx := t.Context()
	open := func(subject string, min int) secmon.Alert {
		return secmon.Alert{ID: secmon.NewID(), Rule: "r", Subject: subject, LastSeen: t0.Add(time.Duration(min) * time.Minute)}
	}
	old, recent := open("old-open", 1), open("recent-resolved", 5)
	if err := s.UpsertAlerts(ctx, []secmon.Alert{old, recent}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAlertStatus(ctx, recent.ID, secmon.AlertResolved); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertAlerts(ctx, []secmon.Alert{open("new", 9)}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Alerts(ctx, secmon.AlertQuery{})
	var subjects []string
	for _, a := range got {
		subjects = append(subjects, a.Subject)
	}
	if fmt.Sprint(subjects) != "[new old-open]" {
		t.Errorf("alerts = %v, want the resolved one evicted before the older open one", subjects)
	}
	// With only open alerts, the least recently seen open one goes, and the
	// pair is free again.
	if err := s.UpsertAlerts(ctx, []secmon.Alert{open("newer", 10)}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertAlerts(ctx, []secmon.Alert{open("old-open", 11)}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Alerts(ctx, secmon.AlertQuery{Subject: "old-open"})
	if len(got) != 1 || got[0].Count != 1 {
		t.Errorf("old-open after eviction = %v, want a fresh alert with Count 1", got)
	}
	if st := s.Stats(); st.Alerts != 2 || st.EvictedAlerts != 3 {
		t.Errorf("Stats = %+v, want 2 alerts, 3 evicted", st)
	}
}

func TestRowSizeLimits(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	ctx := t.Context()
	huge := make(map[string]string, 10_000)
	for i := range 10_000 {
		huge[fmt.Sprint("k", i)] = "v"
	}
	tenMB := strings.Repeat("x", 10<<20)
	cases := map[string]func() error{
		"event with 10,000 metadata keys": func() error {
			e := ev(0)
			e.Metadata = huge
			return s.InsertEvents(ctx, []secmon.Event{e})
		},
		"event with a 10 MB metadata value": func() error {
			e := ev(0)
			e.Metadata = map[string]string{"note": tenMB}
			return s.InsertEvents(ctx, []secmon.Event{e})
		},
		"event with a 10 MB user agent": func() error {
			e := ev(0)
			e.UserAgent = tenMB
			return s.InsertEvents(ctx, []secmon.Event{e})
		},
		"event with no type": func() error {
			e := ev(0)
			e.Type = ""
			return s.InsertEvents(ctx, []secmon.Event{e})
		},
		"activity with a 10 MB resource": func() error {
			return s.InsertActivities(ctx, []secmon.Activity{{ID: secmon.NewID(), Time: t0, UserID: "u", Action: "a", Resource: tenMB}})
		},
		"beat with a 10 MB session ID": func() error {
			return s.UpsertSessions(ctx, []secmon.SessionBeat{{SessionID: tenMB, UserID: "u", Time: t0}})
		},
		"alert with 10,000 evidence keys": func() error {
			return s.UpsertAlerts(ctx, []secmon.Alert{{Rule: "r", Subject: "s", LastSeen: t0, Evidence: huge}})
		},
		"alert with a 10 MB summary": func() error {
			return s.UpsertAlerts(ctx, []secmon.Alert{{Rule: "r", Subject: "s", LastSeen: t0, Summary: tenMB}})
		},
	}
	for name, call := range cases {
		err := call()
		if !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("%s: error = %v, want ErrInvalid", name, err)
		} else if len(err.Error()) > 200 {
			t.Errorf("%s: error message is %d bytes long; it must not echo the input", name, len(err.Error()))
		}
	}
	if st := s.Stats(); st.Events+st.Activities+st.Sessions+st.Alerts != 0 {
		t.Errorf("rejected rows were stored: %+v", st)
	}
}

func TestAlertIDReuse(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	ctx := t.Context()
	a := secmon.Alert{ID: secmon.NewID(), Rule: "r", Subject: "s1", LastSeen: t0}
	must(t, s.UpsertAlerts(ctx, []secmon.Alert{a}))
	// Another pair carrying a's ID gets a fresh ID; a is untouched.
	b := a
	b.Subject = "s2"
	must(t, s.UpsertAlerts(ctx, []secmon.Alert{b}))
	got, _ := s.Alerts(ctx, secmon.AlertQuery{})
	if len(got) != 2 || got[0].ID == got[1].ID {
		t.Fatalf("alerts = %v, want two with distinct IDs", got)
	}
	for _, x := range got {
		if x.Subject == "s1" && (x.ID != a.ID || x.Count != 1) {
			t.Errorf("the first alert changed: %+v", x)
		}
	}
	// Reopening an alert while another is open for the pair is refused.
	must(t, s.SetAlertStatus(ctx, a.ID, secmon.AlertResolved))
	must(t, s.UpsertAlerts(ctx, []secmon.Alert{{Rule: "r", Subject: "s1", LastSeen: t0.Add(time.Minute)}}))
	if err := s.SetAlertStatus(ctx, a.ID, secmon.AlertOpen); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("reopening beside another open alert: error = %v, want ErrInvalid", err)
	}
}

func TestMaintainPurges(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	ctx := t.Context()
	if err := s.InsertEvents(ctx, []secmon.Event{ev(0), ev(int((40 * 24 * time.Hour).Seconds()))}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Maintain(ctx, t0.Add(45*24*time.Hour), secmon.RetentionPolicy{Events: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped || res.Purged.Events != 1 {
		t.Errorf("Maintain = %+v, want one event purged and not skipped", res)
	}
}

func TestSubscribeAlerts(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan secmon.Alert, 10)
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAlerts(ctx, func(a secmon.Alert) {
			a.Evidence["mutated"] = "by subscriber" // must not reach the store
			got <- a
		})
	}()
	waitFor(t, func() bool { return s.Stats().Subscribers == 1 })

	a := secmon.Alert{ID: secmon.NewID(), Rule: "r", Subject: "s", Severity: secmon.SeverityHigh, LastSeen: t0, Evidence: map[string]string{"n": "1"}}
	must(t, s.UpsertAlerts(t.Context(), []secmon.Alert{a}))
	must(t, s.UpsertAlerts(t.Context(), []secmon.Alert{{Rule: "r", Subject: "s", LastSeen: t0.Add(time.Second), Evidence: map[string]string{"n": "2"}}}))
	must(t, s.SetAlertStatus(t.Context(), a.ID, secmon.AlertResolved))

	want := []struct {
		count  int64
		status secmon.AlertStatus
	}{{1, secmon.AlertOpen}, {2, secmon.AlertOpen}, {2, secmon.AlertResolved}}
	for i, w := range want {
		select {
		case x := <-got:
			if x.ID != a.ID || x.Count != w.count || x.Status != w.status {
				t.Errorf("update %d = %s count %d %s, want %s count %d %s", i, x.ID, x.Count, x.Status, a.ID, w.count, w.status)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("update %d not delivered", i)
		}
	}
	stored, _ := s.Alerts(t.Context(), secmon.AlertQuery{})
	if _, ok := stored[0].Evidence["mutated"]; ok {
		t.Error("a subscriber changed the stored evidence")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("SubscribeAlerts returned %v, want context.Canceled", err)
	}
	if n := s.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers left after cancel", n)
	}
}

func TestSlowSubscriberDropsCounted(t *testing.T) {
	t.Parallel()
	s := setup(t, memstore.Config{SubscriberBuffer: 2})
	ctx, cancel := context.WithCancel(t.Context())
	release := make(chan struct{})
	var mu sync.Mutex
	delivered := 0
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAlerts(ctx, func(secmon.Alert) {
			<-release // a subscriber stuck in its callback
			mu.Lock()
			delivered++
			mu.Unlock()
		})
	}()
	waitFor(t, func() bool { return s.Stats().Subscribers == 1 })

	const n = 20
	for i := range n {
		// The store must not wait for the stuck subscriber.
		must(t, s.UpsertAlerts(t.Context(), []secmon.Alert{{Rule: "r", Subject: fmt.Sprint("s", i), LastSeen: t0}}))
	}
	// At most one update is inside the callback and two are buffered.
	dropped := s.Stats().DroppedNotifications
	if dropped < n-3 || dropped > n-2 {
		t.Errorf("DroppedNotifications = %d, want %d or %d", dropped, n-3, n-2)
	}
	close(release)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return uint64(delivered)+dropped == n })
	cancel()
	<-done
}

func TestSubscribeAlertsBadInput(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	if err := s.SubscribeAlerts(t.Context(), nil); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("SubscribeAlerts(nil) = %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.SubscribeAlerts(ctx, func(secmon.Alert) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("SubscribeAlerts with a cancelled context = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond; it bounds how long a broken implementation can hang
// the test, not how fast a working one must be.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReportsNeedBothBounds(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	for _, r := range [][2]time.Time{{{}, t0}, {t0, {}}} {
		if _, err := s.Summary(t.Context(), r[0], r[1]); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("Summary(%v, %v) error = %v, want ErrInvalid", r[0], r[1], err)
		}
		if _, err := s.Hourly(t.Context(), r[0], r[1]); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("Hourly(%v, %v) error = %v, want ErrInvalid", r[0], r[1], err)
		}
	}
}

// A retried batch, partly stored already and interleaved with rows written
// meanwhile, adds only the rows that are missing: events and activities
// alike.
func TestRetriedBatchesSkipStoredRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t, memstore.Config{})
	var evs []secmon.Event
	var acts []secmon.Activity
	for i := range 10 {
		evs = append(evs, ev(i))
		acts = append(acts, secmon.Activity{ID: secmon.NewID(), Time: t0.Add(time.Duration(i) * time.Second), UserID: "u", Action: "page_view"})
	}
	// The first attempt stored the even rows only, then newer rows arrived.
	for i := 0; i < 10; i += 2 {
		if err := s.InsertEvents(ctx, evs[i:i+1]); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertActivities(ctx, acts[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	newer := ev(100)
	if err := s.InsertEvents(ctx, []secmon.Event{newer}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertActivities(ctx, []secmon.Activity{{ID: secmon.NewID(), Time: newer.Time, UserID: "u", Action: "page_view"}}); err != nil {
		t.Fatal(err)
	}
	// The retry sends the whole batch, reversed and with a row repeated.
	retryE := append([]secmon.Event{evs[3]}, evs...)
	retryA := append([]secmon.Activity{acts[3]}, acts...)
	for i, j := 0, len(retryE)-1; i < j; i, j = i+1, j-1 {
		retryE[i], retryE[j] = retryE[j], retryE[i]
		retryA[i], retryA[j] = retryA[j], retryA[i]
	}
	for range 2 {
		if err := s.InsertEvents(ctx, retryE); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertActivities(ctx, retryA); err != nil {
			t.Fatal(err)
		}
	}
	gotE, err := s.QueryEvents(ctx, secmon.EventQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	gotA, err := s.Activities(ctx, secmon.ActivityQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(gotE) != 11 || len(gotA) != 11 {
		t.Fatalf("stored %d events and %d activities, want 11 of each", len(gotE), len(gotA))
	}
	ids := map[[16]byte]int{}
	for _, e := range gotE {
		ids[e.ID]++
	}
	for _, a := range gotA {
		ids[a.ID]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("ID %x stored %d times", id, n)
		}
	}
}
