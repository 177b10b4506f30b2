// Package telemetry counts what secmon does and exposes it as Prometheus
// metrics, with no dependency beyond the standard library.
//
// # Sources
//
// Three sources feed it:
//
//   - the Monitor's Stats (events, heartbeats, activities, alerts, findings
//     by rule, store failures, queue backlogs, flush latency), read at each
//     scrape;
//   - a [Recorder], which counts what happens on the request path: set it as
//     ratelimit.MiddlewareConfig.Observer to count rate-limit decisions by
//     policy, outcome and degradation, and wrap the upload validator with
//     [Recorder.Validator] (or call [Recorder.ObserveUpload]) to count
//     verdicts, threats by code and the time of each validation stage;
//   - an active-response guard's counters, through [Sources].Guard.
//
// # Exposing
//
// [Handler] serves [Gather]'s families in the Prometheus text format, for a
// /metrics route on a host that does not use client_golang. A host that
// does registers the same families with its registry through the nested
// module github.com/secmon-go/secmon/metrics, which keeps client_golang out
// of this module's requirements.
//
// # Names
//
// Every name starts with secmon_ and follows Prometheus conventions:
// counters end in _total, durations are in seconds (_seconds), and label
// values are lower snake_case. Label values are bounded: at most
// [MaxPolicies] policies, [MaxThreatCodes] threat codes and [MaxStages]
// stages are counted apart, the rest under [Other]; rules beyond
// secmon.MaxFindingRules count under secmon.OtherRules. The families:
//
//	secmon_events_accepted_total, _written_total, _rejected_total, _invalid_total
//	secmon_queue_full_total, secmon_batches_written_total
//	secmon_store_write_failures_total{kind}
//	secmon_detector_errors_total, secmon_detector_panics_total, secmon_detections_dropped_total
//	secmon_findings_total{rule}
//	secmon_alerts_opened_total, _merged_total, _dropped_total, _written_total, _rejected_total
//	secmon_notifications_total, secmon_notification_failures_total, secmon_notifications_dropped_total
//	secmon_subscriber_updates_dropped_total
//	secmon_heartbeats_received_total, _coalesced_total, _invalid_total
//	secmon_sessions_written_total, _rejected_total, secmon_session_anomalies_total
//	secmon_activities_accepted_total, _written_total, _rejected_total, _invalid_total, _denied_total
//	secmon_activity_limiter_errors_total
//	secmon_geo_lookups_total, secmon_geo_lookup_failures_total
//	secmon_maintenance_runs_total, secmon_maintenance_errors_total
//	secmon_queue_pending{queue}, secmon_flush_last_duration_seconds, secmon_flush_max_duration_seconds
//	secmon_last_error_timestamp_seconds
//	secmon_ratelimit_decisions_total{policy,outcome,degraded}
//	secmon_upload_verdicts_total{verdict}, secmon_upload_threats_total{code}
//	secmon_upload_stage_duration_seconds{stage} (histogram, 100 µs to 2.5 s)
//	secmon_guard_checks_total, secmon_guard_refusals_total{kind}, secmon_guard_allowlist_exempt_total
//	secmon_guard_blocks_active, secmon_guard_blocks_total{origin}, secmon_guard_blocks_lifted_total
//	secmon_guard_would_block_total, secmon_guard_blocks_refused_total{reason}, secmon_guard_findings_dropped_total
//	secmon_guard_pending_writes, secmon_guard_write_errors_total, secmon_guard_sync_errors_total
//	secmon_guard_sync_lag_seconds, secmon_guard_sync_lag_max_seconds, secmon_guard_last_sync_timestamp_seconds
//	secmon_guard_list_prefixes{list,mode}, secmon_guard_list_bad_lines{list,reason}
//	secmon_guard_list_reload_errors_total{list}, secmon_guard_list_loaded_timestamp_seconds{list}
//
// # The guard's families
//
// secmon_guard_refusals_total counts refused requests by kind: block (a
// block on the address's IP group, a prefix holding it, or the account)
// and list (a blocking reputation list); summed, they are every refusal. A
// request a block or list held but whose address is allowlisted was not
// refused: it counts in secmon_guard_allowlist_exempt_total instead, so a
// sum over kinds never counts a request that passed. Blocks made count by
// origin (rule, manual); blocks a dry run only logged count in
// secmon_guard_would_block_total, blocks not made by reason (allowlist,
// capacity, unmappable). The sync lag is, for the latest block decided on
// another instance, the time from its creation to its enforcement here
// (clock skew included); alert on it staying above a second, and on
// secmon_guard_last_sync_timestamp_seconds falling behind the guard's
// ResyncInterval. Each reputation list reports its size, its bad lines
// (invalid, too_broad) of the version in force, its failed reloads and
// when that version was loaded; at most [MaxGuardLists] lists apart, the
// rest under [Other]. Wire a guard with its adapter:
// telemetry.Sources{Guard: g.TelemetryStats}.
//
// # Cost
//
// A Recorder allocates nothing on the request path once a policy, threat
// code or stage name has been seen, and takes no lock: each observation is
// a map lookup through an atomic pointer and an atomic add. A middleware
// or validator without a Recorder pays nothing.
package telemetry
