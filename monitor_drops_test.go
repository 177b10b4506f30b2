package secmon_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/syncbuf"
)

// TestMonitorCountsWhatPrivacyDrops: keys the allowlist removes, values cut
// to their cap and calls refused as invalid are counted in Stats, and each
// key is logged once at debug level, with the allowlisted key it resembles.
func TestMonitorCountsWhatPrivacyDrops(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	m, _, _ := setup(t, func(c *secmon.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	long := strings.Repeat("a", secmon.MaxMetadataLen+100)
	for range 3 {
		err := m.Log(t.Context(), secmon.Event{Type: secmon.EventLoginFailure, UserAgent: "ua" + long,
			Metadata: map[string]string{"filename": "report.pdf", "route": "/login", "reason": long}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Log(t.Context(), secmon.Event{}); err == nil {
		t.Fatal("an event without a type was accepted")
	}
	if err := m.Heartbeat(t.Context(), secmon.SessionBeat{UserID: "u"}); err == nil {
		t.Fatal("a beat without a session was accepted")
	}
	if err := m.TrackActivity(t.Context(), secmon.Activity{Action: "login"}); err == nil {
		t.Fatal("an activity without a user was accepted")
	}
	if err := m.TrackActivity(t.Context(), secmon.Activity{UserID: "u", Action: "login", Resource: long[:secmon.MaxMetadataLen],
		Metadata: map[string]string{"note": "x"}}); err != nil {
		t.Fatal(err)
	}

	s := m.Stats()
	if s.MetadataKeysDropped != 4 || fmt.Sprint(s.DroppedKeys) != "[{filename 3} {note 1}]" {
		t.Errorf("dropped %d keys %v, want 4: filename three times, note once", s.MetadataKeysDropped, s.DroppedKeys)
	}
	if s.ValuesTruncated != 6 || fmt.Sprint(s.TruncatedKeys) != "[{UserAgent 3} {reason 3}]" {
		t.Errorf("cut %d values %v, want 6: reason and the user agent three times each", s.ValuesTruncated, s.TruncatedKeys)
	}
	if s.EventsInvalid != 1 || s.HeartbeatsInvalid != 1 || s.ActivitiesInvalid != 1 {
		t.Errorf("invalid: events %d, beats %d, activities %d; want 1 each", s.EventsInvalid, s.HeartbeatsInvalid, s.ActivitiesInvalid)
	}
	out := logs.String()
	if n := strings.Count(out, "key=filename"); n != 1 {
		t.Errorf("filename reported %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "allowlisted_as=file_name") {
		t.Errorf("the report does not point at file_name:\n%s", out)
	}
	if n := strings.Count(out, "key=reason"); n != 1 {
		t.Errorf("the cut reason value reported %d times, want once:\n%s", n, out)
	}
}

// TestMonitorDroppedKeysBounded: however many distinct keys a host (or an
// attacker feeding request parameters into metadata) sends, the names kept
// are bounded and the rest are counted under OtherKeys; names are made safe
// for logs.
func TestMonitorDroppedKeysBounded(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t, nil)
	md := map[string]string{}
	for i := range 200 {
		md[fmt.Sprintf("k%03d\n", i)] = "v"
	}
	for range 5 {
		if err := m.Log(t.Context(), secmon.Event{Type: secmon.EventLogout, Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	s := m.Stats()
	if s.MetadataKeysDropped != 1000 {
		t.Errorf("MetadataKeysDropped = %d, want 1000", s.MetadataKeysDropped)
	}
	if len(s.DroppedKeys) > 33 {
		t.Errorf("%d names kept, want at most 32 and OtherKeys", len(s.DroppedKeys))
	}
	var sum uint64
	for _, k := range s.DroppedKeys {
		sum += k.Count
		if strings.ContainsAny(k.Key, "\n\r") {
			t.Errorf("key name %q not made safe", k.Key)
		}
	}
	if sum != 1000 || s.DroppedKeys[len(s.DroppedKeys)-1].Key != secmon.OtherKeys {
		t.Errorf("DroppedKeys sum to %d (want 1000), last %v", sum, s.DroppedKeys[len(s.DroppedKeys)-1])
	}
}
