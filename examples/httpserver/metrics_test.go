package main

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/telemetry"
)

// TestMetricsEndpoint checks /metrics: behind the admin token, in the
// Prometheus text format, with the Monitor's counters, the rate-limit
// decisions of the login route and the upload verdicts.
func TestMetricsEndpoint(t *testing.T) {
	base := start(t, config{})
	c := newClient(t, base)
	if code := c.login("alice", demoUsers["alice"]); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	hostile := corpusCase(t, uploadcorpus.Hostile(), "png_zip_appended")
	if code, _ := c.upload(hostile.Upload.Name, hostile.Upload.DeclaredType, hostile.Upload.Data); code != http.StatusUnprocessableEntity {
		t.Fatalf("hostile upload: %d, want 422", code)
	}
	for range 10 { // the login limit is 10 a minute per IP group: 9 more pass, 1 is denied
		c.login("bob", "wrong")
	}

	resp, _ := c.do(mustGet(t, base+"/metrics"))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d, want 401", resp.StatusCode)
	}
	req := mustGet(t, base+"/metrics")
	req.Header.Set("Authorization", "Bearer test-admin-token")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != telemetry.ContentType {
		t.Fatalf("/metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	text := string(body)
	// 11 logins from one address against 10 a minute: 10 allowed and one
	// denied, unless a token refilled meanwhile (one every 6 s).
	logins := map[string]int{}
	for line := range strings.Lines(text) {
		for _, o := range []string{"allowed", "denied"} {
			prefix := `secmon_ratelimit_decisions_total{degraded="none",outcome="` + o + `",policy="login"} `
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				logins[o] = n
			}
		}
	}
	if logins["allowed"]+logins["denied"] != 11 || logins["allowed"] < 10 {
		t.Errorf("login decisions %v, want 11 with at least 10 allowed", logins)
	}
	for _, want := range []string{
		`secmon_ratelimit_decisions_total{degraded="none",outcome="allowed",policy="upload"} 1`,
		"# TYPE secmon_upload_stage_duration_seconds histogram",
		`secmon_upload_verdicts_total{verdict="blocked"} 1`,
		`secmon_upload_threats_total{code="trailing_data"}`,
		"# TYPE secmon_events_accepted_total counter",
		`secmon_queue_pending{queue="events"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestMetricsGuard checks that /metrics carries the guard's families: the
// requests it checked, the brute force it blocked by itself and the
// refusals that followed.
func TestMetricsGuard(t *testing.T) {
	t.Parallel()
	base := start(t, config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	attacker := &xffClient{t: t, base: base, addr: "203.0.113.77"}
	for i := range 5 {
		if code := attacker.login("bob", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, code)
		}
	}
	eventuallyStatus(t, "the attacker refused", func() int { return attacker.login("bob", "guess") }, http.StatusForbidden)
	// The scrape comes from loopback, which is allowlisted (the attacker's
	// own address would be refused like any other request).
	scraper := &xffClient{t: t, base: base}
	code, body := scraper.do(http.MethodGet, "/metrics", "", true)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	got := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "secmon_guard_") {
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			got[line[:i]] = v
		}
	}
	for series, atLeast := range map[string]float64{
		"secmon_guard_checks_total":                             6,
		`secmon_guard_refusals_total{kind="block"}`:             1,
		`secmon_guard_refusals_total{kind="list"}`:              0,
		`secmon_guard_blocks_total{origin="rule"}`:              1,
		"secmon_guard_blocks_active":                            1,
		"secmon_guard_last_sync_timestamp_seconds":              1,
		`secmon_guard_blocks_refused_total{reason="allowlist"}`: 0,
	} {
		v, ok := got[series]
		if !ok || v < atLeast {
			t.Errorf("%s = %v (present %v), want at least %v", series, v, ok, atLeast)
		}
	}
}
