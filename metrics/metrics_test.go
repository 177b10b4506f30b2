package metrics_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/metrics"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/telemetry"
	"github.com/secmon-go/secmon/upload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup returns a Collector over a Monitor that saw three failed logins
// (three brute_force_ip findings: one alert, two merges) and a beat without
// a session, a Recorder that saw rate-limit decisions and two uploads, and
// a guard.
func setup(t *testing.T) (*metrics.Collector, telemetry.Sources) {
	t.Helper()
	mon, err := secmon.New(secmon.Config{Store: memstore.New(), FlushInterval: time.Hour,
		Detector: secmon.DetectorFunc(func(context.Context, secmon.Event) ([]secmon.Finding, error) {
			return []secmon.Finding{{Rule: "brute_force_ip", Subject: "ip:203.0.113.7/32", Severity: secmon.SeverityHigh}}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mon.Close(context.Background()) })
	ctx := context.Background()
	for range 3 {
		if err := mon.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure}); err != nil {
			t.Fatal(err)
		}
	}
	_ = mon.Heartbeat(ctx, secmon.SessionBeat{UserID: "u"})

	rec := telemetry.NewRecorder()
	lim, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Heartbeat, Clock: secmontest.NewClock(time.Unix(1e9, 0))})
	if err != nil {
		t.Fatal(err)
	}
	h := ratelimit.Middleware(lim, ratelimit.MiddlewareConfig{
		KeyFunc: ratelimit.KeyByUser(func(r *http.Request) string { return r.Header.Get("X-User") }), Observer: rec,
	})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, who := range []string{"alice", "alice", "alice", ""} {
		r := httptest.NewRequest(http.MethodPost, "/beat", nil)
		r.Header.Set("X-User", who)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	rec.ObserveRateLimit("login", ratelimit.OutcomeAllowed, secmon.DegradedFailOpen)

	v, err := upload.NewValidator(upload.Config{})
	if err != nil {
		t.Fatal(err)
	}
	val := rec.Validator(v)
	png := []byte("\x89PNG\r\n\x1a\n<?php system($_GET['c']); ?>")
	if vd, err := val.Validate(ctx, secmon.Upload{Name: "a.png", DeclaredType: "image/png", Data: png}); err != nil || vd.Allowed {
		t.Fatalf("hostile upload: %+v, %v", vd, err)
	}
	src := telemetry.Sources{Monitor: mon, Recorder: rec, Guard: func() telemetry.GuardStats {
		return telemetry.GuardStats{Checks: 120, Refusals: 7, BlocksActive: 2, BlocksDecided: 3, BlocksManual: 1, BlocksLifted: 1}
	}}
	return metrics.NewCollector(metrics.Config{Monitor: src.Monitor, Recorder: src.Recorder, Guard: src.Guard}), src
}

func TestCollectAndCompare(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	want := `
# HELP secmon_events_accepted_total Events queued by Log, session anomalies included.
# TYPE secmon_events_accepted_total counter
secmon_events_accepted_total 3
# HELP secmon_heartbeats_invalid_total Heartbeat calls refused as invalid (no session or user ID, say).
# TYPE secmon_heartbeats_invalid_total counter
secmon_heartbeats_invalid_total 1
# HELP secmon_findings_total Valid findings reported by the Detector, by rule (_other beyond the first 256 rules).
# TYPE secmon_findings_total counter
secmon_findings_total{rule="brute_force_ip"} 3
# HELP secmon_alerts_opened_total Findings that opened a new alert.
# TYPE secmon_alerts_opened_total counter
secmon_alerts_opened_total 1
# HELP secmon_ratelimit_decisions_total Requests answered by the rate-limit middleware, by policy, outcome (allowed, denied, no_key, error) and degradation (none, fail_open, fail_closed, local, key_cap).
# TYPE secmon_ratelimit_decisions_total counter
secmon_ratelimit_decisions_total{degraded="none",outcome="allowed",policy="heartbeat"} 2
secmon_ratelimit_decisions_total{degraded="none",outcome="denied",policy="heartbeat"} 1
secmon_ratelimit_decisions_total{degraded="none",outcome="no_key",policy="heartbeat"} 1
secmon_ratelimit_decisions_total{degraded="fail_open",outcome="allowed",policy="login"} 1
# HELP secmon_upload_verdicts_total Upload validations by verdict: allowed, blocked, or error (the validator failed; the upload was refused).
# TYPE secmon_upload_verdicts_total counter
secmon_upload_verdicts_total{verdict="allowed"} 0
secmon_upload_verdicts_total{verdict="blocked"} 1
secmon_upload_verdicts_total{verdict="error"} 0
# HELP secmon_guard_checks_total Requests the guard checked against the blocks in force.
# TYPE secmon_guard_checks_total counter
secmon_guard_checks_total 120
# HELP secmon_guard_blocks_total Blocks made by the guard, by origin: rule (decided from a finding) or manual.
# TYPE secmon_guard_blocks_total counter
secmon_guard_blocks_total{origin="manual"} 1
secmon_guard_blocks_total{origin="rule"} 3
# HELP secmon_guard_blocks_active Blocks in force now.
# TYPE secmon_guard_blocks_active gauge
secmon_guard_blocks_active 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"secmon_events_accepted_total", "secmon_heartbeats_invalid_total", "secmon_findings_total", "secmon_alerts_opened_total",
		"secmon_ratelimit_decisions_total", "secmon_upload_verdicts_total",
		"secmon_guard_checks_total", "secmon_guard_blocks_total", "secmon_guard_blocks_active"); err != nil {
		t.Error(err)
	}
	// The upload's stages went into the latency histogram, one observation
	// each, and its threat was counted by code.
	if n := testutil.CollectAndCount(c, "secmon_upload_stage_duration_seconds"); n < 2 {
		t.Errorf("%d stage histograms, want one per stage run", n)
	}
	if n := testutil.CollectAndCount(c, "secmon_upload_threats_total"); n < 1 {
		t.Errorf("%d threat series", n)
	}
}

// TestLint checks the names, units and help texts against client_golang's
// linter (promlint): counters end in _total, durations are in seconds, no
// reserved suffixes or camelCase.
func TestLint(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestPedanticRegistry registers the Collector with a registry that checks
// every collected metric against its description.
func TestPedanticRegistry(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 40 {
		t.Errorf("%d families gathered", len(mfs))
	}
	// A second Collector over the same Monitor collides, as two
	// registrations of one metric should.
	if err := reg.Register(metrics.NewCollector(metrics.Config{Recorder: telemetry.NewRecorder()})); err == nil {
		t.Error("a second collector with the same metric names registered")
	}
}

// TestTextExpositionMatches checks that the dependency-free text the
// telemetry package serves (examples/httpserver's /metrics) parses as the
// Prometheus text format and holds exactly what this Collector reports.
func TestTextExpositionMatches(t *testing.T) {
	t.Parallel()
	c, src := setup(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	var text bytes.Buffer
	if err := telemetry.WriteText(&text, telemetry.Gather(src)); err != nil {
		t.Fatal(err)
	}
	exposed := text.String()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exposed)); err != nil {
		t.Errorf("telemetry's text differs from the collector's metrics: %v", err)
	}
	// And through HTTP: promhttp and telemetry.Handler agree.
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(exposed), "secmon_ratelimit_decisions_total", "secmon_upload_stage_duration_seconds"); err != nil {
		t.Error(err)
	}
}
