package detect

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/secmon-go/secmon"
)

func TestReadEvents(t *testing.T) {
	t.Parallel()
	in := `# a comment
{"time":"2026-03-02T09:00:00Z","type":"login_success","severity":"high","user_id":"u1","session_id":"s1","org_id":"o1","ip":"2001:db8::1","user_agent":"UA","fingerprint":"fp","geo":{"country":"FR","region":"IDF","city":"Paris","lat":48.85,"lon":2.35,"accuracy_km":20},"duration_ms":1.5,"metadata":{"k":"v"}}

   {"time":"2026-03-02T09:00:01.250+01:00","type":"page_view"}
`
	got, err := ReadEvents(strings.NewReader(in), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []secmon.Event{
		{
			Time: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Type: secmon.EventLoginSuccess, Severity: secmon.SeverityHigh,
			UserID: "u1", SessionID: "s1", OrgID: "o1", IP: netip.MustParseAddr("2001:db8::1"), UserAgent: "UA", Fingerprint: "fp",
			Geo:      secmon.Geo{Country: "FR", Region: "IDF", City: "Paris", Latitude: 48.85, Longitude: 2.35, AccuracyKM: 20},
			Duration: 1500 * time.Microsecond, Metadata: map[string]string{"k": "v"},
		},
		{Time: time.Date(2026, 3, 2, 8, 0, 1, 250e6, time.UTC), Type: secmon.EventPageView},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadEventsErrors(t *testing.T) {
	t.Parallel()
	ok := `{"time":"2026-03-02T09:00:00Z","type":"page_view"}`
	cases := map[string]string{
		"not json":         `{"time":`,
		"unknown field":    `{"time":"2026-03-02T09:00:00Z","type":"page_view","usr":"x"}`,
		"missing time":     `{"type":"page_view"}`,
		"missing type":     `{"time":"2026-03-02T09:00:00Z"}`,
		"bad type":         `{"time":"2026-03-02T09:00:00Z","type":"Page View"}`,
		"bad severity":     `{"time":"2026-03-02T09:00:00Z","type":"page_view","severity":"urgent"}`,
		"bad ip":           `{"time":"2026-03-02T09:00:00Z","type":"page_view","ip":"300.1.1.1"}`,
		"old time":         `{"time":"1900-01-01T00:00:00Z","type":"page_view"}`,
		"far time":         `{"time":"2999-01-01T00:00:00Z","type":"page_view"}`,
		"bad geo":          `{"time":"2026-03-02T09:00:00Z","type":"page_view","geo":{"lat":91}}`,
		"negative acc":     `{"time":"2026-03-02T09:00:00Z","type":"page_view","geo":{"accuracy_km":-1}}`,
		"negative dur":     `{"time":"2026-03-02T09:00:00Z","type":"page_view","duration_ms":-1}`,
		"two values":       `{"time":"2026-03-02T09:00:00Z","type":"page_view"} {}`,
		"control in id":    `{"time":"2026-03-02T09:00:00Z","type":"page_view","user_id":"a\u0000b"}`,
		"long line":        `{"time":"2026-03-02T09:00:00Z","type":"page_view","user_agent":"` + strings.Repeat("a", MaxEventLine) + `"}`,
		"long user agent":  `{"time":"2026-03-02T09:00:00Z","type":"page_view","user_agent":"` + strings.Repeat("a", secmon.MaxUserAgentLen+1) + `"}`,
		"long metadata":    `{"time":"2026-03-02T09:00:00Z","type":"page_view","metadata":{"k":"` + strings.Repeat("a", secmon.MaxMetadataLen+1) + `"}}`,
		"array":            `[1,2]`,
		"metadata not str": `{"time":"2026-03-02T09:00:00Z","type":"page_view","metadata":{"k":1}}`,
	}
	for name, line := range cases {
		_, err := ReadEvents(strings.NewReader(ok+"\n"+line+"\n"), 0)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: error does not name the line: %v", name, err)
		}
	}
	_, err := ReadEvents(strings.NewReader(ok+"\n"+ok+"\n"+ok+"\n"), 2)
	if !errors.Is(err, ErrTooManyEvents) {
		t.Errorf("max: %v", err)
	}
}

type erringDetector struct{ n int }

func (d *erringDetector) Observe(_ context.Context, e secmon.Event) ([]secmon.Finding, error) {
	d.n++
	if e.UserID == "bad" {
		return []secmon.Finding{{Rule: "partial"}}, errors.New("oops")
	}
	return []secmon.Finding{{Rule: "r", Subject: e.UserID}}, nil
}

func TestReplayKeepsGoingAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	d := &erringDetector{}
	events := []secmon.Event{event(0, "x", "", "a"), event(0, "x", "", "bad"), event(0, "x", "", "c")}
	fs, err := Replay(context.Background(), d, events)
	if len(fs) != 3 || err == nil || !strings.Contains(err.Error(), "event 1: oops") {
		t.Fatalf("findings %v, err %v", fs, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.n = 0
	_, err = Replay(ctx, d, events)
	if !errors.Is(err, context.Canceled) || d.n != 0 {
		t.Fatalf("cancelled: err %v, observed %d", err, d.n)
	}
}

func FuzzReadEvents(f *testing.F) {
	f.Add([]byte(`{"time":"2026-03-02T09:00:00Z","type":"login_failure","ip":"192.0.2.1","user_id":"u"}`))
	f.Add([]byte("# c\n\n{\"time\":\"2026-03-02T09:00:00Z\",\"type\":\"login_success\",\"geo\":{\"lat\":1,\"lon\":2,\"accuracy_km\":3},\"metadata\":{\"a\":\"b\"}}\n"))
	f.Add([]byte(`{"time":"2026-03-02T09:00:00Z","type":"role_change","severity":"critical","duration_ms":3.5}`))
	f.Add([]byte(`{"time":"x"}`))
	f.Add([]byte("{}\n{}\n"))
	f.Add([]byte(`{"time":"2026-03-02T09:00:00Z","type":"a","ip":"::ffff:1.2.3.4%eth0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := ReadEvents(strings.NewReader(string(data)), 50)
		if err != nil {
			if events != nil {
				t.Fatal("events returned with an error")
			}
			return
		}
		if len(events) > 50 {
			t.Fatalf("%d events, max 50", len(events))
		}
		for i := range events {
			if err := events[i].Validate(); err != nil {
				t.Fatalf("event %d invalid: %v", i, err)
			}
			if events[i].Time.IsZero() {
				t.Fatalf("event %d has no time", i)
			}
		}
		// Whatever parses must replay without panicking.
		e, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Replay(context.Background(), e, events); err != nil {
			t.Fatalf("replay: %v", err)
		}
	})
}
