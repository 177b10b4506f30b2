package telemetry

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/ratelimit"
)

// Kind is a metric family's Prometheus type.
type Kind uint8

// Kinds.
const (
	Counter Kind = iota
	Gauge
	Histogram
)

// String returns the kind as the text format's TYPE line names it.
func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return "untyped"
}

// Family is one metric family: its name, help text, kind, label names and
// samples. Gather returns the same families, in the same order and with
// the same label names, for the same Sources whatever the counts; only the
// samples of labelled families come and go.
type Family struct {
	Name       string
	Help       string
	Kind       Kind
	LabelNames []string
	Samples    []Sample
}

// Sample is one time series of a family: its label values (in LabelNames
// order) and its value, or its histogram for a Histogram family.
type Sample struct {
	LabelValues []string
	Value       float64
	Histogram   *HistogramValue
}

// HistogramValue is a histogram's state: Buckets hold cumulative counts by
// ascending upper bound (the +Inf bucket is Count), Sum is in the family's
// unit.
type HistogramValue struct {
	Count   uint64
	Sum     float64
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// StatsSource is what Gather reads the Monitor's counters from:
// *secmon.Monitor.
type StatsSource interface {
	Stats() secmon.Stats
}

// GuardStats is what Gather reports of an active-response guard: the
// counters an operator alerts on. Sources.Guard returns it at each scrape;
// guard.(*Guard).TelemetryStats fills it from the guard's own Stats.
type GuardStats struct {
	Checks uint64 // requests checked against the blocks and lists in force
	// Refusals counts the checks that refused: a block (on the address's
	// IP group, a prefix holding it, or the account) or a blocking list
	// held it. ListRefusals is the part a list refused, so the blocks'
	// part is Refusals − ListRefusals.
	Refusals     uint64
	ListRefusals uint64
	// AllowlistExempt counts checks where a block or a list held an
	// allowlisted address, which passed: not refusals, and reported apart.
	AllowlistExempt uint64

	BlocksActive  int    // blocks in force now (lists apart)
	BlocksDecided uint64 // blocks decided from findings
	BlocksManual  uint64 // blocks added by an operator
	BlocksLifted  uint64 // blocks lifted before they ended
	WouldBlock    uint64 // blocks a dry run logged and did not make

	RefusedAllowlist  uint64 // blocks not made: the subject is allowlisted
	RefusedCapacity   uint64 // blocks not made or not loaded: the block bound was reached
	RefusedUnmappable uint64 // findings whose addresses the privacy policy masked beyond blocking
	FindingsDropped   uint64 // findings never decided: the queue was full or the guard closed

	PendingWrites int    // blocks and lifts waiting to be written to the store
	WriteErrors   uint64 // failed writes of blocks and lifts to the store (retried)
	SyncErrors    uint64 // failed reads of the fleet's blocks (retried)
	// LastSync is when the latest full read of the blocks in force was
	// taken; zero before the first.
	LastSync time.Time
	// LastSyncLag is, for the latest block heard of from another instance,
	// the time from its creation to its enforcement here; MaxSyncLag the
	// longest so far. Both include the clock skew between instances.
	LastSyncLag, MaxSyncLag time.Duration

	Lists []GuardList // the loaded reputation lists
}

// GuardList is one loaded reputation list, as GuardStats reports it.
// Counts describe the version in force.
type GuardList struct {
	Name         string
	Mode         string    // "block" or "observe"
	Prefixes     int       // distinct prefixes loaded
	Invalid      int       // lines that were neither blank, a comment, an address nor a prefix
	TooBroad     int       // prefixes refused as shorter than the guard accepts
	ReloadErrors uint64    // failed reloads; the previous version stayed
	LoadedAt     time.Time // when the version in force was loaded
}

// MaxGuardLists bounds the reputation lists reported apart; the lists
// beyond it are reported together under the list name Other.
const MaxGuardLists = 64

// Sources are what Gather reports on. Nil fields are left out, with their
// families.
type Sources struct {
	Monitor  StatsSource
	Recorder *Recorder
	// Guard, when set, returns the guard's counters at each scrape:
	// guard.(*Guard).TelemetryStats.
	Guard func() GuardStats
}

// Namespace starts every metric name.
const Namespace = "secmon"

// monitorCounters are the Monitor's plain counters.
var monitorCounters = []struct {
	name, help string
	value      func(*secmon.Stats) uint64
}{
	{"events_accepted_total", "Events queued by Log, session anomalies included.", func(s *secmon.Stats) uint64 { return s.EventsAccepted }},
	{"events_written_total", "Events the store accepted.", func(s *secmon.Stats) uint64 { return s.EventsWritten }},
	{"events_rejected_total", "Events the store refused as invalid (dropped and logged, never retried).", func(s *secmon.Stats) uint64 { return s.EventsRejected }},
	{"events_invalid_total", "Log calls refused as invalid; nothing was queued.", func(s *secmon.Stats) uint64 { return s.EventsInvalid }},
	{"queue_full_total", "Log, Heartbeat and TrackActivity calls refused because their queue was full.", func(s *secmon.Stats) uint64 { return s.QueueFull }},
	{"batches_written_total", "Successful batch writes to the store, of any kind.", func(s *secmon.Stats) uint64 { return s.Batches }},
	{"detector_errors_total", "Detector calls that returned an error or panicked.", func(s *secmon.Stats) uint64 { return s.DetectorErrors }},
	{"detector_panics_total", "Detector calls that panicked.", func(s *secmon.Stats) uint64 { return s.DetectorPanics }},
	{"detections_dropped_total", "Events the Detector never saw: the detection queue was full or Close gave up.", func(s *secmon.Stats) uint64 { return s.DetectDropped }},
	{"alerts_opened_total", "Findings that opened a new alert.", func(s *secmon.Stats) uint64 { return s.AlertsOpened }},
	{"alerts_merged_total", "Findings merged into an open alert.", func(s *secmon.Stats) uint64 { return s.AlertsSuppressed }},
	{"alerts_dropped_total", "Findings refused because the alert capacity was reached.", func(s *secmon.Stats) uint64 { return s.AlertsDropped }},
	{"alerts_written_total", "Alert rows passed to a successful store write.", func(s *secmon.Stats) uint64 { return s.AlertsWritten }},
	{"alerts_rejected_total", "Alert rows the store refused as invalid.", func(s *secmon.Stats) uint64 { return s.AlertsRejected }},
	{"notifications_total", "Successful Notifier calls.", func(s *secmon.Stats) uint64 { return s.Notifications }},
	{"notification_failures_total", "Notifier calls that failed, timed out or panicked.", func(s *secmon.Stats) uint64 { return s.NotifyFailures }},
	{"notifications_dropped_total", "Alerts not notified because the notify queue was full.", func(s *secmon.Stats) uint64 { return s.NotifyDropped }},
	{"subscriber_updates_dropped_total", "Alert updates not passed to subscribers because their queue was full.", func(s *secmon.Stats) uint64 { return s.SubscriberDropped }},
	{"heartbeats_received_total", "Heartbeats accepted.", func(s *secmon.Stats) uint64 { return s.HeartbeatsReceived }},
	{"heartbeats_coalesced_total", "Heartbeats merged into a session already waiting to be written.", func(s *secmon.Stats) uint64 { return s.HeartbeatsCoalesced }},
	{"heartbeats_invalid_total", "Heartbeat calls refused as invalid (no session or user ID, say).", func(s *secmon.Stats) uint64 { return s.HeartbeatsInvalid }},
	{"sessions_written_total", "Session rows passed to a successful store write.", func(s *secmon.Stats) uint64 { return s.SessionsWritten }},
	{"sessions_rejected_total", "Session rows the store refused as invalid.", func(s *secmon.Stats) uint64 { return s.SessionsRejected }},
	{"session_anomalies_total", "session_anomaly events raised: a session changed IP group or user agent.", func(s *secmon.Stats) uint64 { return s.SessionAnomalies }},
	{"activities_accepted_total", "Activities queued.", func(s *secmon.Stats) uint64 { return s.ActivitiesAccepted }},
	{"activities_written_total", "Activities the store accepted.", func(s *secmon.Stats) uint64 { return s.ActivitiesWritten }},
	{"activities_rejected_total", "Activities the store refused as invalid.", func(s *secmon.Stats) uint64 { return s.ActivitiesRejected }},
	{"activities_invalid_total", "TrackActivity calls refused as invalid.", func(s *secmon.Stats) uint64 { return s.ActivitiesInvalid }},
	{"activities_denied_total", "Activities refused by the allowlist or the activity limiter.", func(s *secmon.Stats) uint64 { return s.ActivityDenied }},
	{"activity_limiter_errors_total", "Activity limiter errors; the activity was let through.", func(s *secmon.Stats) uint64 { return s.ActivityLimiterErrors }},
	{"geo_lookups_total", "GeoResolver calls.", func(s *secmon.Stats) uint64 { return s.GeoLookups }},
	{"geo_lookup_failures_total", "GeoResolver calls that failed other than with ErrNotFound.", func(s *secmon.Stats) uint64 { return s.GeoFailures }},
	{"maintenance_runs_total", "Maintenance runs (partitions ahead, retention purge).", func(s *secmon.Stats) uint64 { return s.MaintenanceRuns }},
	{"maintenance_errors_total", "Maintenance runs that failed.", func(s *secmon.Stats) uint64 { return s.MaintenanceErrors }},
}

// Gather returns the metric families of src. It reads each source once
// and allocates the result; call it per scrape, not per request.
func Gather(src Sources) []Family {
	var out []Family
	if src.Monitor != nil {
		out = appendMonitor(out, src.Monitor.Stats())
	}
	if src.Recorder != nil {
		out = appendRecorder(out, src.Recorder)
	}
	if src.Guard != nil {
		out = appendGuard(out, src.Guard())
	}
	return out
}

func name(n string) string { return Namespace + "_" + n }

// labelValue makes a name a host or a Detector chose fit for a label
// value: valid UTF-8 (client_golang refuses anything else, and a scrape
// with one bad series fails whole) and at most maxLabelValue bytes.
func labelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxLabelValue {
		s = strings.ToValidUTF8(s[:maxLabelValue], "")
	}
	return s
}

// maxLabelValue bounds a label value's length.
const maxLabelValue = 128

func single(n, help string, k Kind, v float64) Family {
	return Family{Name: name(n), Help: help, Kind: k, Samples: []Sample{{Value: v}}}
}

func appendMonitor(out []Family, s secmon.Stats) []Family {
	for _, c := range monitorCounters {
		out = append(out, single(c.name, c.help, Counter, float64(c.value(&s))))
	}
	failures := Family{Name: name("store_write_failures_total"), Kind: Counter, LabelNames: []string{"kind"},
		Help: "Store writes that failed and will be retried, by kind of row."}
	for _, k := range []struct {
		kind string
		n    uint64
	}{{"alerts", s.AlertsFailed}, {"activities", s.ActivitiesFailed}, {"events", s.EventsFailed}, {"sessions", s.SessionsFailed}} {
		failures.Samples = append(failures.Samples, Sample{LabelValues: []string{k.kind}, Value: float64(k.n)})
	}
	out = append(out, failures)

	findings := Family{Name: name("findings_total"), Kind: Counter, LabelNames: []string{"rule"},
		Help: "Valid findings reported by the Detector, by rule (" + string(secmon.OtherRules) + " beyond the first " + itoa(secmon.MaxFindingRules) + " rules)."}
	byRule := map[string]float64{} // fitted names may meet
	for r, n := range s.FindingsByRule {
		byRule[labelValue(string(r))] += float64(n)
	}
	for _, r := range sortedKeys(byRule) {
		findings.Samples = append(findings.Samples, Sample{LabelValues: []string{r}, Value: byRule[r]})
	}
	out = append(out, findings)

	pending := Family{Name: name("queue_pending"), Kind: Gauge, LabelNames: []string{"queue"},
		Help: "Items waiting to be written (or, for detections, observed), by queue."}
	for _, q := range []struct {
		queue string
		n     int
	}{{"activities", s.PendingActivities}, {"alerts", s.PendingAlerts}, {"detections", s.PendingDetections}, {"events", s.PendingEvents}, {"sessions", s.PendingSessions}} {
		pending.Samples = append(pending.Samples, Sample{LabelValues: []string{q.queue}, Value: float64(q.n)})
	}
	out = append(out, pending,
		single("flush_last_duration_seconds", "Duration of the latest flush round that wrote or failed.", Gauge, s.LastFlushLatency.Seconds()),
		single("flush_max_duration_seconds", "Longest flush round so far.", Gauge, s.MaxFlushLatency.Seconds()),
	)
	var lastErr float64
	if s.LastError != "" {
		lastErr = unixSeconds(s.LastErrorTime)
	}
	out = append(out, single("last_error_timestamp_seconds", "Unix time of the Monitor's most recent error; 0 if none.", Gauge, lastErr))
	return out
}

func appendRecorder(out []Family, r *Recorder) []Family {
	decisions := Family{Name: name("ratelimit_decisions_total"), Kind: Counter, LabelNames: []string{"policy", "outcome", "degraded"},
		Help: "Requests answered by the rate-limit middleware, by policy, outcome (allowed, denied, no_key, error) and degradation (none, fail_open, fail_closed, local, key_cap)."}
	names, policies := sortedNames(&r.policies)
	for _, p := range names {
		c := policies[p]
		for o := range ratelimit.NumOutcomes {
			for d := range c.n[o] {
				if n := c.n[o][d].Load(); n > 0 {
					decisions.Samples = append(decisions.Samples, Sample{
						LabelValues: []string{p, ratelimit.Outcome(o).String(), degradedLabel(d)}, Value: float64(n)})
				}
			}
		}
	}
	verdicts := Family{Name: name("upload_verdicts_total"), Kind: Counter, LabelNames: []string{"verdict"},
		Help: "Upload validations by verdict: allowed, blocked, or error (the validator failed; the upload was refused)."}
	for i, v := range verdictNames {
		verdicts.Samples = append(verdicts.Samples, Sample{LabelValues: []string{v}, Value: float64(r.verdicts[i].Load())})
	}
	threats := Family{Name: name("upload_threats_total"), Kind: Counter, LabelNames: []string{"code"},
		Help: "Threats found in uploads, by threat code."}
	codes, counts := sortedNames(&r.threats)
	for _, c := range codes {
		threats.Samples = append(threats.Samples, Sample{LabelValues: []string{c}, Value: float64(counts[c].Load())})
	}
	stages := Family{Name: name("upload_stage_duration_seconds"), Kind: Histogram, LabelNames: []string{"stage"},
		Help: "Time each upload validation stage took (the total stage is the whole validation)."}
	stageNames, hists := sortedNames(&r.stages)
	for _, st := range stageNames {
		stages.Samples = append(stages.Samples, Sample{LabelValues: []string{st}, Histogram: hists[st].value()})
	}
	return append(out, decisions, verdicts, threats, stages)
}

func appendGuard(out []Family, g GuardStats) []Family {
	refusals := Family{Name: name("guard_refusals_total"), Kind: Counter, LabelNames: []string{"kind"},
		Help: "Requests the guard refused, by kind: block (a block on the address, its prefix or the account) or list (a blocking reputation list)."}
	blockRefusals := g.Refusals - min(g.ListRefusals, g.Refusals)
	refusals.Samples = []Sample{{LabelValues: []string{"block"}, Value: float64(blockRefusals)}, {LabelValues: []string{"list"}, Value: float64(g.ListRefusals)}}
	blocks := Family{Name: name("guard_blocks_total"), Kind: Counter, LabelNames: []string{"origin"},
		Help: "Blocks the guard made, by origin: rule (decided from a finding) or manual (an operator)."}
	blocks.Samples = []Sample{{LabelValues: []string{"manual"}, Value: float64(g.BlocksManual)}, {LabelValues: []string{"rule"}, Value: float64(g.BlocksDecided)}}
	notMade := Family{Name: name("guard_blocks_refused_total"), Kind: Counter, LabelNames: []string{"reason"},
		Help: "Blocks the guard did not make, by reason: allowlist (the subject is allowlisted), capacity (the block bound was reached) or unmappable (the finding's addresses were masked by the privacy policy)."}
	notMade.Samples = []Sample{
		{LabelValues: []string{"allowlist"}, Value: float64(g.RefusedAllowlist)},
		{LabelValues: []string{"capacity"}, Value: float64(g.RefusedCapacity)},
		{LabelValues: []string{"unmappable"}, Value: float64(g.RefusedUnmappable)},
	}
	out = append(out,
		single("guard_checks_total", "Requests the guard checked against the blocks and lists in force.", Counter, float64(g.Checks)),
		refusals,
		single("guard_allowlist_exempt_total", "Requests a block or list held that passed because the address is allowlisted.", Counter, float64(g.AllowlistExempt)),
		single("guard_blocks_active", "Blocks in force now (reputation lists apart).", Gauge, float64(g.BlocksActive)),
		blocks,
		single("guard_blocks_lifted_total", "Blocks lifted before they ended.", Counter, float64(g.BlocksLifted)),
		single("guard_would_block_total", "Blocks a dry run logged and did not make.", Counter, float64(g.WouldBlock)),
		notMade,
		single("guard_findings_dropped_total", "Findings the guard never decided: its queue was full or it was closed.", Counter, float64(g.FindingsDropped)),
		single("guard_pending_writes", "Blocks and lifts waiting to be written to the store.", Gauge, float64(g.PendingWrites)),
		single("guard_write_errors_total", "Failed writes of blocks and lifts to the store (retried).", Counter, float64(g.WriteErrors)),
		single("guard_sync_errors_total", "Failed reads of the fleet's blocks from the store (retried).", Counter, float64(g.SyncErrors)),
		single("guard_sync_lag_seconds", "For the latest block decided on another instance: from its creation to its enforcement here.", Gauge, g.LastSyncLag.Seconds()),
		single("guard_sync_lag_max_seconds", "The longest such lag so far (clock skew between instances included).", Gauge, g.MaxSyncLag.Seconds()),
		single("guard_last_sync_timestamp_seconds", "Unix time of the latest full read of the blocks in force; 0 before the first.", Gauge, unixSeconds(g.LastSync)),
	)
	return appendGuardLists(out, g.Lists)
}

// appendGuardLists adds the reputation lists' families: the first
// MaxGuardLists-1 names apart, the rest summed under Other (their sizes by
// mode, their load time the oldest known).
func appendGuardLists(out []Family, lists []GuardList) []Family {
	type sizeKey struct{ list, mode string }
	type perList struct {
		invalid, tooBroad float64
		reloadErrors      float64
		loaded            time.Time
	}
	sizes := map[sizeKey]float64{}
	byName := map[string]*perList{}
	for _, l := range lists {
		n := labelValue(l.Name)
		if _, ok := byName[n]; !ok && len(byName) >= MaxGuardLists-1 {
			n = Other
		}
		p := byName[n]
		if p == nil {
			p = &perList{loaded: l.LoadedAt}
			byName[n] = p
		}
		sizes[sizeKey{n, labelValue(l.Mode)}] += float64(l.Prefixes)
		p.invalid += float64(l.Invalid)
		p.tooBroad += float64(l.TooBroad)
		p.reloadErrors += float64(l.ReloadErrors)
		if !l.LoadedAt.IsZero() && (p.loaded.IsZero() || l.LoadedAt.Before(p.loaded)) {
			p.loaded = l.LoadedAt
		}
	}
	prefixes := Family{Name: name("guard_list_prefixes"), Kind: Gauge, LabelNames: []string{"list", "mode"},
		Help: "Prefixes of each loaded reputation list, by list and mode (block or observe)."}
	keys := make([]sizeKey, 0, len(sizes))
	for k := range sizes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sizeKey) int { return cmp.Or(cmp.Compare(a.list, b.list), cmp.Compare(a.mode, b.mode)) })
	for _, k := range keys {
		prefixes.Samples = append(prefixes.Samples, Sample{LabelValues: []string{k.list, k.mode}, Value: sizes[k]})
	}
	bad := Family{Name: name("guard_list_bad_lines"), Kind: Gauge, LabelNames: []string{"list", "reason"},
		Help: "Lines of each loaded reputation list that were not loaded, by reason: invalid (not an address or prefix) or too_broad (a prefix shorter than the guard accepts)."}
	reloads := Family{Name: name("guard_list_reload_errors_total"), Kind: Counter, LabelNames: []string{"list"},
		Help: "Failed reloads of each reputation list; the previous version stays in force."}
	loaded := Family{Name: name("guard_list_loaded_timestamp_seconds"), Kind: Gauge, LabelNames: []string{"list"},
		Help: "Unix time the version of each reputation list in force was loaded."}
	for _, n := range sortedKeys(byName) {
		p := byName[n]
		bad.Samples = append(bad.Samples,
			Sample{LabelValues: []string{n, "invalid"}, Value: p.invalid},
			Sample{LabelValues: []string{n, "too_broad"}, Value: p.tooBroad})
		reloads.Samples = append(reloads.Samples, Sample{LabelValues: []string{n}, Value: p.reloadErrors})
		loaded.Samples = append(loaded.Samples, Sample{LabelValues: []string{n}, Value: unixSeconds(p.loaded)})
	}
	return append(out, prefixes, bad, reloads, loaded)
}

// unixSeconds is t as Unix seconds, 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / float64(time.Second)
}
