package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/notify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

func alert(sev secmon.Severity) secmon.Alert {
	return secmon.Alert{
		ID:        uuid.MustParse("0190f6d2-3b7c-7e4a-9f1e-2a6b8c0d4e5f"),
		Rule:      "brute_force_ip",
		Subject:   "ip:203.0.113.7/32",
		Severity:  sev,
		Status:    secmon.AlertOpen,
		Count:     3,
		FirstSeen: t0,
		LastSeen:  t0.Add(time.Minute),
		Summary:   "42 failed logins in 5m",
		Evidence:  map[string]string{"failures": "42", "window": "5m0s"},
		Action:    secmon.Action{Kind: secmon.ActionBlock, Duration: 15 * time.Minute},
	}
}

func TestSlog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sev   secmon.Severity
		cfg   notify.SlogConfig
		level string
	}{
		{secmon.SeverityInfo, notify.SlogConfig{}, "INFO"},
		{secmon.SeverityLow, notify.SlogConfig{}, "INFO"},
		{secmon.SeverityMedium, notify.SlogConfig{}, "WARN"},
		{secmon.SeverityHigh, notify.SlogConfig{}, "ERROR"},
		{secmon.SeverityCritical, notify.SlogConfig{}, "ERROR"},
		{secmon.SeverityHigh, notify.SlogConfig{Level: func(secmon.Severity) slog.Level { return slog.LevelDebug }}, "DEBUG"},
		{secmon.SeverityMedium, notify.SlogConfig{Level: func(s secmon.Severity) slog.Level { return notify.SlogLevel(s) + 4 }, Message: "threat"}, "ERROR"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		n := notify.NewSlog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), tt.cfg)
		a := alert(tt.sev)
		a.Summary = "line one\nFAKE=line two"
		if err := n.Notify(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(buf.String(), "\n"); got != 1 {
			t.Fatalf("%d lines: %q", got, buf.String())
		}
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		msg := "secmon alert"
		if tt.cfg.Message != "" {
			msg = tt.cfg.Message
		}
		ev, _ := rec["evidence"].(map[string]any)
		if rec["level"] != tt.level || rec["msg"] != msg || rec["rule"] != "brute_force_ip" ||
			rec["severity"] != tt.sev.String() || rec["summary"] != "line one FAKE=line two" ||
			rec["action"] != "block" || ev["failures"] != "42" || rec["count"] != 3.0 {
			t.Errorf("%v: record %v", tt.sev, rec)
		}
	}
	// Disabled levels cost nothing and still succeed.
	var buf bytes.Buffer
	n := notify.NewSlog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), notify.SlogConfig{})
	if err := n.Notify(context.Background(), alert(secmon.SeverityMedium)); err != nil || buf.Len() != 0 {
		t.Errorf("filtered alert: err %v, output %q", err, buf.String())
	}
}

// TestSlogLevelFollowsSeverity checks that the default level never goes
// down as the severity goes up, and that a handler filtering at WARN (a
// common production setting) drops info and low alerts but keeps the rest.
func TestSlogLevelFollowsSeverity(t *testing.T) {
	t.Parallel()
	prev := slog.Level(-100)
	for s := secmon.SeverityInfo; s.Valid(); s++ {
		l := notify.SlogLevel(s)
		if l < prev {
			t.Errorf("SlogLevel(%v) = %v, below SlogLevel(%v) = %v", s, l, s-1, prev)
		}
		prev = l
		if kept := l >= slog.LevelWarn; kept != (s >= secmon.SeverityMedium) {
			t.Errorf("SlogLevel(%v) = %v: kept at WARN = %v", s, l, kept)
		}
	}
	if notify.SlogLevel(secmon.SeverityHigh) != slog.LevelError || notify.SlogLevel(secmon.SeverityInfo) != slog.LevelInfo {
		t.Errorf("SlogLevel(high) = %v, SlogLevel(info) = %v", notify.SlogLevel(secmon.SeverityHigh), notify.SlogLevel(secmon.SeverityInfo))
	}
}

func TestMinSeverityAndMulti(t *testing.T) {
	t.Parallel()
	var got []secmon.Severity
	rec := secmon.NotifierFunc(func(_ context.Context, a secmon.Alert) error {
		got = append(got, a.Severity)
		return nil
	})
	boom := errors.New("boom")
	failing := secmon.NotifierFunc(func(context.Context, secmon.Alert) error { return boom })
	n := notify.Multi(failing, nil, notify.MinSeverity(secmon.SeverityHigh, rec), failing)
	for _, sev := range []secmon.Severity{secmon.SeverityInfo, secmon.SeverityMedium, secmon.SeverityHigh, secmon.SeverityCritical} {
		if err := n.Notify(context.Background(), alert(sev)); !errors.Is(err, boom) {
			t.Errorf("Multi error = %v, want boom", err)
		}
	}
	if len(got) != 2 || got[0] != secmon.SeverityHigh || got[1] != secmon.SeverityCritical {
		t.Errorf("MinSeverity passed %v", got)
	}
	if err := notify.MinSeverity(secmon.SeverityLow, nil).Notify(context.Background(), alert(secmon.SeverityCritical)); err != nil {
		t.Errorf("nil inner notifier: %v", err)
	}
}

func TestPayload(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(notify.NewPayload(alert(secmon.SeverityHigh)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"0190f6d2-3b7c-7e4a-9f1e-2a6b8c0d4e5f","rule":"brute_force_ip","subject":"ip:203.0.113.7/32","severity":"high","status":"open","count":3,"first_seen":"2026-11-23T14:00:00Z","last_seen":"2026-11-23T14:01:00Z","summary":"42 failed logins in 5m","evidence":{"failures":"42","window":"5m0s"},"action":{"kind":"block","duration_seconds":900}}`
	if string(b) != want {
		t.Errorf("payload\n got %s\nwant %s", b, want)
	}
}

// rawHandler records attribute keys and values as they are, the way a
// console handler that prints them unquoted would see them.
type rawHandler struct {
	mu    *sync.Mutex
	lines *[]string
}

func (h rawHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h rawHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h rawHandler) WithGroup(string) slog.Handler            { return h }
func (h rawHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	var walk func(prefix string, a slog.Attr)
	walk = func(prefix string, a slog.Attr) {
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				walk(prefix+a.Key+".", g)
			}
			return
		}
		b.WriteString(prefix + a.Key + "=" + a.Value.String() + " ")
	}
	r.Attrs(func(a slog.Attr) bool { walk("", a); return true })
	h.mu.Lock()
	*h.lines = append(*h.lines, b.String())
	h.mu.Unlock()
	return nil
}

// TestSlogNeutralisesAlertText: rule, subject, summary and evidence keys
// and values reach the handler on one line, without bidirectional or
// invisible characters and capped, whatever handler prints them.
func TestSlogNeutralisesAlertText(t *testing.T) {
	t.Parallel()
	var lines []string
	n := notify.NewSlog(slog.New(rawHandler{&sync.Mutex{}, &lines}), notify.SlogConfig{})
	a := alert(secmon.SeverityHigh)
	evil := "bob\r\nlevel=INFO msg=\"all clear\"\u202e\u200b\x1b[31m"
	a.Rule = secmon.RuleName("rule\n" + evil)
	a.Subject = "user:" + evil + strings.Repeat("x", 10_000)
	a.Summary = evil
	a.Evidence = map[string]string{"user\nname" + evil: evil}
	if err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 {
		t.Fatalf("%d records", len(lines))
	}
	line := lines[0]
	if strings.ContainsAny(line, "\r\n\x1b\u202e\u200b") {
		t.Errorf("control or invisible character reached the handler: %q", line)
	}
	if len(line) > 8<<10 {
		t.Errorf("record of %d bytes", len(line))
	}
}
