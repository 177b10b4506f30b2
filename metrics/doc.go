// Package metrics registers secmon's metrics with a Prometheus client_golang
// registry. It is a Go module of its own, so that the secmon module does not
// require client_golang.
//
// The figures come from package telemetry of the secmon module: the
// Monitor's Stats (events, heartbeats, activities, alerts, findings by
// rule, store failures, backlogs, flush latency), a telemetry.Recorder that
// counts rate-limit decisions by policy, outcome and degradation and upload
// verdicts, threats and stage latencies, and optionally an active-response
// guard's checks, refusals by kind, blocks by origin, lifts, dry-run
// decisions, store errors, sync lag and reputation lists (pass the guard's
// adapter, guard.(*Guard).TelemetryStats, as Config.Guard). Names and units
// follow Prometheus conventions
// (secmon_events_accepted_total, secmon_upload_stage_duration_seconds); the
// list is in package telemetry's documentation.
//
//	rec := telemetry.NewRecorder()
//	limited := ratelimit.Middleware(limiter, ratelimit.MiddlewareConfig{Observer: rec})
//	validator := rec.Validator(uploadValidator)
//	prometheus.MustRegister(metrics.NewCollector(metrics.Config{Monitor: mon, Recorder: rec, Guard: g.TelemetryStats}))
//	http.Handle("GET /metrics", promhttp.Handler())
//
// A host without client_golang serves the same families with
// telemetry.Handler.
package metrics
