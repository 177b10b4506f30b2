package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/telemetry"
	"github.com/secmon-go/secmon/upload"
)

// family returns the family called name, failing t without it.
func family(t *testing.T, fams []telemetry.Family, name string) telemetry.Family {
	t.Helper()
	for _, f := range fams {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no family %s", name)
	return telemetry.Family{}
}

// value returns the value of the sample with the given label values.
func value(t *testing.T, f telemetry.Family, labels ...string) float64 {
	t.Helper()
	for _, s := range f.Samples {
		if strings.Join(s.LabelValues, "|") == strings.Join(labels, "|") {
			return s.Value
		}
	}
	t.Fatalf("%s has no sample %v (samples %+v)", f.Name, labels, f.Samples)
	return 0
}

func TestRateLimitDecisions(t *testing.T) {
	t.Parallel()
	rec := telemetry.NewRecorder()
	lim, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Heartbeat, Clock: secmontest.NewClock(time.Unix(1e9, 0))})
	if err != nil {
		t.Fatal(err)
	}
	user := func(r *http.Request) string { return r.Header.Get("X-User") }
	h := ratelimit.Middleware(lim, ratelimit.MiddlewareConfig{KeyFunc: ratelimit.KeyByUser(user), Observer: rec})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, who := range []string{"alice", "alice", "alice", "", "bob"} {
		r := httptest.NewRequest(http.MethodPost, "/beat", nil)
		r.Header.Set("X-User", who)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	rec.ObserveRateLimit("login", ratelimit.OutcomeAllowed, secmon.DegradedLocal)
	rec.ObserveRateLimit("login", ratelimit.OutcomeAllowed, secmon.Degradation("something_new"))

	f := family(t, telemetry.Gather(telemetry.Sources{Recorder: rec}), "secmon_ratelimit_decisions_total")
	if f.Kind != telemetry.Counter || strings.Join(f.LabelNames, ",") != "policy,outcome,degraded" {
		t.Fatalf("family %s: %v %v", f.Name, f.Kind, f.LabelNames)
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"heartbeat", "allowed", "none"}, 3}, // alice twice, bob once
		{[]string{"heartbeat", "denied", "none"}, 1},
		{[]string{"heartbeat", "no_key", "none"}, 1},
		{[]string{"login", "allowed", "local"}, 1},
		{[]string{"login", "allowed", telemetry.Other}, 1},
	} {
		if got := value(t, f, c.labels...); got != c.want {
			t.Errorf("%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if len(f.Samples) != 5 {
		t.Errorf("%d samples, want 5 (zero counts are left out): %+v", len(f.Samples), f.Samples)
	}
}

func TestUploadVerdicts(t *testing.T) {
	t.Parallel()
	rec := telemetry.NewRecorder()
	v, err := upload.NewValidator(upload.Config{})
	if err != nil {
		t.Fatal(err)
	}
	val := rec.Validator(v)
	ctx := context.Background()
	var blocked, allowed int
	codes := map[string]float64{}
	for _, c := range append(uploadcorpus.Benign(), uploadcorpus.Hostile()...) {
		vd, err := val.Validate(ctx, c.Upload)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if vd.Allowed {
			allowed++
		} else {
			blocked++
		}
		for _, th := range vd.Threats {
			codes[string(th.Code)]++
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := val.Validate(canceled, uploadcorpus.Benign()[0].Upload); err == nil {
		t.Fatal("a cancelled validation did not fail")
	}
	fams := telemetry.Gather(telemetry.Sources{Recorder: rec})
	verdicts := family(t, fams, "secmon_upload_verdicts_total")
	if value(t, verdicts, "allowed") != float64(allowed) || value(t, verdicts, "blocked") != float64(blocked) || value(t, verdicts, "error") != 1 {
		t.Errorf("verdicts %+v, want %d allowed, %d blocked, 1 error", verdicts.Samples, allowed, blocked)
	}
	threats := family(t, fams, "secmon_upload_threats_total")
	if len(threats.Samples) != len(codes) {
		t.Errorf("%d threat codes counted, want %d", len(threats.Samples), len(codes))
	}
	for code, n := range codes {
		if got := value(t, threats, code); got != n {
			t.Errorf("threat %s = %v, want %v", code, got, n)
		}
	}
	stages := family(t, fams, "secmon_upload_stage_duration_seconds")
	if stages.Kind != telemetry.Histogram {
		t.Fatalf("stage family kind %v", stages.Kind)
	}
	var total *telemetry.HistogramValue
	for _, s := range stages.Samples {
		if s.LabelValues[0] == upload.StageTotal {
			total = s.Histogram
		}
		h := s.Histogram
		for i := 1; i < len(h.Buckets); i++ {
			if h.Buckets[i].Count < h.Buckets[i-1].Count || h.Buckets[i].UpperBound <= h.Buckets[i-1].UpperBound {
				t.Errorf("stage %s: buckets not cumulative and ascending: %+v", s.LabelValues[0], h.Buckets)
			}
		}
		if last := h.Buckets[len(h.Buckets)-1].Count; last > h.Count {
			t.Errorf("stage %s: last bucket %d above the count %d", s.LabelValues[0], last, h.Count)
		}
	}
	if total == nil || total.Count != uint64(allowed+blocked+1) || total.Sum <= 0 {
		t.Errorf("total stage histogram %+v, want %d validations", total, allowed+blocked+1)
	}
}

// TestBoundedLabels checks that names beyond the bounds count under Other.
func TestBoundedLabels(t *testing.T) {
	t.Parallel()
	rec := telemetry.NewRecorder()
	for i := range 3 * telemetry.MaxPolicies {
		rec.ObserveRateLimit(fmt.Sprintf("policy_%03d", i), ratelimit.OutcomeAllowed, "")
	}
	var threats []secmon.Threat
	var timings []secmon.StageTiming
	for i := range 3 * telemetry.MaxThreatCodes {
		threats = append(threats, secmon.Threat{Code: secmon.ThreatCode(fmt.Sprintf("code_%03d", i))})
		timings = append(timings, secmon.StageTiming{Stage: fmt.Sprintf("stage_%03d", i), Duration: time.Millisecond})
	}
	rec.ObserveUpload(secmon.Verdict{Threats: threats, Timings: timings}, nil)
	fams := telemetry.Gather(telemetry.Sources{Recorder: rec})
	for _, c := range []struct {
		family string
		limit  int
		total  float64
	}{
		{"secmon_ratelimit_decisions_total", telemetry.MaxPolicies, 3 * telemetry.MaxPolicies},
		{"secmon_upload_threats_total", telemetry.MaxThreatCodes, 3 * telemetry.MaxThreatCodes},
		{"secmon_upload_stage_duration_seconds", telemetry.MaxStages, 3 * telemetry.MaxThreatCodes},
	} {
		f := family(t, fams, c.family)
		if len(f.Samples) != c.limit {
			t.Errorf("%s: %d series, want %d", c.family, len(f.Samples), c.limit)
		}
		var sum float64
		other := false
		for _, s := range f.Samples {
			if s.Histogram != nil {
				sum += float64(s.Histogram.Count)
			} else {
				sum += s.Value
			}
			other = other || s.LabelValues[0] == telemetry.Other
		}
		if sum != c.total || !other {
			t.Errorf("%s: %v counted (want %v), Other present %v", c.family, sum, c.total, other)
		}
	}
}

// TestObserveAllocatesNothing checks the request path: once a name has been
// seen, observing allocates nothing.
func TestObserveAllocatesNothing(t *testing.T) {
	rec := telemetry.NewRecorder()
	vd := secmon.Verdict{Allowed: false,
		Threats: []secmon.Threat{{Code: secmon.ThreatTrailingData}},
		Timings: []secmon.StageTiming{{Stage: upload.StageMagic, Duration: time.Microsecond}, {Stage: upload.StageTotal, Duration: time.Millisecond}}}
	rec.ObserveRateLimit("login", ratelimit.OutcomeDenied, secmon.DegradedFailClosed)
	rec.ObserveUpload(vd, nil)
	if n := testing.AllocsPerRun(1000, func() { rec.ObserveRateLimit("login", ratelimit.OutcomeDenied, secmon.DegradedFailClosed) }); n != 0 {
		t.Errorf("ObserveRateLimit: %v allocations", n)
	}
	if n := testing.AllocsPerRun(1000, func() { rec.ObserveUpload(vd, nil) }); n != 0 {
		t.Errorf("ObserveUpload: %v allocations", n)
	}
}

// TestConcurrentObserveAndGather runs observers beside scrapes (for -race)
// and checks that no observation is lost.
func TestConcurrentObserveAndGather(t *testing.T) {
	t.Parallel()
	rec := telemetry.NewRecorder()
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				rec.ObserveRateLimit(fmt.Sprintf("p%d", (w+i)%5), ratelimit.OutcomeAllowed, "")
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			_ = telemetry.WriteText(new(bytes.Buffer), telemetry.Gather(telemetry.Sources{Recorder: rec}))
		}
	})
	wg.Wait()
	var sum float64
	for _, s := range family(t, telemetry.Gather(telemetry.Sources{Recorder: rec}), "secmon_ratelimit_decisions_total").Samples {
		sum += s.Value
	}
	if sum != workers*each {
		t.Errorf("%v decisions counted, want %d", sum, workers*each)
	}
}

func TestMonitorFamilies(t *testing.T) {
	t.Parallel()
	mon, err := secmon.New(secmon.Config{Store: memstore.New(), FlushInterval: time.Hour,
		Detector: secmon.DetectorFunc(func(_ context.Context, e secmon.Event) ([]secmon.Finding, error) {
			return []secmon.Finding{{Rule: "brute_force_ip", Subject: "ip:" + e.IP.String(), Severity: secmon.SeverityHigh}}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer mon.Close(ctx)
	for range 3 {
		if err := mon.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure}); err != nil {
			t.Fatal(err)
		}
	}
	_ = mon.Heartbeat(ctx, secmon.SessionBeat{UserID: "u"}) // invalid: no session
	fams := telemetry.Gather(telemetry.Sources{Monitor: mon, Guard: func() telemetry.GuardStats {
		return telemetry.GuardStats{Checks: 10, Refusals: 2, BlocksActive: 1, BlocksDecided: 1}
	}})
	for name, want := range map[string]float64{
		"secmon_events_accepted_total":        3,
		"secmon_heartbeats_invalid_total":     1,
		"secmon_alerts_opened_total":          1,
		"secmon_alerts_merged_total":          2,
		"secmon_guard_checks_total":           10,
		"secmon_guard_blocks_active":          1,
		"secmon_last_error_timestamp_seconds": 0,
	} {
		if got := value(t, family(t, fams, name)); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := value(t, family(t, fams, "secmon_findings_total"), "brute_force_ip"); got != 3 {
		t.Errorf("findings by rule = %v, want 3", got)
	}
	if got := value(t, family(t, fams, "secmon_queue_pending"), "events"); got != 3 {
		t.Errorf("pending events = %v, want 3", got)
	}
	if got := value(t, family(t, fams, "secmon_guard_refusals_total"), "block"); got != 2 {
		t.Errorf("guard refusals by blocks = %v", got)
	}
	if got := value(t, family(t, fams, "secmon_guard_blocks_total"), "rule"); got != 1 {
		t.Errorf("guard blocks by rule = %v", got)
	}
	// Every family is there whatever the counts, and names are unique.
	seen := map[string]bool{}
	for _, f := range fams {
		if seen[f.Name] {
			t.Errorf("family %s twice", f.Name)
		}
		seen[f.Name] = true
		if !strings.HasPrefix(f.Name, "secmon_") || (f.Kind == telemetry.Counter) != strings.HasSuffix(f.Name, "_total") {
			t.Errorf("family %s (%v) breaks the naming conventions", f.Name, f.Kind)
		}
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	fams := []telemetry.Family{
		{Name: "secmon_x_total", Help: "Help with a \\ and a\nnewline.", Kind: telemetry.Counter, LabelNames: []string{"rule"},
			Samples: []telemetry.Sample{{LabelValues: []string{"a\"b\\c\nd"}, Value: 3}}},
		{Name: "secmon_y_seconds", Help: "H.", Kind: telemetry.Histogram, LabelNames: []string{"stage"},
			Samples: []telemetry.Sample{{LabelValues: []string{"magic"}, Histogram: &telemetry.HistogramValue{
				Count: 3, Sum: 0.0015, Buckets: []telemetry.Bucket{{UpperBound: 0.0005, Count: 1}, {UpperBound: 0.001, Count: 2}}}}}},
		{Name: "secmon_z", Help: "G.", Kind: telemetry.Gauge, Samples: []telemetry.Sample{{Value: 1.5}}},
	}
	var b bytes.Buffer
	if err := telemetry.WriteText(&b, fams); err != nil {
		t.Fatal(err)
	}
	want := `# HELP secmon_x_total Help with a \\ and a\nnewline.
# TYPE secmon_x_total counter
secmon_x_total{rule="a\"b\\c\nd"} 3
# HELP secmon_y_seconds H.
# TYPE secmon_y_seconds histogram
secmon_y_seconds_bucket{stage="magic",le="0.0005"} 1
secmon_y_seconds_bucket{stage="magic",le="0.001"} 2
secmon_y_seconds_bucket{stage="magic",le="+Inf"} 3
secmon_y_seconds_sum{stage="magic"} 0.0015
secmon_y_seconds_count{stage="magic"} 3
# HELP secmon_z G.
# TYPE secmon_z gauge
secmon_z 1.5
`
	if b.String() != want {
		t.Errorf("WriteText:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	rec := telemetry.NewRecorder()
	rec.ObserveRateLimit("login", ratelimit.OutcomeDenied, "")
	h := telemetry.Handler(telemetry.Sources{Recorder: rec})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != telemetry.ContentType ||
		!strings.Contains(w.Body.String(), `secmon_ratelimit_decisions_total{degraded="none",outcome="denied",policy="login"} 1`) {
		t.Errorf("GET: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

// failingValidator is a validator that always fails.
type failingValidator struct{}

func (failingValidator) Validate(context.Context, secmon.Upload) (secmon.Verdict, error) {
	return secmon.Verdict{}, errors.New("broken")
}

func TestValidatorPassesErrorsThrough(t *testing.T) {
	t.Parallel()
	rec := telemetry.NewRecorder()
	if _, err := rec.Validator(failingValidator{}).Validate(context.Background(), secmon.Upload{}); err == nil || err.Error() != "broken" {
		t.Fatalf("err = %v", err)
	}
	if got := value(t, family(t, telemetry.Gather(telemetry.Sources{Recorder: rec}), "secmon_upload_verdicts_total"), "error"); got != 1 {
		t.Errorf("error verdicts = %v", got)
	}
}
