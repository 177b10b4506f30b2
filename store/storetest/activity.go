package storetest

import (
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

var activityTests = []test{
	{"RoundTripAndFilters", testActivityFilters},
	{"Idempotent", testActivityIdempotent},
	{"InvalidBatchRejected", testActivityInvalid},
	{"MetadataIsolation", testActivityIsolation},
}

func activityFixture() []secmon.Activity {
	rows := []struct{ user, sess, action, res string }{
		{"alice", "s-a", "report.view", "report:1"},
		{"alice", "s-a", "report.export", "report:1"},
		{"bob", "s-b", "report.view", "report:2"},
		{"alice", "s-a2", "settings.update", ""},
		{"bob", "s-b", "report.view", "report:3"},
	}
	out := make([]secmon.Activity, len(rows))
	for i, r := range rows {
		out[i] = secmon.Activity{
			ID: secmon.NewID(), Time: base.Add(time.Duration(i) * time.Minute),
			UserID: r.user, SessionID: r.sess, OrgID: "org-1", Action: r.action, Resource: r.res,
			Metadata: map[string]string{"n": string(rune('a' + i))},
		}
	}
	out[3].Metadata = nil
	return out
}

func testActivityFilters(t *testing.T, s secmon.Store) {
	fx := activityFixture()
	insertActivities(t, s, fx[4], fx[1], fx[0])
	insertActivities(t, s, fx[3], fx[2])
	cases := []struct {
		name string
		q    secmon.ActivityQuery
		want []int
	}{
		{"all, newest first", secmon.ActivityQuery{}, []int{4, 3, 2, 1, 0}},
		{"from inclusive", secmon.ActivityQuery{From: fx[3].Time}, []int{4, 3}},
		{"to exclusive", secmon.ActivityQuery{To: fx[1].Time}, []int{0}},
		{"user", secmon.ActivityQuery{UserID: "alice"}, []int{3, 1, 0}},
		{"action", secmon.ActivityQuery{Action: "report.view"}, []int{4, 2, 0}},
		{"user and action", secmon.ActivityQuery{UserID: "bob", Action: "report.view", To: fx[4].Time}, []int{2}},
		{"limit", secmon.ActivityQuery{Limit: 2}, []int{4, 3}},
		{"no match", secmon.ActivityQuery{UserID: "carol"}, nil},
	}
	for _, tc := range cases {
		diff(t, tc.name, pick(fx, tc.want...), activities(t, s, tc.q))
	}
	_, err := s.Activities(ctx(t), secmon.ActivityQuery{From: base, To: base.Add(-time.Minute)})
	wantErrIs(t, "Activities with To before From", err, secmon.ErrInvalid)
}

func testActivityIdempotent(t *testing.T, s secmon.Store) {
	fx := activityFixture()
	insertActivities(t, s, fx[:3]...)
	insertActivities(t, s, fx[:3]...)
	insertActivities(t, s, fx[3], fx[1], fx[3])
	diff(t, "each activity stored once", pick(fx, 3, 2, 1, 0), activities(t, s, secmon.ActivityQuery{}))
	noErr(t, "InsertActivities(nil)", s.InsertActivities(ctx(t), nil))
}

func testActivityInvalid(t *testing.T, s secmon.Store) {
	cases := []struct {
		name string
		mod  func(a *secmon.Activity)
	}{
		{"no user", func(a *secmon.Activity) { a.UserID = "" }},
		{"no action", func(a *secmon.Activity) { a.Action = "" }},
		{"zero ID", func(a *secmon.Activity) { a.ID = [16]byte{} }},
		{"zero time", func(a *secmon.Activity) { a.Time = time.Time{} }},
	}
	for _, tc := range cases {
		fx := activityFixture()
		tc.mod(&fx[1])
		err := s.InsertActivities(ctx(t), fx[:2])
		wantErrIs(t, "InsertActivities with "+tc.name, err, secmon.ErrInvalid)
	}
	if got := activities(t, s, secmon.ActivityQuery{}); len(got) != 0 {
		t.Errorf("a rejected batch left %d activities stored, want 0", len(got))
	}
}

func testActivityIsolation(t *testing.T, s secmon.Store) {
	fx := activityFixture()
	a := fx[0]
	a.Metadata = map[string]string{"k": "v"}
	insertActivities(t, s, a)
	a.Metadata["k"] = "changed"
	got := activities(t, s, secmon.ActivityQuery{})
	if len(got) != 1 || got[0].Metadata["k"] != "v" {
		t.Fatalf("stored activity changed with the caller's map: %v", got)
	}
	got[0].Metadata["k"] = "changed too"
	if again := activities(t, s, secmon.ActivityQuery{}); again[0].Metadata["k"] != "v" {
		t.Errorf("stored activity changed with a returned map: %v", again)
	}
}
