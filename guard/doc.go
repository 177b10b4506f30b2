// Package guard is secmon's active response: it turns detection findings
// into blocks (an IP group, a prefix or an account, until a time, longer
// for repeat offenders), enforces them on every request in nanoseconds,
// loads IP reputation lists, and keeps every instance that shares a store
// enforcing the same blocks within a second. It closes the loop fail2ban
// and CrowdSec's bouncers close outside the service, inside the Go service
// itself.
//
//	g, err := guard.New(guard.Config{Store: store})
//	mon, err := secmon.New(secmon.Config{
//		Store: store, Detector: engine,
//		FindingHandlers: []secmon.FindingHandler{g}, // findings become blocks
//	})
//	g.SetEvents(mon) // blocks, lifts and refusals are logged as security events
//	handler = g.Middleware(guard.MiddlewareConfig{TrustedProxies: proxies})(handler)
//
// # From finding to block
//
// The Guard is a [secmon.FindingHandler]: the Monitor hands it every
// finding its Detector reports, repeats included, on the goroutine that
// logged the event; HandleFinding only queues the finding. The guard's
// decider goroutine applies the rule's [Policy] (see [DefaultPolicies]):
// what to block (the finding's IP groups, the subject when it is one and
// Finding.Sources for account-level findings; the account only where the
// policy says so), for how long, and whether it is a dry run. The new
// block is in force in this process as soon as the snapshot is published,
// microseconds after the finding, and is then written to the store. The
// hook is a FindingHandler rather than a Notifier because a Notifier hears
// an alert only when it opens: an attacker coming back after a block ended,
// while the alert is still open, would merge into it and never be blocked
// again. Close the Guard before the Monitor: it logs its last events there.
//
// Escalation follows fail2ban's bantime.increment: a subject blocked again
// within Config.History gets the next level, and level n lasts Duration ×
// Factor^(n-1), at most MaxDuration. Levels come from the block history the
// store keeps (RetentionPolicy.Blocks), so they hold across instances and
// restarts. A lifted block does not count.
//
// The allowlist (loopback by default, plus the host's proxies, office
// ranges and health checkers) wins over everything: a block whose prefix
// lies inside it is refused ([ErrAllowlisted], counted and logged), and
// Check never refuses an allowlisted address, whatever prefix or list holds
// it. Accounts can be allowlisted too.
//
// Block, Lift and List are the operators' side (a dashboard, an admin API):
// manual blocks escalate like the rules' and are logged as ip_blocked;
// lifts as block_lifted, with who did it. A lift ends the block, not the
// detection behind it: the detector's counts go on, so the subject's next
// finding (another failure inside the rule's window) blocks it again, at
// the level before the lifted block. Lift and allowlist an address that
// must stay reachable.
//
// # Enforcement
//
// [Guard.Check] answers from an immutable snapshot published through an
// atomic pointer: no lock, no I/O, no allocation. Blocks on IP groups (an
// IPv4 /32, an IPv6 /64, so an attacker rotating inside its /64 stays
// blocked), on prefixes and the prefixes of blocking lists share one
// github.com/gaissmai/bart table, so a check is one longest-prefix lookup;
// accounts are a map keyed like the detection rules key them
// (detect.UserKey).
//
// [Guard.Middleware] refuses requests from blocked addresses before they
// reach the handler (403, or 429 with Retry-After; OnBlocked writes a
// custom response). The client address comes from secmon.ClientIP with the
// host's trusted proxies, so a spoofed X-Forwarded-For can neither hide a
// blocked client nor get someone else blocked. Login handlers, which learn
// the account from the form, call [Enforcer.Refuse] with it. Refusals are
// logged as access_blocked events, one per subject and
// Config.AccessWindow with the count of refusals folded into it, so an
// attacker hammering a blocked address cannot flood the log.
//
// # Reputation lists
//
// [ParseList] reads FireHOL netsets, Spamhaus DROP and EDROP (text and
// JSON lines) and plain files of one address or CIDR per line, IPv4 and
// IPv6, with comments and blank lines; bad lines are counted and reported
// with their line numbers, never a panic. Lists come from files
// (Config.Lists, [Guard.LoadListFile]: reloaded when the file changes) or
// from readers ([Guard.LoadList]); the library downloads nothing, the host
// schedules that. A list either blocks (ListBlock) or only observes
// (ListObserve): [Guard.KnownBadSource] is a detection rule that reports
// events from observed addresses as known_bad_source findings. A list
// swap is atomic: Check sees the old list or the new one.
//
// # A fleet
//
// Every instance of a service runs its own Guard over the shared store.
// A block decided on one instance is written to the store, which announces
// it (pgstore: NOTIFY on the schema's block channel, the block ID as
// payload); every other guard reads the block and enforces it, within a
// second and in practice within milliseconds
// (benchmarks/results/guard.md). Lifts travel the same way, and so does a
// user's erasure (RetentionStore.EraseUser removes the blocks on the
// account and announces them; a guard that reads an announced block and
// finds none drops it, and forgets it as escalation history). Announcements can be missed while a
// connection is down, so a guard reads every block in force at start
// ([Guard.Ready] reports when that first read succeeded), after every
// reconnect, and every Config.ResyncInterval as a safety net. A store that
// announces nothing is read every Config.PollInterval.
//
// # Outages and bounds
//
// While the store is unreachable the guard keeps enforcing its last
// snapshot and whatever it decides meanwhile; the writes wait in memory
// and are retried with backoff until the store takes them, so no block or
// lift is lost (Close waits for them). Memory is bounded: at most
// Config.MaxBlocks blocks in force (lists are counted apart, in
// Config.MaxListPrefixes), at most twice that waiting to be written,
// Config.MaxHistory subjects of escalation history, Config.FindingQueue
// findings waiting, Config.MaxAccessSubjects subjects of refusal counts.
// Everything refused for a bound is counted in [Stats].
//
// # Events
//
// Config.Events, or the Logger given to [Guard.SetEvents] (normally the
// host's *secmon.Monitor, which needs the Guard as a FindingHandler and so
// is made after it), receives ip_blocked, block_lifted and access_blocked
// events, whose metadata keys are all in secmon.DefaultMetadataKeys
// (block_id, scope, origin, level, until, duration, rule, reason,
// actor_id, prefix_len, list, count, window). The guard never logs while
// holding a lock, and never from Check.
//
// # Metrics
//
// [Guard.Stats] holds every counter; [Guard.TelemetryStats] hands them to
// package telemetry (telemetry.Sources.Guard) and through it to the
// metrics module's client_golang collector: secmon_guard_checks_total,
// secmon_guard_refusals_total{kind}, secmon_guard_blocks_total{origin},
// secmon_guard_sync_lag_seconds and the rest, listed in package
// telemetry's documentation.
//
// # Privacy
//
// Stored blocks hold the real addresses they refuse, whatever the
// Monitor's privacy policy does to the addresses of events: a block must
// match requests. The detection rules, though, see addresses after the
// privacy policy; Config.Privacy tells the guard how to map their subjects
// back (see there).
package guard
