package storetest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

var sessionTests = []test{
	{"NewestBeatWinsInBatch", testSessionNewestInBatch},
	{"NewestBeatWinsAcrossBatches", testSessionNewestAcrossBatches},
	{"BeatStartedAt", testSessionBeatStartedAt},
	{"ActiveFilters", testSessionFilters},
	{"Revoke", testSessionRevoke},
	{"RevokeTwiceKeepsFirstTime", testSessionRevokeTwice},
	{"InvalidBeats", testSessionInvalid},
}

func beat(sess, user string, at time.Time, ip, ua string) secmon.SessionBeat {
	b := secmon.SessionBeat{SessionID: sess, UserID: user, Time: at, UserAgent: ua}
	if ip != "" {
		b.IP = netip.MustParseAddr(ip)
	}
	return b
}

func testSessionNewestInBatch(t *testing.T, s secmon.Store) {
	newest := secmon.SessionBeat{
		SessionID: "s1", UserID: "alice", OrgID: "org-1",
		IP: netip.MustParseAddr("2001:db8::1"), UserAgent: "ua-newest", Fingerprint: "fp-2",
		Geo:  secmon.Geo{Country: "FR", City: "Paris", Latitude: 48.85, Longitude: 2.35, AccuracyKM: 5},
		Time: base.Add(2 * time.Minute),
	}
	oldest := beat("s1", "alice", base, "198.51.100.1", "ua-oldest")
	middle := beat("s1", "alice", base.Add(time.Minute), "198.51.100.2", "ua-middle")
	upsertSessions(t, s, newest, oldest, middle)
	want := []secmon.Session{{
		SessionID: "s1", UserID: "alice", OrgID: "org-1",
		IP: newest.IP, UserAgent: "ua-newest", Fingerprint: "fp-2", Geo: newest.Geo,
		StartedAt: base, LastSeen: base.Add(2 * time.Minute),
	}}
	diff(t, "session after one out-of-order batch", want, allSessions(t, s))
}

func testSessionNewestAcrossBatches(t *testing.T, s secmon.Store) {
	upsertSessions(t, s, beat("s1", "alice", base.Add(5*time.Minute), "198.51.100.5", "ua-5"))
	// An older beat arriving late moves StartedAt back to the earliest beat
	// but never LastSeen, IP or user agent.
	upsertSessions(t, s, beat("s1", "alice", base.Add(3*time.Minute), "198.51.100.3", "ua-3"))
	want := []secmon.Session{{
		SessionID: "s1", UserID: "alice", IP: netip.MustParseAddr("198.51.100.5"), UserAgent: "ua-5",
		StartedAt: base.Add(3 * time.Minute), LastSeen: base.Add(5 * time.Minute),
	}}
	diff(t, "after an older beat", want, allSessions(t, s))

	upsertSessions(t, s, beat("s1", "alice", base.Add(7*time.Minute), "198.51.100.7", "ua-7"))
	want[0].IP, want[0].UserAgent, want[0].LastSeen = netip.MustParseAddr("198.51.100.7"), "ua-7", base.Add(7*time.Minute)
	diff(t, "after a newer beat", want, allSessions(t, s))
}

// testSessionBeatStartedAt checks that a beat's StartedAt (the earliest of
// the beats a coalescer merged into it) sets the session's start, that a
// StartedAt after Time counts as Time, and that a later beat never moves the
// start forward.
func testSessionBeatStartedAt(t *testing.T, s secmon.Store) {
	b := beat("s1", "alice", base.Add(2*time.Minute), "198.51.100.1", "ua")
	b.StartedAt = base.Add(500 * time.Millisecond)
	later := beat("s2", "bob", base.Add(time.Minute), "198.51.100.2", "ua")
	later.StartedAt = base.Add(time.Hour) // after Time: ignored
	upsertSessions(t, s, b, later)
	want := []secmon.Session{
		{SessionID: "s1", UserID: "alice", IP: b.IP, UserAgent: "ua", StartedAt: b.StartedAt, LastSeen: b.Time},
		{SessionID: "s2", UserID: "bob", IP: later.IP, UserAgent: "ua", StartedAt: later.Time, LastSeen: later.Time},
	}
	diff(t, "sessions with StartedAt", want, allSessions(t, s))

	next := beat("s1", "alice", base.Add(3*time.Minute), "198.51.100.1", "ua")
	next.StartedAt = base.Add(2*time.Minute + time.Second)
	upsertSessions(t, s, next)
	want[0].LastSeen = next.Time
	diff(t, "after a later beat with a later start", want, allSessions(t, s))
}

func testSessionFilters(t *testing.T, s secmon.Store) {
	upsertSessions(t, s,
		beat("a1", "alice", base.Add(1*time.Minute), "10.0.0.1", ""),
		beat("a2", "alice", base.Add(4*time.Minute), "10.0.0.2", ""),
		beat("b1", "bob", base.Add(3*time.Minute), "10.0.0.3", ""),
		beat("c1", "carol", base.Add(2*time.Minute), "10.0.0.4", ""),
		beat("r1", "alice", base.Add(5*time.Minute), "10.0.0.5", ""),
	)
	noErr(t, "RevokeSession", s.RevokeSession(ctx(t), "r1", base.Add(6*time.Minute)))
	names := func(ss []secmon.Session) []string {
		out := make([]string, len(ss))
		for i, x := range ss {
			out[i] = x.SessionID
		}
		return out
	}
	cases := []struct {
		name string
		q    secmon.SessionQuery
		want []string
	}{
		{"all, most recent first, revoked omitted", secmon.SessionQuery{}, []string{"a2", "b1", "c1", "a1"}},
		{"user", secmon.SessionQuery{UserID: "alice"}, []string{"a2", "a1"}},
		{"since inclusive", secmon.SessionQuery{Since: base.Add(3 * time.Minute)}, []string{"a2", "b1"}},
		{"user and since", secmon.SessionQuery{UserID: "alice", Since: base.Add(2 * time.Minute)}, []string{"a2"}},
		{"limit", secmon.SessionQuery{Limit: 2}, []string{"a2", "b1"}},
		{"no match", secmon.SessionQuery{UserID: "nobody"}, []string{}},
	}
	for _, tc := range cases {
		diff(t, tc.name, tc.want, names(activeSessions(t, s, tc.q)))
	}
}

func testSessionRevoke(t *testing.T, s secmon.Store) {
	upsertSessions(t, s,
		beat("s1", "alice", base, "10.0.0.1", ""),
		beat("s2", "alice", base, "10.0.0.2", ""),
	)
	noErr(t, "RevokeSession", s.RevokeSession(ctx(t), "s1", base.Add(time.Minute)))
	only := func(what string) {
		t.Helper()
		got := allSessions(t, s)
		if len(got) != 1 || got[0].SessionID != "s2" {
			t.Errorf("%s: active sessions = %v, want only s2", what, got)
		}
		for _, x := range got {
			if x.Revoked() {
				t.Errorf("%s: ActiveSessions returned revoked session %q", what, x.SessionID)
			}
		}
	}
	only("after revoke")

	wantErrIs(t, "RevokeSession of an unknown session", s.RevokeSession(ctx(t), "nope", base), secmon.ErrNotFound)
	noErr(t, "revoking twice", s.RevokeSession(ctx(t), "s1", base.Add(2*time.Minute)))

	// A beat after revocation (a client still polling) must not revive it,
	// whether the beat is newer or older than the revocation.
	upsertSessions(t, s, beat("s1", "alice", base.Add(10*time.Minute), "10.0.0.9", ""))
	upsertSessions(t, s, beat("s1", "alice", base.Add(30*time.Second), "10.0.0.8", ""))
	only("after beats on a revoked session")
}

func testSessionInvalid(t *testing.T, s secmon.Store) {
	ok := beat("s1", "alice", base, "10.0.0.1", "")
	cases := []struct {
		name string
		b    secmon.SessionBeat
	}{
		{"no session ID", beat("", "alice", base, "", "")},
		{"no user ID", beat("s2", "", base, "", "")},
		{"zero time", beat("s2", "alice", time.Time{}, "", "")},
	}
	for _, tc := range cases {
		err := s.UpsertSessions(ctx(t), []secmon.SessionBeat{ok, tc.b})
		wantErrIs(t, "UpsertSessions with "+tc.name, err, secmon.ErrInvalid)
	}
	if got := allSessions(t, s); len(got) != 0 {
		t.Errorf("a rejected batch left %d sessions stored, want 0", len(got))
	}
	noErr(t, "UpsertSessions(nil)", s.UpsertSessions(ctx(t), nil))
	wantErrIs(t, "RevokeSession with a zero time", s.RevokeSession(ctx(t), "s1", time.Time{}), secmon.ErrInvalid)
}

// testSessionRevokeTwice observes RevokedAt through Purge: a session revoked
// long ago and "revoked" again recently is as old as its first revocation.
func testSessionRevokeTwice(t *testing.T, s secmon.Store) {
	upsertSessions(t, s, beat("s1", "alice", base, "", ""))
	noErr(t, "RevokeSession", s.RevokeSession(ctx(t), "s1", base.Add(day)))
	noErr(t, "RevokeSession again", s.RevokeSession(ctx(t), "s1", base.Add(50*day)))
	p := secmon.RetentionPolicy{Events: -1, Sessions: 30 * day, Activity: -1, Alerts: -1}
	res, err := s.Purge(ctx(t), p, base.Add(40*day))
	noErr(t, "Purge", err)
	if res.Sessions != 1 {
		t.Errorf("Purge removed %d sessions, want 1: a second RevokeSession must keep the first revocation time", res.Sessions)
	}
}
