package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

var alertTests = []test{
	{"DedupWhileOpen", testAlertDedup},
	{"OlderFindingDoesNotRewind", testAlertOlderFinding},
	{"SeparateSubjects", testAlertSubjects},
	{"ClosedAlertsDoNotDedup", testAlertClosed},
	{"ClosedAlertIDReused", testAlertClosedIDReused},
	{"SamePairInOneBatch", testAlertBatchMerge},
	{"Defaults", testAlertDefaults},
	{"SetStatusErrors", testAlertStatusErrors},
	{"InvalidBatchRejected", testAlertInvalid},
	{"Filters", testAlertFilters},
	{"MinSeverity", testAlertMinSeverity},
	{"EvidenceIsolation", testAlertIsolation},
}

func alert(rule secmon.RuleName, subject string, sev secmon.Severity, count int64, first, last time.Time, summary string) secmon.Alert {
	return secmon.Alert{
		ID: secmon.NewID(), Rule: rule, Subject: subject, Severity: sev, Count: count,
		FirstSeen: first, LastSeen: last, Summary: summary,
		Evidence: map[string]string{"summary": summary},
	}
}

func testAlertDedup(t *testing.T, s secmon.Store) {
	first := alert("brute_force_ip", "ip:203.0.113.7/32", secmon.SeverityMedium, 1, base, base, "5 failures")
	first.Action = secmon.Action{Kind: secmon.ActionBlock, Duration: 15 * time.Minute}
	upsertAlerts(t, s, first)
	want := first
	want.Status = secmon.AlertOpen
	diff(t, "first upsert", []secmon.Alert{want}, allAlerts(t, s))

	second := alert("brute_force_ip", "ip:203.0.113.7/32", secmon.SeverityLow, 2, base.Add(time.Minute), base.Add(time.Minute), "7 failures")
	second.Evidence["failures"] = "7"
	second.Action = secmon.Action{Kind: secmon.ActionNotify}
	upsertAlerts(t, s, second)
	want.Count = 3
	want.LastSeen = second.LastSeen
	want.Summary, want.Evidence, want.Action = second.Summary, second.Evidence, second.Action
	// ID, FirstSeen and the higher Severity stay.
	diff(t, "after a second finding", []secmon.Alert{want}, allAlerts(t, s))

	third := alert("brute_force_ip", "ip:203.0.113.7/32", secmon.SeverityCritical, 1, base.Add(2*time.Minute), base.Add(2*time.Minute), "40 failures")
	upsertAlerts(t, s, third)
	want.Count, want.Severity, want.LastSeen = 4, secmon.SeverityCritical, third.LastSeen
	want.Summary, want.Evidence, want.Action = third.Summary, third.Evidence, third.Action
	diff(t, "after a more severe finding", []secmon.Alert{want}, allAlerts(t, s))
}

func testAlertOlderFinding(t *testing.T, s secmon.Store) {
	a := alert("impossible_travel", "user:alice", secmon.SeverityHigh, 1, base, base.Add(5*time.Minute), "newer")
	upsertAlerts(t, s, a)
	late := alert("impossible_travel", "user:alice", secmon.SeverityMedium, 1, base.Add(time.Minute), base.Add(time.Minute), "older")
	upsertAlerts(t, s, late)
	want := a
	want.Status, want.Count = secmon.AlertOpen, 2
	diff(t, "an older finding only adds to Count", []secmon.Alert{want}, allAlerts(t, s))
}

func testAlertSubjects(t *testing.T, s secmon.Store) {
	a := alert("brute_force_ip", "ip:198.51.100.1/32", secmon.SeverityHigh, 1, base, base, "a")
	b := alert("brute_force_ip", "ip:198.51.100.2/32", secmon.SeverityHigh, 1, base, base.Add(time.Second), "b")
	c := alert("credential_stuffing", "ip:198.51.100.1/32", secmon.SeverityHigh, 1, base, base.Add(2*time.Second), "c")
	upsertAlerts(t, s, a, b, c)
	for _, x := range []*secmon.Alert{&a, &b, &c} {
		x.Status = secmon.AlertOpen
	}
	diff(t, "three pairs, three alerts", []secmon.Alert{c, b, a}, allAlerts(t, s))
}

func testAlertClosed(t *testing.T, s secmon.Store) {
	for _, status := range []secmon.AlertStatus{secmon.AlertResolved, secmon.AlertAcknowledged} {
		subject := "user:" + string(status)
		a := alert("mfa_bombing", subject, secmon.SeverityHigh, 3, base, base, "first")
		upsertAlerts(t, s, a)
		noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), a.ID, status))
		b := alert("mfa_bombing", subject, secmon.SeverityLow, 1, base.Add(time.Hour), base.Add(time.Hour), "second")
		upsertAlerts(t, s, b)

		wantA, wantB := a, b
		wantA.Status, wantB.Status = status, secmon.AlertOpen
		got := alerts(t, s, secmon.AlertQuery{Subject: subject})
		diff(t, "after "+string(status)+", a new finding opens a new alert", []secmon.Alert{wantB, wantA}, got)

		// Further findings merge into the new open alert, not the closed one.
		c := alert("mfa_bombing", subject, secmon.SeverityLow, 1, base.Add(2*time.Hour), base.Add(2*time.Hour), "third")
		upsertAlerts(t, s, c)
		wantB.Count, wantB.LastSeen, wantB.Summary, wantB.Evidence = 2, c.LastSeen, c.Summary, c.Evidence
		diff(t, "the new alert dedups", []secmon.Alert{wantB, wantA}, alerts(t, s, secmon.AlertQuery{Subject: subject}))
	}
}

func testAlertBatchMerge(t *testing.T, s secmon.Store) {
	a := alert("scan", "ip:192.0.2.1/32", secmon.SeverityLow, 1, base, base, "one")
	b := alert("scan", "ip:192.0.2.1/32", secmon.SeverityHigh, 2, base.Add(time.Second), base.Add(2*time.Second), "two")
	other := alert("scan", "ip:192.0.2.2/32", secmon.SeverityLow, 1, base, base, "other")
	upsertAlerts(t, s, a, other, b)
	want := a
	want.Status, want.Count, want.Severity, want.LastSeen = secmon.AlertOpen, 3, secmon.SeverityHigh, b.LastSeen
	want.Summary, want.Evidence = b.Summary, b.Evidence
	wantOther := other
	wantOther.Status = secmon.AlertOpen
	diff(t, "two findings for one pair in one batch", []secmon.Alert{want, wantOther}, allAlerts(t, s))
}

func testAlertDefaults(t *testing.T, s secmon.Store) {
	a := alert("r", "s", secmon.SeverityLow, 0, time.Time{}, base, "zero count, ID and FirstSeen")
	a.ID = uuid.UUID{}
	a.Status = secmon.AlertResolved // the input status is ignored: new alerts open
	upsertAlerts(t, s, a)
	got := allAlerts(t, s)
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1", len(got))
	}
	if got[0].ID == (uuid.UUID{}) {
		t.Error("a new alert with a zero ID was stored with a zero ID, want a fresh one")
	}
	want := a
	want.ID, want.Status, want.Count, want.FirstSeen = got[0].ID, secmon.AlertOpen, 1, base
	diff(t, "defaults", []secmon.Alert{want}, got)
}

func testAlertStatusErrors(t *testing.T, s secmon.Store) {
	wantErrIs(t, "SetAlertStatus of an unknown ID", s.SetAlertStatus(ctx(t), secmon.NewID(), secmon.AlertResolved), secmon.ErrNotFound)
	a := alert("r", "s", secmon.SeverityLow, 1, base, base, "x")
	upsertAlerts(t, s, a)
	wantErrIs(t, "SetAlertStatus to an invalid status", s.SetAlertStatus(ctx(t), a.ID, "closed"), secmon.ErrInvalid)
	wantErrIs(t, "SetAlertStatus to an empty status", s.SetAlertStatus(ctx(t), a.ID, ""), secmon.ErrInvalid)
	if got := allAlerts(t, s); len(got) != 1 || got[0].Status != secmon.AlertOpen {
		t.Errorf("after rejected status changes: %v, want one open alert", got)
	}
	noErr(t, "SetAlertStatus acknowledged", s.SetAlertStatus(ctx(t), a.ID, secmon.AlertAcknowledged))
	noErr(t, "SetAlertStatus resolved", s.SetAlertStatus(ctx(t), a.ID, secmon.AlertResolved))
	if got := allAlerts(t, s); len(got) != 1 || got[0].Status != secmon.AlertResolved {
		t.Errorf("after resolving: %v, want one resolved alert", got)
	}
}

func testAlertInvalid(t *testing.T, s secmon.Store) {
	ok := alert("r", "s", secmon.SeverityLow, 1, base, base, "ok")
	cases := []struct {
		name string
		mod  func(a *secmon.Alert)
	}{
		{"no rule", func(a *secmon.Alert) { a.Rule = "" }},
		{"no subject", func(a *secmon.Alert) { a.Subject = "" }},
		{"zero LastSeen", func(a *secmon.Alert) { a.LastSeen = time.Time{} }},
		{"FirstSeen after LastSeen", func(a *secmon.Alert) { a.FirstSeen = a.LastSeen.Add(time.Hour) }},
		{"bad severity", func(a *secmon.Alert) { a.Severity = secmon.Severity(7) }},
		{"negative count", func(a *secmon.Alert) { a.Count = -1 }},
	}
	for _, tc := range cases {
		bad := alert("r2", "s2", secmon.SeverityLow, 1, base, base, "bad")
		tc.mod(&bad)
		wantErrIs(t, "UpsertAlerts with "+tc.name, s.UpsertAlerts(ctx(t), []secmon.Alert{ok, bad}), secmon.ErrInvalid)
	}
	if got := allAlerts(t, s); len(got) != 0 {
		t.Errorf("a rejected batch left %d alerts stored, want 0", len(got))
	}
	noErr(t, "UpsertAlerts(nil)", s.UpsertAlerts(ctx(t), nil))
}

func testAlertFilters(t *testing.T, s secmon.Store) {
	fx := []secmon.Alert{
		0: alert("brute_force_ip", "ip:a", secmon.SeverityHigh, 1, base, base.Add(1*time.Minute), "0"),
		1: alert("brute_force_ip", "ip:b", secmon.SeverityHigh, 1, base, base.Add(5*time.Minute), "1"),
		2: alert("impossible_travel", "user:alice", secmon.SeverityMedium, 1, base, base.Add(3*time.Minute), "2"),
		3: alert("impossible_travel", "user:bob", secmon.SeverityMedium, 1, base, base.Add(4*time.Minute), "3"),
		4: alert("brute_force_ip", "ip:c", secmon.SeverityHigh, 1, base, base.Add(2*time.Minute), "4"),
	}
	upsertAlerts(t, s, fx...)
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), fx[1].ID, secmon.AlertResolved))
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), fx[2].ID, secmon.AlertAcknowledged))
	for i := range fx {
		fx[i].Status = secmon.AlertOpen
	}
	fx[1].Status, fx[2].Status = secmon.AlertResolved, secmon.AlertAcknowledged
	cases := []struct {
		name string
		q    secmon.AlertQuery
		want []int
	}{
		{"all, most recently seen first", secmon.AlertQuery{}, []int{1, 3, 2, 4, 0}},
		{"open", secmon.AlertQuery{Status: secmon.AlertOpen}, []int{3, 4, 0}},
		{"resolved", secmon.AlertQuery{Status: secmon.AlertResolved}, []int{1}},
		{"rule", secmon.AlertQuery{Rule: "brute_force_ip"}, []int{1, 4, 0}},
		{"subject", secmon.AlertQuery{Subject: "user:bob"}, []int{3}},
		{"since inclusive", secmon.AlertQuery{Since: base.Add(3 * time.Minute)}, []int{1, 3, 2}},
		{"rule, status and since", secmon.AlertQuery{Rule: "brute_force_ip", Status: secmon.AlertOpen, Since: base.Add(90 * time.Second)}, []int{4}},
		{"limit", secmon.AlertQuery{Limit: 2}, []int{1, 3}},
		{"no match", secmon.AlertQuery{Rule: "none"}, nil},
	}
	for _, tc := range cases {
		diff(t, tc.name, pick(fx, tc.want...), alerts(t, s, tc.q))
	}
	_, err := s.Alerts(ctx(t), secmon.AlertQuery{Status: "closed"})
	wantErrIs(t, "Alerts with an invalid status", err, secmon.ErrInvalid)
}

func testAlertIsolation(t *testing.T, s secmon.Store) {
	a := alert("r", "s", secmon.SeverityLow, 1, base, base, "x")
	upsertAlerts(t, s, a)
	a.Evidence["summary"] = "changed"
	got := allAlerts(t, s)
	if len(got) != 1 || got[0].Evidence["summary"] != "x" {
		t.Fatalf("stored alert changed with the caller's map: %v", got)
	}
	got[0].Evidence["summary"] = "changed too"
	if again := allAlerts(t, s); again[0].Evidence["summary"] != "x" {
		t.Errorf("stored alert changed with a returned map: %v", again)
	}
}

// testAlertClosedIDReused covers a writer (such as the Monitor) that still
// holds the ID of an alert resolved since: the finding opens a new alert
// under a fresh ID and the resolved one stays as it was.
func testAlertClosedIDReused(t *testing.T, s secmon.Store) {
	a := alert("mfa_bombing", "user:alice", secmon.SeverityHigh, 1, base, base, "first")
	upsertAlerts(t, s, a)
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), a.ID, secmon.AlertResolved))
	again := alert("mfa_bombing", "user:alice", secmon.SeverityHigh, 2, base.Add(time.Minute), base.Add(time.Minute), "again")
	again.ID = a.ID
	upsertAlerts(t, s, again)
	got := allAlerts(t, s)
	if len(got) != 2 {
		t.Fatalf("got %d alerts, want the resolved one and a new open one", len(got))
	}
	if got[0].ID == a.ID || got[0].ID == (uuid.UUID{}) {
		t.Errorf("the new alert has ID %s, want a fresh one (not the resolved alert's %s)", got[0].ID, a.ID)
	}
	wantNew, wantOld := again, a
	wantNew.ID, wantNew.Status = got[0].ID, secmon.AlertOpen
	wantOld.Status = secmon.AlertResolved
	diff(t, "alerts", []secmon.Alert{wantNew, wantOld}, got)
}
