package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

var contextTests = []test{
	{"Cancelled", testCancelled},
}

var concurrencyTests = []test{
	{"ParallelWriters", testParallelWriters},
}

func testCancelled(t *testing.T, s secmon.Store) {
	// Something to find, so a method cannot succeed only because it had
	// nothing to do.
	a := alert("r", "s", secmon.SeverityLow, 1, base, base, "x")
	upsertAlerts(t, s, a)
	upsertSessions(t, s, beat("s1", "alice", base, "", ""))

	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	ev := secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventLogout, UserID: "alice"}
	calls := []struct {
		name string
		call func() error
	}{
		{"InsertEvents", func() error { return s.InsertEvents(cctx, []secmon.Event{ev}) }},
		{"QueryEvents", func() error { _, err := s.QueryEvents(cctx, secmon.EventQuery{}); return err }},
		{"UpsertSessions", func() error {
			return s.UpsertSessions(cctx, []secmon.SessionBeat{beat("s2", "alice", base, "", "")})
		}},
		{"ActiveSessions", func() error { _, err := s.ActiveSessions(cctx, secmon.SessionQuery{}); return err }},
		{"RevokeSession", func() error { return s.RevokeSession(cctx, "s1", base) }},
		{"InsertActivities", func() error {
			return s.InsertActivities(cctx, []secmon.Activity{{ID: secmon.NewID(), Time: base, UserID: "alice", Action: "view"}})
		}},
		{"Activities", func() error { _, err := s.Activities(cctx, secmon.ActivityQuery{}); return err }},
		{"UpsertAlerts", func() error {
			return s.UpsertAlerts(cctx, []secmon.Alert{alert("r", "s2", secmon.SeverityLow, 1, base, base, "")})
		}},
		{"Alerts", func() error { _, err := s.Alerts(cctx, secmon.AlertQuery{}); return err }},
		{"SetAlertStatus", func() error { return s.SetAlertStatus(cctx, a.ID, secmon.AlertResolved) }},
		{"Summary", func() error { _, err := s.Summary(cctx, base, base.Add(time.Hour)); return err }},
		{"Hourly", func() error { _, err := s.Hourly(cctx, base, base.Add(time.Hour)); return err }},
		{"Purge", func() error { _, err := s.Purge(cctx, secmon.RetentionPolicy{}, base.Add(1000*day)); return err }},
		{"EraseUser", func() error { _, err := s.EraseUser(cctx, "alice"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: error = %v, want one matching context.Canceled", c.name, err)
		}
	}

	// None of the cancelled calls changed anything.
	if evs := allEvents(t, s); len(evs) != 0 {
		t.Errorf("cancelled InsertEvents stored %d events", len(evs))
	}
	ss := allSessions(t, s)
	if len(ss) != 1 || ss[0].SessionID != "s1" {
		t.Errorf("sessions after cancelled calls: %v, want only s1, live", ss)
	}
	as := allAlerts(t, s)
	if len(as) != 1 || as[0].Status != secmon.AlertOpen {
		t.Errorf("alerts after cancelled calls: %v, want one open alert", as)
	}
	if acts := activities(t, s, secmon.ActivityQuery{}); len(acts) != 0 {
		t.Errorf("cancelled InsertActivities stored %d rows", len(acts))
	}
}

func testParallelWriters(t *testing.T, s secmon.Store) {
	const (
		writers   = 8
		batches   = 10
		batchSize = 50
		findings  = 20
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers*4)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := t.Context()
			for b := range batches {
				evs := make([]secmon.Event, batchSize)
				for i := range evs {
					evs[i] = secmon.Event{
						ID: secmon.NewID(), Time: base.Add(time.Duration(b*batchSize+i) * time.Second),
						Type: secmon.EventPageView, UserID: fmt.Sprintf("w%d", w),
					}
				}
				if err := s.InsertEvents(c, evs); err != nil {
					errs <- fmt.Errorf("InsertEvents: %w", err)
					return
				}
				beats := []secmon.SessionBeat{
					beat(fmt.Sprintf("w%d-s%d", w, b), "u", base.Add(time.Duration(b)*time.Minute), "", ""),
					beat("shared", "u", base.Add(time.Duration(w*batches+b)*time.Second), "", fmt.Sprintf("w%d-b%d", w, b)),
				}
				if err := s.UpsertSessions(c, beats); err != nil {
					errs <- fmt.Errorf("UpsertSessions: %w", err)
					return
				}
			}
			for i := range findings {
				at := base.Add(time.Duration(w*findings+i) * time.Millisecond)
				if err := s.UpsertAlerts(c, []secmon.Alert{alert("brute_force_ip", "ip:shared", secmon.SeverityLow, 1, at, at, "")}); err != nil {
					errs <- fmt.Errorf("UpsertAlerts: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	if n := len(allEvents(t, s)); n != writers*batches*batchSize {
		t.Errorf("%d events stored, want %d", n, writers*batches*batchSize)
	}
	ss := allSessions(t, s)
	if len(ss) != writers*batches+1 {
		t.Errorf("%d sessions stored, want %d", len(ss), writers*batches+1)
	}
	last := base.Add(time.Duration(writers*batches-1) * time.Second)
	lastUA := fmt.Sprintf("w%d-b%d", writers-1, batches-1)
	for _, x := range ss {
		if x.SessionID == "shared" && (!x.LastSeen.Equal(last) || x.UserAgent != lastUA || !x.StartedAt.Equal(base)) {
			t.Errorf("shared session = %+v, want LastSeen %v, UserAgent %q, StartedAt %v", x, last, lastUA, base)
		}
	}
	as := allAlerts(t, s)
	if len(as) != 1 {
		t.Fatalf("%d alerts for one (rule, subject), want 1", len(as))
	}
	if as[0].Count != writers*findings || as[0].Status != secmon.AlertOpen {
		t.Errorf("alert = Count %d, Status %s; want Count %d, open", as[0].Count, as[0].Status, writers*findings)
	}
	if want := base.Add(time.Duration(writers*findings-1) * time.Millisecond); !as[0].LastSeen.Equal(want) {
		t.Errorf("alert LastSeen = %v, want %v", as[0].LastSeen, want)
	}
}
