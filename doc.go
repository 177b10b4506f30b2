// Package secmon gives a Go web service the security monitoring a careful
// team would otherwise write by hand: a security event log, detection rules
// with deduplicated alerts, rate limiting, coalesced session heartbeats and
// upload validation.
//
// The root package declares the vocabulary ([Event], [Alert], [Finding],
// [Decision], [Verdict] …) and the small interfaces the parts implement
// ([Logger], [Detector], [RateLimiter], [UploadValidator], [Notifier],
// [GeoResolver], [Store]). Implementations live in subpackages: detect,
// ratelimit, upload, notify, geo/maxmind and the stores under store/;
// dashboard is the admins' view of it all.
//
// # Monitor
//
// [Monitor] is the pipeline between a host's handlers and its [Store]:
//
//	Log ───────────┐
//	Heartbeat ─────┼─▶ validate, stamp, privacy ─▶ bounded queues ─▶ flusher ─▶ Store
//	TrackActivity ─┘          │                                        ▲
//	                          ▼                                        │
//	                      Detector ─▶ findings ─▶ deduplicated alerts ─┘
//	                                                     │
//	                                                     ▼
//	                                         notifier ─▶ Notifiers, subscribers
//
// [Monitor.Log], [Monitor.Heartbeat] and [Monitor.TrackActivity] validate
// their input, stamp IDs and times, apply the [PrivacyPolicy] and queue the
// result in memory; they never wait on I/O (apart from a host's
// Config.ActivityLimiter). Events and activities go to bounded queues (a
// full queue returns [ErrQueueFull]); heartbeats coalesce by session, and a
// change of IP group or user agent within a session logs a session_anomaly
// event through the same path as Log. One flusher goroutine writes the
// queues in batches, by size or every Config.FlushInterval, and retries a
// failing store with capped backoff without losing or duplicating rows.
//
// The [Detector] sees every event after the privacy policy. An in-memory
// detector runs inline in Log. One that waits on I/O, such as detect.Engine
// over Redis counters, reports it through [BlockingDetector] (or the host
// sets Config.AsyncDetection), and the Monitor hands each event to a bounded
// detection queue drained by one worker goroutine; when that queue is full
// the event is still stored, only not observed (Stats.DetectDropped).
// Findings from either path merge into one open alert per (rule, subject)
// while they keep arriving within Config.SuppressWindow; each newly opened
// alert goes once to the Notifiers, from a notifier goroutine that a slow
// Notifier cannot make Log wait for.
//
// [Monitor.Close] refuses further calls, lets the detection worker observe
// what is queued, then writes every queued event, session, activity and
// alert, the alerts from those last findings included, and stops the
// goroutines; a context that ends first makes it return an
// [UnflushedError] saying what is left.
//
// # Client addresses
//
// [ClientIP] finds the client address of a request behind reverse proxies.
// It trusts X-Forwarded-For only when the connection comes from a proxy the
// host names, and walks the header from the right, so a client cannot choose
// the address it is logged under. [IPGroup] turns an address into the key
// detection rules and rate limiters count by: the address itself for IPv4,
// its /64 for IPv6, because one IPv6 subscriber usually holds a whole /64.
// [NewRequestInfo] gathers what an [Event] needs from a request: address,
// capped user agent and a keyed device fingerprint.
//
// # Privacy
//
// Every event passes through a [PrivacyPolicy] before it is stored. The policy
// keeps IP addresses full, truncated (IPv4 /24, IPv6 /48) or replaced by a
// keyed hash; keeps only allowlisted metadata keys ([DefaultMetadataKeys]),
// at most [MaxMetadataKeys] of them and [MaxMetadataLen] bytes per value;
// strips control characters; HTML-escapes markup; and replaces values that
// look like secrets (passwords, bearer tokens, JWTs, API keys, e-mail
// addresses, card numbers, credentials in URLs) with [Redacted]. The policy
// filters and never rejects, so a careless caller cannot lose a security
// event by logging too much.
package secmon
