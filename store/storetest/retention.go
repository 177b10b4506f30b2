package storetest

import (
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

var retentionTests = []test{
	{"PurgeByPolicy", testPurgePolicy},
	{"PurgeDefaults", testPurgeDefaults},
	{"PurgeNegativeKeepsForever", testPurgeForever},
	{"EraseUser", testEraseUser},
}

const day = 24 * time.Hour

// now for the retention tests: 100 days after base.
var purgeNow = base.Add(100 * day)

// ago returns purgeNow minus d.
func ago(d time.Duration) time.Time { return purgeNow.Add(-d) }

// seedRetention stores, for each kind of row, rows aged `keep` and rows
// aged `drop` (and older). A session's age is counted from its last beat or
// its revocation, whichever is later.
func seedRetention(t *testing.T, s secmon.Store, keep, drop time.Duration) {
	t.Helper()
	insertEvents(t, s,
		secmon.Event{ID: secmon.NewID(), Time: ago(keep), Type: secmon.EventLogout, UserID: "keep"},
		secmon.Event{ID: secmon.NewID(), Time: ago(drop), Type: secmon.EventLogout, UserID: "drop"},
		secmon.Event{ID: secmon.NewID(), Time: ago(drop + day), Type: secmon.EventLogout, UserID: "drop"},
	)
	insertActivities(t, s,
		secmon.Activity{ID: secmon.NewID(), Time: ago(keep), UserID: "keep", Action: "view"},
		secmon.Activity{ID: secmon.NewID(), Time: ago(drop), UserID: "drop", Action: "view"},
	)
	upsertSessions(t, s,
		beat("live-recent", "u", ago(keep), "", ""),
		beat("live-idle", "u", ago(drop), "", ""),
		beat("revoked-recent", "u", ago(drop+day), "", ""),
		beat("revoked-old", "u", ago(drop+2*day), "", ""),
	)
	noErr(t, "RevokeSession", s.RevokeSession(ctx(t), "revoked-recent", ago(keep)))
	noErr(t, "RevokeSession", s.RevokeSession(ctx(t), "revoked-old", ago(drop)))

	resolvedOld := alert("r", "resolved-old", secmon.SeverityLow, 1, ago(drop+day), ago(drop), "")
	resolvedNew := alert("r", "resolved-new", secmon.SeverityLow, 1, ago(drop+day), ago(keep), "")
	ackOld := alert("r", "ack-old", secmon.SeverityLow, 1, ago(drop+day), ago(drop), "")
	openOld := alert("r", "open-old", secmon.SeverityLow, 1, ago(drop+day), ago(drop-day/2), "")
	upsertAlerts(t, s, resolvedOld, resolvedNew, ackOld, openOld)
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), resolvedOld.ID, secmon.AlertResolved))
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), resolvedNew.ID, secmon.AlertResolved))
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), ackOld.ID, secmon.AlertAcknowledged))
}

// checkRetained checks that exactly the "keep" rows (plus the alerts that are
// never purged: acknowledged and open) are left.
func checkRetained(t *testing.T, s secmon.Store) {
	t.Helper()
	for _, e := range allEvents(t, s) {
		if e.UserID != "keep" {
			t.Errorf("event of %q at %v survived the purge", e.UserID, e.Time)
		}
	}
	if n := len(allEvents(t, s)); n != 1 {
		t.Errorf("%d events left, want 1", n)
	}
	acts := activities(t, s, secmon.ActivityQuery{Limit: secmon.MaxQueryLimit})
	if len(acts) != 1 || acts[0].UserID != "keep" {
		t.Errorf("activities left: %v, want only the recent one", acts)
	}
	if ss := allSessions(t, s); len(ss) != 1 || ss[0].SessionID != "live-recent" {
		t.Errorf("active sessions left: %v, want only live-recent", ss)
	}
	var subjects []string
	for _, a := range allAlerts(t, s) {
		subjects = append(subjects, a.Subject)
	}
	diff(t, "alerts left", []string{"resolved-new", "open-old", "ack-old"}, subjects)
}

func testPurgePolicy(t *testing.T, s secmon.Store) {
	seedRetention(t, s, 10*day, 40*day)
	p := secmon.RetentionPolicy{Events: 30 * day, Sessions: 30 * day, Activity: 30 * day, Alerts: 30 * day}
	res, err := s.Purge(ctx(t), p, purgeNow)
	noErr(t, "Purge", err)
	res.PartitionsDropped = 0 // backend detail
	// Sessions: live-idle and revoked-old; revoked-recent was revoked 10 days ago.
	diff(t, "PurgeResult", secmon.PurgeResult{Events: 2, Sessions: 2, Activities: 1, Alerts: 1}, res)
	checkRetained(t, s)

	res, err = s.Purge(ctx(t), p, purgeNow)
	noErr(t, "second Purge", err)
	res.PartitionsDropped = 0
	diff(t, "second PurgeResult", secmon.PurgeResult{}, res)

	_, err = s.Purge(ctx(t), p, time.Time{})
	wantErrIs(t, "Purge with a zero now", err, secmon.ErrInvalid)
}

func testPurgeDefaults(t *testing.T, s secmon.Store) {
	// A zero policy means RetentionPolicy{}.WithDefaults(): rows a day
	// inside each default stay, rows a day past it go.
	d := secmon.RetentionPolicy{}.WithDefaults()
	insertEvents(t, s,
		secmon.Event{ID: secmon.NewID(), Time: ago(d.Events - day), Type: secmon.EventLogout, UserID: "keep"},
		secmon.Event{ID: secmon.NewID(), Time: ago(d.Events + day), Type: secmon.EventLogout, UserID: "drop"},
	)
	insertActivities(t, s,
		secmon.Activity{ID: secmon.NewID(), Time: ago(d.Activity - day), UserID: "keep", Action: "view"},
		secmon.Activity{ID: secmon.NewID(), Time: ago(d.Activity + day), UserID: "drop", Action: "view"},
	)
	upsertSessions(t, s,
		beat("live-recent", "u", ago(d.Sessions-day), "", ""),
		beat("live-idle", "u", ago(d.Sessions+day), "", ""),
	)
	resolvedOld := alert("r", "resolved-old", secmon.SeverityLow, 1, ago(d.Alerts+2*day), ago(d.Alerts+day), "")
	resolvedNew := alert("r", "resolved-new", secmon.SeverityLow, 1, ago(d.Alerts+2*day), ago(d.Alerts-day), "")
	upsertAlerts(t, s, resolvedOld, resolvedNew)
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), resolvedOld.ID, secmon.AlertResolved))
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), resolvedNew.ID, secmon.AlertResolved))

	// Only Events is set: the other fields fall back to their defaults.
	p := secmon.RetentionPolicy{Events: d.Events}
	res, err := s.Purge(ctx(t), p, purgeNow)
	noErr(t, "Purge", err)
	res.PartitionsDropped = 0
	diff(t, "PurgeResult with defaults", secmon.PurgeResult{Events: 1, Sessions: 1, Activities: 1, Alerts: 1}, res)
	if evs := allEvents(t, s); len(evs) != 1 || evs[0].UserID != "keep" {
		t.Errorf("events left: %v, want the one inside the default", evs)
	}
	if ss := allSessions(t, s); len(ss) != 1 || ss[0].SessionID != "live-recent" {
		t.Errorf("sessions left: %v, want live-recent", ss)
	}
	if as := allAlerts(t, s); len(as) != 1 || as[0].Subject != "resolved-new" {
		t.Errorf("alerts left: %v, want resolved-new", as)
	}
}

func testPurgeForever(t *testing.T, s secmon.Store) {
	seedRetention(t, s, 400*day, 800*day)
	forever := secmon.RetentionPolicy{Events: -1, Sessions: -1, Activity: -1, Alerts: -1}
	res, err := s.Purge(ctx(t), forever, purgeNow)
	noErr(t, "Purge", err)
	res.PartitionsDropped = 0
	diff(t, "PurgeResult with negative durations", secmon.PurgeResult{}, res)
	if n := len(allEvents(t, s)); n != 3 {
		t.Errorf("%d events left, want all 3", n)
	}
	if n := len(allSessions(t, s)); n != 2 {
		t.Errorf("%d active sessions left, want 2", n)
	}
	if n := len(allAlerts(t, s)); n != 4 {
		t.Errorf("%d alerts left, want 4", n)
	}
}

func testEraseUser(t *testing.T, s secmon.Store) {
	insertEvents(t, s,
		secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventLoginSuccess, UserID: "alice"},
		secmon.Event{ID: secmon.NewID(), Time: base.Add(time.Minute), Type: secmon.EventLogout, UserID: "alice"},
		secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventLoginSuccess, UserID: "bob"},
		secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventLoginFailure},
	)
	upsertSessions(t, s,
		beat("a1", "alice", base, "", ""),
		beat("a2", "alice", base, "", ""),
		beat("b1", "bob", base, "", ""),
	)
	noErr(t, "RevokeSession", s.RevokeSession(ctx(t), "a2", base.Add(time.Minute)))
	insertActivities(t, s,
		secmon.Activity{ID: secmon.NewID(), Time: base, UserID: "alice", Action: "view"},
		secmon.Activity{ID: secmon.NewID(), Time: base, UserID: "bob", Action: "view"},
	)
	putBlocks(t, s, userBlock(1, "alice", base, 0), userBlock(2, "bob", base, 0))
	n, err := s.EraseUser(ctx(t), "alice")
	noErr(t, "EraseUser", err)
	if n != 6 {
		t.Errorf("EraseUser(alice) = %d, want 6 (2 events, 2 sessions, 1 activity, 1 block)", n)
	}
	if bs := allBlocks(t, s); len(bs) != 1 || bs[0].UserID != "bob" {
		t.Errorf("blocks left: %v, want bob's", bs)
	}
	for _, e := range allEvents(t, s) {
		if e.UserID == "alice" {
			t.Errorf("event of alice left: %+v", e)
		}
	}
	if got := len(allEvents(t, s)); got != 2 {
		t.Errorf("%d events left, want bob's and the anonymous one", got)
	}
	if ss := allSessions(t, s); len(ss) != 1 || ss[0].UserID != "bob" {
		t.Errorf("sessions left: %v, want bob's", ss)
	}
	if as := activities(t, s, secmon.ActivityQuery{}); len(as) != 1 || as[0].UserID != "bob" {
		t.Errorf("activities left: %v, want bob's", as)
	}
	n, err = s.EraseUser(ctx(t), "alice")
	noErr(t, "second EraseUser", err)
	if n != 0 {
		t.Errorf("second EraseUser(alice) = %d, want 0", n)
	}
	_, err = s.EraseUser(ctx(t), "")
	wantErrIs(t, "EraseUser of the empty user", err, secmon.ErrInvalid)
	if got := len(allEvents(t, s)); got != 2 {
		t.Errorf("%d events left after EraseUser(\"\"), want 2", got)
	}
}
