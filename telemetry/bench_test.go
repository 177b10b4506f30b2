package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/telemetry"
	"github.com/secmon-go/secmon/upload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// BenchmarkMiddleware is ratelimit.Middleware on an allowed request
// without an Observer and with a Recorder: the Recorder's cost per request.
func BenchmarkMiddleware(b *testing.B) {
	for _, tc := range []struct {
		name string
		obs  ratelimit.Observer
	}{{"observer=none", nil}, {"observer=recorder", telemetry.NewRecorder()}} {
		b.Run(tc.name, func(b *testing.B) {
			lim, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Policy{Name: "bench", Limit: 100_000, Period: time.Second, Burst: 1 << 24}})
			if err != nil {
				b.Fatal(err)
			}
			h := ratelimit.Middleware(lim, ratelimit.MiddlewareConfig{
				KeyFunc: ratelimit.KeyByUser(func(*http.Request) string { return "alice" }), Observer: tc.obs,
			})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			r := httptest.NewRequest(http.MethodPost, "/api/activity", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				clear(w.Header())
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkObserveRateLimit is one counted decision.
func BenchmarkObserveRateLimit(b *testing.B) {
	rec := telemetry.NewRecorder()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec.ObserveRateLimit("login", ratelimit.OutcomeAllowed, secmon.NotDegraded)
		}
	})
}

// BenchmarkObserveUpload is one counted verdict with a threat and the
// validator's six stage timings.
func BenchmarkObserveUpload(b *testing.B) {
	rec := telemetry.NewRecorder()
	vd := secmon.Verdict{Threats: []secmon.Threat{{Code: secmon.ThreatTrailingData}}}
	for _, st := range []string{upload.StageSize, upload.StageMagic, upload.StageStructure, upload.StageMetadata, upload.StageSanitize, upload.StageTotal} {
		vd.Timings = append(vd.Timings, secmon.StageTiming{Stage: st, Duration: 300 * time.Microsecond})
	}
	b.ReportAllocs()
	for b.Loop() {
		rec.ObserveUpload(vd, nil)
	}
}
