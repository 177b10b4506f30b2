package telemetry_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/telemetry"
	"github.com/secmon-go/secmon/upload"
)

// Count the request path with a Recorder and serve it with the Monitor's
// counters on /metrics.
func Example() {
	mon, err := secmon.New(secmon.Config{Store: memstore.New()})
	if err != nil {
		log.Fatal(err)
	}
	defer mon.Close(context.Background())
	clock := secmontest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) // no token refills while the example runs
	limiter, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Login, Clock: clock})
	if err != nil {
		log.Fatal(err)
	}
	uploadValidator, err := upload.NewValidator(upload.Config{})
	if err != nil {
		log.Fatal(err)
	}
	g, err := guard.New(guard.Config{Store: memstore.New()})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close(context.Background())
	loginHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mux := http.NewServeMux()

	// readme:begin metrics
	rec := telemetry.NewRecorder()
	mux.Handle("POST /login", g.Middleware(guard.MiddlewareConfig{})(ratelimit.Middleware(limiter, ratelimit.MiddlewareConfig{
		Policy: ratelimit.Login, Observer: rec, // decisions by policy, outcome and degradation
	})(loginHandler)))
	validator := rec.Validator(uploadValidator) // verdicts, threats by code, stage latencies
	mux.Handle("GET /metrics", telemetry.Handler(telemetry.Sources{
		Monitor: mon, Recorder: rec,
		Guard: g.TelemetryStats, // checks, refusals, blocks, sync lag, reputation lists
	}))
	// With client_golang, from the module github.com/secmon-go/secmon/metrics:
	// prometheus.MustRegister(metrics.NewCollector(metrics.Config{Monitor: mon, Recorder: rec, Guard: g.TelemetryStats}))
	// readme:end metrics

	for range 11 {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil))
	}
	_, _ = validator.Validate(context.Background(), secmon.Upload{Name: "a.png", Data: []byte("\x89PNG\r\n\x1a\n<?php")})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "secmon_ratelimit_decisions_total") || strings.HasPrefix(l, "secmon_upload_verdicts_total") ||
			strings.HasPrefix(l, "secmon_guard_checks_total") {
			fmt.Println(l)
		}
	}
	// Output:
	// secmon_ratelimit_decisions_total{degraded="none",outcome="allowed",policy="login"} 10
	// secmon_ratelimit_decisions_total{degraded="none",outcome="denied",policy="login"} 1
	// secmon_upload_verdicts_total{verdict="allowed"} 0
	// secmon_upload_verdicts_total{verdict="blocked"} 1
	// secmon_upload_verdicts_total{verdict="error"} 0
	// secmon_guard_checks_total 11
}
