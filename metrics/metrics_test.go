package metrics_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
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
	g := setupGuard(t)
	src := telemetry.Sources{Monitor: mon, Recorder: rec, Guard: g.TelemetryStats}
	return metrics.NewCollector(metrics.Config{Monitor: src.Monitor, Recorder: src.Recorder, Guard: src.Guard}), src
}

// setupGuard returns a guard, allowlisting 192.0.2.0/24, that has: a
// blocking list of one prefix (and two bad lines) and an observe list of
// two; two manual blocks, one of them lifted, and one refused as
// allowlisted; a dry-run rule that would have blocked an address; and six
// checks: two refused by a block, one by the list, one allowlisted address
// held by a block, two passed.
func setupGuard(t *testing.T) *guard.Guard {
	t.Helper()
	clock := secmontest.NewClock(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	policies := guard.DefaultPolicies()
	p := policies["brute_force_ip"]
	p.DryRun = true
	policies["brute_force_ip"] = p
	g, err := guard.New(guard.Config{Store: memstore.New(), Clock: clock, Policies: policies,
		Allowlist: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(func() {
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	if err := g.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.LoadList(guard.ListConfig{Name: "drop"}, strings.NewReader("198.51.100.0/24\nnot an address\n0.0.0.0/1\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.LoadList(guard.ListConfig{Name: "tor", Mode: guard.ListObserve}, strings.NewReader("100.64.0.1\n100.64.0.2\n")); err != nil {
		t.Fatal(err)
	}
	lifted, err := g.Block(ctx, secmon.Block{Prefix: netip.MustParsePrefix("203.0.113.0/24"), By: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Block(ctx, secmon.Block{Prefix: netip.MustParsePrefix("192.0.0.0/16"), By: "operator"}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Block(ctx, secmon.Block{Prefix: netip.MustParsePrefix("192.0.2.0/28"), By: "operator"}); err == nil {
		t.Fatal("an allowlisted prefix was blocked")
	}
	grp := secmon.IPGroup(netip.MustParseAddr("198.18.0.9"))
	g.HandleFinding(secmon.Finding{Rule: "brute_force_ip", Subject: "ip:" + grp.String(), Severity: secmon.SeverityHigh,
		Action: secmon.Action{Kind: secmon.ActionBlock, Duration: 15 * time.Minute}, Time: clock.Now(),
		Sources: []secmon.Source{{Group: grp, Count: 5}}})
	for _, ip := range []string{"203.0.113.5", "203.0.113.6", "198.51.100.1", "192.0.2.1", "10.0.0.1", "198.18.0.9"} {
		g.Check(netip.MustParseAddr(ip), "")
	}
	if err := g.Lift(ctx, lifted.ID, "operator"); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return g
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
# HELP secmon_guard_checks_total Requests the guard checked against the blocks and lists in force.
# TYPE secmon_guard_checks_total counter
secmon_guard_checks_total 6
# HELP secmon_guard_refusals_total Requests the guard refused, by kind: block (a block on the address, its prefix or the account) or list (a blocking reputation list).
# TYPE secmon_guard_refusals_total counter
secmon_guard_refusals_total{kind="block"} 2
secmon_guard_refusals_total{kind="list"} 1
# HELP secmon_guard_allowlist_exempt_total Requests a block or list held that passed because the address is allowlisted.
# TYPE secmon_guard_allowlist_exempt_total counter
secmon_guard_allowlist_exempt_total 1
# HELP secmon_guard_blocks_active Blocks in force now (reputation lists apart).
# TYPE secmon_guard_blocks_active gauge
secmon_guard_blocks_active 1
# HELP secmon_guard_blocks_total Blocks the guard made, by origin: rule (decided from a finding) or manual (an operator).
# TYPE secmon_guard_blocks_total counter
secmon_guard_blocks_total{origin="manual"} 2
secmon_guard_blocks_total{origin="rule"} 0
# HELP secmon_guard_blocks_lifted_total Blocks lifted before they ended.
# TYPE secmon_guard_blocks_lifted_total counter
secmon_guard_blocks_lifted_total 1
# HELP secmon_guard_would_block_total Blocks a dry run logged and did not make.
# TYPE secmon_guard_would_block_total counter
secmon_guard_would_block_total 1
# HELP secmon_guard_blocks_refused_total Blocks the guard did not make, by reason: allowlist (the subject is allowlisted), capacity (the block bound was reached) or unmappable (the finding's addresses were masked by the privacy policy).
# TYPE secmon_guard_blocks_refused_total counter
secmon_guard_blocks_refused_total{reason="allowlist"} 1
secmon_guard_blocks_refused_total{reason="capacity"} 0
secmon_guard_blocks_refused_total{reason="unmappable"} 0
# HELP secmon_guard_pending_writes Blocks and lifts waiting to be written to the store.
# TYPE secmon_guard_pending_writes gauge
secmon_guard_pending_writes 0
# HELP secmon_guard_write_errors_total Failed writes of blocks and lifts to the store (retried).
# TYPE secmon_guard_write_errors_total counter
secmon_guard_write_errors_total 0
# HELP secmon_guard_sync_errors_total Failed reads of the fleet's blocks from the store (retried).
# TYPE secmon_guard_sync_errors_total counter
secmon_guard_sync_errors_total 0
# HELP secmon_guard_list_prefixes Prefixes of each loaded reputation list, by list and mode (block or observe).
# TYPE secmon_guard_list_prefixes gauge
secmon_guard_list_prefixes{list="drop",mode="block"} 1
secmon_guard_list_prefixes{list="tor",mode="observe"} 2
# HELP secmon_guard_list_bad_lines Lines of each loaded reputation list that were not loaded, by reason: invalid (not an address or prefix) or too_broad (a prefix shorter than the guard accepts).
# TYPE secmon_guard_list_bad_lines gauge
secmon_guard_list_bad_lines{list="drop",reason="invalid"} 1
secmon_guard_list_bad_lines{list="drop",reason="too_broad"} 1
secmon_guard_list_bad_lines{list="tor",reason="invalid"} 0
secmon_guard_list_bad_lines{list="tor",reason="too_broad"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"secmon_events_accepted_total", "secmon_heartbeats_invalid_total", "secmon_findings_total", "secmon_alerts_opened_total",
		"secmon_ratelimit_decisions_total", "secmon_upload_verdicts_total",
		"secmon_guard_checks_total", "secmon_guard_refusals_total", "secmon_guard_allowlist_exempt_total",
		"secmon_guard_blocks_active", "secmon_guard_blocks_total", "secmon_guard_blocks_lifted_total",
		"secmon_guard_would_block_total", "secmon_guard_blocks_refused_total", "secmon_guard_pending_writes",
		"secmon_guard_write_errors_total", "secmon_guard_sync_errors_total",
		"secmon_guard_list_prefixes", "secmon_guard_list_bad_lines"); err != nil {
		t.Error(err)
	}
	// The guard read the store once (Ready): its last full read is a time,
	// and each list reports when it was loaded.
	for _, name := range []string{"secmon_guard_last_sync_timestamp_seconds", "secmon_guard_list_loaded_timestamp_seconds",
		"secmon_guard_sync_lag_seconds", "secmon_guard_sync_lag_max_seconds", "secmon_guard_list_reload_errors_total"} {
		if n := testutil.CollectAndCount(c, name); n == 0 {
			t.Errorf("no %s", name)
		}
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
