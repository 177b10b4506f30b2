package metrics_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/metrics"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/telemetry"
)

// FuzzLabelValues feeds arbitrary policy names, threat codes and stage
// names (a host's configuration, a custom validator's output) through a
// Recorder, and arbitrary list names and modes through a guard's figures:
// the collector must gather without error, and telemetry's text
// exposition must parse and say the same.
func FuzzLabelValues(f *testing.F) {
	for _, s := range []string{"login", "", `a"b\c` + "\nd", "\xff\xfe", "Ωmega", strings.Repeat("x", 300), "_other", "{}=,"} {
		f.Add(s, s+"2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		rec := telemetry.NewRecorder()
		for _, name := range []string{a, b} {
			rec.ObserveRateLimit(name, ratelimit.OutcomeDenied, secmon.Degradation(name))
			rec.ObserveUpload(secmon.Verdict{
				Threats: []secmon.Threat{{Code: secmon.ThreatCode(name)}},
				Timings: []secmon.StageTiming{{Stage: name, Duration: time.Millisecond}},
			}, nil)
		}
		gs := telemetry.GuardStats{Lists: []telemetry.GuardList{
			{Name: a, Mode: b, Prefixes: 1}, {Name: b, Mode: a, Prefixes: 2}, {Name: a, Mode: a, Invalid: 3},
		}}
		guardStats := func() telemetry.GuardStats { return gs }
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(metrics.NewCollector(metrics.Config{Recorder: rec, Guard: guardStats})); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather with names %q, %q: %v", a, b, err)
		}
		var text bytes.Buffer
		if err := telemetry.WriteText(&text, telemetry.Gather(telemetry.Sources{Recorder: rec, Guard: guardStats})); err != nil {
			t.Fatal(err)
		}
		if err := testutil.GatherAndCompare(reg, &text); err != nil {
			t.Fatalf("names %q, %q: %v", a, b, err)
		}
	})
}
