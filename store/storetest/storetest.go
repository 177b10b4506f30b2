package storetest

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

// Run runs the conformance suite. newStore returns a fresh, empty store for
// each subtest; it is called from parallel subtests, so it must be safe to call
// concurrently. Register cleanup for the store with t.Cleanup.
//
// Run reports every broken rule through t; it never skips a rule.
func Run(t *testing.T, newStore func(t *testing.T) secmon.Store) {
	t.Helper()
	if newStore == nil {
		t.Fatal("storetest: newStore is nil")
	}
	groups := []struct {
		name  string
		tests []test
	}{
		{"Events", eventTests},
		{"EventPages", pageTests},
		{"Sessions", sessionTests},
		{"Activity", activityTests},
		{"Alerts", alertTests},
		{"Reports", reportTests},
		{"Top", topTests},
		{"Retention", retentionTests},
		{"Export", exportTests},
		{"Blocks", blockTests},
		{"Context", contextTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s := newStore(t)
					if s == nil {
						t.Fatal("storetest: newStore returned nil")
					}
					tc.fn(t, s)
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s secmon.Store)
}

// base is the fixed instant the fixtures are laid out around: a Monday noon,
// UTC, on whole seconds so every backend stores it exactly.
var base = time.Date(2026, time.March, 2, 12, 0, 0, 0, time.UTC)

// cmpOpts compares stored values: times within a microsecond (PostgreSQL
// keeps microseconds) and regardless of location, netip.Addr by value, and
// nil maps equal to empty ones.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateApproxTime(time.Microsecond),
	cmpopts.EquateEmpty(),
}

// seqID returns a deterministic identifier whose byte order follows n, so
// tests can predict the tie-break order of rows with equal times.
func seqID(n uint64) uuid.UUID {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[0:8], 0x0190000000007000) // a UUIDv7-looking prefix
	binary.BigEndian.PutUint64(u[8:16], n)
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 4122 variant
	return u
}

func ctx(t *testing.T) context.Context { return t.Context() }

func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want one matching %v", what, err, target)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func insertEvents(t *testing.T, s secmon.Store, evs ...secmon.Event) {
	t.Helper()
	noErr(t, "InsertEvents", s.InsertEvents(ctx(t), evs))
}

func queryEvents(t *testing.T, s secmon.Store, q secmon.EventQuery) []secmon.Event {
	t.Helper()
	got, err := s.QueryEvents(ctx(t), q)
	noErr(t, "QueryEvents", err)
	return got
}

// allEvents returns every stored event, newest first (at most MaxQueryLimit).
func allEvents(t *testing.T, s secmon.Store) []secmon.Event {
	t.Helper()
	return queryEvents(t, s, secmon.EventQuery{Limit: secmon.MaxQueryLimit})
}

func upsertSessions(t *testing.T, s secmon.Store, beats ...secmon.SessionBeat) {
	t.Helper()
	noErr(t, "UpsertSessions", s.UpsertSessions(ctx(t), beats))
}

func activeSessions(t *testing.T, s secmon.Store, q secmon.SessionQuery) []secmon.Session {
	t.Helper()
	got, err := s.ActiveSessions(ctx(t), q)
	noErr(t, "ActiveSessions", err)
	return got
}

func allSessions(t *testing.T, s secmon.Store) []secmon.Session {
	t.Helper()
	return activeSessions(t, s, secmon.SessionQuery{Limit: secmon.MaxQueryLimit})
}

func insertActivities(t *testing.T, s secmon.Store, as ...secmon.Activity) {
	t.Helper()
	noErr(t, "InsertActivities", s.InsertActivities(ctx(t), as))
}

func activities(t *testing.T, s secmon.Store, q secmon.ActivityQuery) []secmon.Activity {
	t.Helper()
	got, err := s.Activities(ctx(t), q)
	noErr(t, "Activities", err)
	return got
}

func upsertAlerts(t *testing.T, s secmon.Store, as ...secmon.Alert) {
	t.Helper()
	noErr(t, "UpsertAlerts", s.UpsertAlerts(ctx(t), as))
}

func alerts(t *testing.T, s secmon.Store, q secmon.AlertQuery) []secmon.Alert {
	t.Helper()
	got, err := s.Alerts(ctx(t), q)
	noErr(t, "Alerts", err)
	return got
}

func allAlerts(t *testing.T, s secmon.Store) []secmon.Alert {
	t.Helper()
	return alerts(t, s, secmon.AlertQuery{Limit: secmon.MaxQueryLimit})
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

func pick[T any](all []T, idx ...int) []T {
	out := make([]T, 0, len(idx))
	for _, i := range idx {
		out = append(out, all[i])
	}
	return out
}

func ids(evs []secmon.Event) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
