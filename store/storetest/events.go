package storetest

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

var eventTests = []test{
	{"RoundTrip", testEventRoundTrip},
	{"Filters", testEventFilters},
	{"NewestFirstTieBreak", testEventTieBreak},
	{"DefaultLimit", testEventDefaultLimit},
	{"LimitCap", testEventLimitCap},
	{"Idempotent", testEventIdempotent},
	{"EmptyBatch", testEventEmptyBatch},
	{"InvalidBatchRejected", testEventInvalid},
	{"InvalidQuery", testEventInvalidQuery},
	{"MetadataIsolation", testEventIsolation},
}

func fullEvent() secmon.Event {
	return secmon.Event{
		ID:          secmon.NewID(),
		Time:        base.Add(-2 * time.Minute),
		Type:        secmon.EventUploadBlocked,
		Severity:    secmon.SeverityHigh,
		UserID:      "user-1",
		SessionID:   "sess-1",
		OrgID:       "org-1",
		IP:          netip.MustParseAddr("203.0.113.7"),
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		Fingerprint: "fp:8c1d2e",
		Geo: secmon.Geo{
			Country: "DE", Region: "BE", City: "Berlin",
			Latitude: 52.52, Longitude: 13.405, AccuracyKM: 20,
		},
		Duration: 1500 * time.Millisecond,
		Metadata: map[string]string{"file_type": "image/png", "threat": "trailing_data"},
	}
}

func testEventRoundTrip(t *testing.T, s secmon.Store) {
	v4 := fullEvent()
	v6 := fullEvent()
	v6.Time = base.Add(-time.Minute)
	v6.Type = secmon.EventLoginFailure
	v6.Severity = secmon.SeverityCritical
	v6.IP = netip.MustParseAddr("2001:db8:85a3::8a2e:370:7334")
	v6.Geo = secmon.Geo{Country: "US", Latitude: -33.5, Longitude: -70.25}
	v6.Duration = 0
	v6.Metadata = map[string]string{"reason": "bad_password"}
	bare := secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventPageView}

	insertEvents(t, s, v4, v6, bare)
	diff(t, "QueryEvents", []secmon.Event{bare, v6, v4}, allEvents(t, s))
}

// eventFixture is ten events one minute apart, oldest first.
func eventFixture() []secmon.Event {
	ip := netip.MustParseAddr
	rows := []struct {
		typ           secmon.EventType
		sev           secmon.Severity
		user, sess, o string
		ip            netip.Addr
	}{
		0: {secmon.EventLoginSuccess, secmon.SeverityInfo, "alice", "s-a1", "org-1", ip("10.0.0.1")},
		1: {secmon.EventLoginFailure, secmon.SeverityLow, "alice", "", "org-1", ip("10.0.0.2")},
		2: {secmon.EventLoginFailure, secmon.SeverityMedium, "bob", "", "org-2", ip("10.0.1.9")},
		3: {secmon.EventLogout, secmon.SeverityInfo, "alice", "s-a1", "org-1", ip("10.0.0.1")},
		4: {secmon.EventUploadBlocked, secmon.SeverityHigh, "bob", "s-b1", "org-2", ip("2001:db8:1::5")},
		5: {secmon.EventUploadAccepted, secmon.SeverityInfo, "bob", "s-b1", "org-2", ip("2001:db8:1::5")},
		6: {secmon.EventAccessDenied, secmon.SeverityCritical, "carol", "s-c1", "org-1", ip("2001:db8:2::1")},
		7: {secmon.EventLoginFailure, secmon.SeverityHigh, "", "", "", ip("192.0.2.50")},
		8: {secmon.EventPageView, secmon.SeverityInfo, "alice", "s-a2", "org-1", netip.Addr{}},
		9: {secmon.EventRateLimited, secmon.SeverityMedium, "carol", "s-c1", "org-1", ip("10.0.0.2")},
	}
	out := make([]secmon.Event, len(rows))
	for i, r := range rows {
		out[i] = secmon.Event{
			ID: secmon.NewID(), Time: base.Add(time.Duration(i) * time.Minute),
			Type: r.typ, Severity: r.sev, UserID: r.user, SessionID: r.sess, OrgID: r.o, IP: r.ip,
		}
	}
	return out
}

func testEventFilters(t *testing.T, s secmon.Store) {
	fx := eventFixture()
	// Insert out of time order, in two batches, to show order comes from Time.
	insertEvents(t, s, fx[5], fx[9], fx[0], fx[7], fx[2])
	insertEvents(t, s, fx[1], fx[8], fx[3], fx[6], fx[4])
	at := func(i int) time.Time { return fx[i].Time }
	cases := []struct {
		name string
		q    secmon.EventQuery
		want []int // indexes into fx, newest first
	}{
		{"all", secmon.EventQuery{}, []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"from inclusive", secmon.EventQuery{From: at(7)}, []int{9, 8, 7}},
		{"to exclusive", secmon.EventQuery{To: at(2)}, []int{1, 0}},
		{"range", secmon.EventQuery{From: at(3), To: at(6)}, []int{5, 4, 3}},
		{"range between rows", secmon.EventQuery{From: at(3).Add(time.Second), To: at(6).Add(time.Second)}, []int{6, 5, 4}},
		{"empty range", secmon.EventQuery{From: at(4), To: at(4)}, nil},
		{"one type", secmon.EventQuery{Types: []secmon.EventType{secmon.EventLoginFailure}}, []int{7, 2, 1}},
		{"types", secmon.EventQuery{Types: []secmon.EventType{secmon.EventLogout, secmon.EventUploadBlocked, "no_such_type"}}, []int{4, 3}},
		{"user", secmon.EventQuery{UserID: "alice"}, []int{8, 3, 1, 0}},
		{"session", secmon.EventQuery{SessionID: "s-c1"}, []int{9, 6}},
		{"org", secmon.EventQuery{OrgID: "org-2"}, []int{5, 4, 2}},
		{"ipv4 /24", secmon.EventQuery{IP: netip.MustParsePrefix("10.0.0.0/24")}, []int{9, 3, 1, 0}},
		{"ipv4 /32", secmon.EventQuery{IP: netip.MustParsePrefix("10.0.1.9/32")}, []int{2}},
		{"ipv4 /8", secmon.EventQuery{IP: netip.MustParsePrefix("10.0.0.0/8")}, []int{9, 3, 2, 1, 0}},
		{"ipv6 /48", secmon.EventQuery{IP: netip.MustParsePrefix("2001:db8:1::/48")}, []int{5, 4}},
		{"ipv6 /32", secmon.EventQuery{IP: netip.MustParsePrefix("2001:db8::/32")}, []int{6, 5, 4}},
		{"min severity high", secmon.EventQuery{MinSeverity: secmon.SeverityHigh}, []int{7, 6, 4}},
		{"min severity low", secmon.EventQuery{MinSeverity: secmon.SeverityLow}, []int{9, 7, 6, 4, 2, 1}},
		{"limit", secmon.EventQuery{Limit: 3}, []int{9, 8, 7}},
		{"combined", secmon.EventQuery{
			From: at(1), To: at(9), Types: []secmon.EventType{secmon.EventLoginFailure, secmon.EventUploadBlocked},
			OrgID: "org-2", MinSeverity: secmon.SeverityMedium,
		}, []int{4, 2}},
		{"combined with limit", secmon.EventQuery{UserID: "alice", Limit: 2}, []int{8, 3}},
		{"no match", secmon.EventQuery{UserID: "nobody"}, nil},
	}
	for _, tc := range cases {
		got := queryEvents(t, s, tc.q)
		diff(t, tc.name, pick(fx, tc.want...), got)
	}
}

func testEventTieBreak(t *testing.T, s secmon.Store) {
	var evs []secmon.Event
	for i := range 4 {
		evs = append(evs, secmon.Event{ID: seqID(uint64(10 + i)), Time: base, Type: secmon.EventPageView})
	}
	later := secmon.Event{ID: seqID(1), Time: base.Add(time.Millisecond), Type: secmon.EventLogout}
	insertEvents(t, s, evs[2], later, evs[0], evs[3], evs[1])
	diff(t, "equal times order by ID descending", []secmon.Event{later, evs[3], evs[2], evs[1], evs[0]}, allEvents(t, s))
}

func manyEvents(n int) []secmon.Event {
	evs := make([]secmon.Event, n)
	for i := range evs {
		evs[i] = secmon.Event{ID: secmon.NewID(), Time: base.Add(time.Duration(i) * time.Second), Type: secmon.EventPageView, UserID: fmt.Sprintf("u%d", i%7)}
	}
	return evs
}

func insertChunked(t *testing.T, s secmon.Store, evs []secmon.Event, chunk int) {
	t.Helper()
	for len(evs) > 0 {
		n := min(chunk, len(evs))
		insertEvents(t, s, evs[:n]...)
		evs = evs[n:]
	}
}

func newestIDs(evs []secmon.Event, n int) []secmon.Event {
	out := make([]secmon.Event, 0, n)
	for i := len(evs) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, evs[i])
	}
	return out
}

func testEventDefaultLimit(t *testing.T, s secmon.Store) {
	evs := manyEvents(secmon.DefaultQueryLimit + 50)
	insertEvents(t, s, evs...)
	for _, limit := range []int{0, -1} {
		got := queryEvents(t, s, secmon.EventQuery{Limit: limit})
		if len(got) != secmon.DefaultQueryLimit {
			t.Errorf("Limit %d: got %d events, want the default %d", limit, len(got), secmon.DefaultQueryLimit)
			continue
		}
		diff(t, fmt.Sprintf("Limit %d IDs", limit), ids(newestIDs(evs, secmon.DefaultQueryLimit)), ids(got))
	}
}

func testEventLimitCap(t *testing.T, s secmon.Store) {
	evs := manyEvents(secmon.MaxQueryLimit + 5)
	insertChunked(t, s, evs, 2000)
	got := queryEvents(t, s, secmon.EventQuery{Limit: secmon.MaxQueryLimit + 5})
	if len(got) != secmon.MaxQueryLimit {
		t.Fatalf("Limit above the cap: got %d events, want %d", len(got), secmon.MaxQueryLimit)
	}
	diff(t, "capped IDs", ids(newestIDs(evs, secmon.MaxQueryLimit)), ids(got))
}

func testEventIdempotent(t *testing.T, s secmon.Store) {
	fx := eventFixture()
	insertEvents(t, s, fx[:4]...)
	insertEvents(t, s, fx[:4]...)                  // a retried batch
	insertEvents(t, s, fx[2], fx[4], fx[4])        // overlapping, with a duplicate inside the batch
	insertEvents(t, s, fx[5], fx[3], fx[5], fx[0]) // more of the same
	diff(t, "each event stored once", pick(fx, 5, 4, 3, 2, 1, 0), allEvents(t, s))
}

func testEventEmptyBatch(t *testing.T, s secmon.Store) {
	noErr(t, "InsertEvents(nil)", s.InsertEvents(ctx(t), nil))
	noErr(t, "InsertEvents(empty)", s.InsertEvents(ctx(t), []secmon.Event{}))
	if got := allEvents(t, s); len(got) != 0 {
		t.Errorf("store holds %d events after empty batches, want 0", len(got))
	}
}

func testEventInvalid(t *testing.T, s secmon.Store) {
	good := fullEvent()
	cases := []struct {
		name string
		mod  func(e *secmon.Event)
	}{
		{"no type", func(e *secmon.Event) { e.Type = "" }},
		{"malformed type", func(e *secmon.Event) { e.Type = "Login Failure" }},
		{"zero ID", func(e *secmon.Event) { e.ID = [16]byte{} }},
		{"zero time", func(e *secmon.Event) { e.Time = time.Time{} }},
		{"bad severity", func(e *secmon.Event) { e.Severity = secmon.Severity(42) }},
		{"negative duration", func(e *secmon.Event) { e.Duration = -time.Second }},
		{"control characters in user", func(e *secmon.Event) { e.UserID = "a\x00b" }},
	}
	for _, tc := range cases {
		bad := fullEvent()
		tc.mod(&bad)
		err := s.InsertEvents(ctx(t), []secmon.Event{good, bad})
		wantErrIs(t, "InsertEvents with "+tc.name, err, secmon.ErrInvalid)
	}
	if got := allEvents(t, s); len(got) != 0 {
		t.Errorf("a rejected batch left %d events stored, want 0 (batches are all or nothing)", len(got))
	}
}

func testEventInvalidQuery(t *testing.T, s secmon.Store) {
	insertEvents(t, s, eventFixture()...)
	_, err := s.QueryEvents(ctx(t), secmon.EventQuery{From: base, To: base.Add(-time.Second)})
	wantErrIs(t, "QueryEvents with To before From", err, secmon.ErrInvalid)
	_, err = s.QueryEvents(ctx(t), secmon.EventQuery{MinSeverity: secmon.Severity(9)})
	wantErrIs(t, "QueryEvents with an invalid MinSeverity", err, secmon.ErrInvalid)
}

func testEventIsolation(t *testing.T, s secmon.Store) {
	e := fullEvent()
	want := fullEvent()
	want.ID, want.Time = e.ID, e.Time
	insertEvents(t, s, e)
	e.Metadata["file_type"] = "changed after insert"
	e.Metadata["added"] = "x"
	got := allEvents(t, s)
	diff(t, "stored event after the caller changed its map", []secmon.Event{want}, got)
	if len(got) == 1 && got[0].Metadata != nil {
		got[0].Metadata["file_type"] = "changed after query"
	}
	diff(t, "stored event after the caller changed a returned map", []secmon.Event{want}, allEvents(t, s))
}
