// Package detect finds attacks in a stream of security events without
// reading the event log: it implements [secmon.Detector] with rule state in
// memory, or in Redis when several instances must see one attack together.
//
// # Engine
//
// [New] builds an [Engine] from a [Config]. Observe runs every [Rule]
// against one event and returns [secmon.Finding] values (rule name, subject,
// severity, summary, evidence, suggested action). A rule that errors or
// panics is contained: its findings for that event are dropped, the failure
// is counted in [Engine.Stats] and returned as a [*RuleError], and the other
// rules still run.
//
// Time comes from the event: Observe judges each event at its own Time (the
// Config.Clock's time when it is zero). A stream replayed with [Replay]
// therefore produces the same findings as it did live.
//
// A rule reports a subject whenever its count is at or above the threshold;
// the engine keeps the first finding per (rule, subject) and suppresses
// repeats for the rule's cooldown (its window for the counting rules). A
// thousand failed logins from one address are one finding per window, and
// the Monitor's alert deduplication merges what remains.
//
// # Counters
//
// Rules do not count by themselves: in a first phase ([Rule.Plan]) they
// declare counter operations ([Op]: a sliding-window count or a
// distinct-member count per key), the engine runs all rules' operations for
// the event in one [Counters.Do] call, and in a second phase
// ([Rule.Evaluate]) each rule judges its results. The package
// detect/rediscounters executes that call as one pipelined round trip to
// Redis (it is a package of its own, so a host counting in memory does not
// link go-redis); [MemoryCounters] keeps a hard cap on
// keys and bounded bytes per key, so a flood from a million sources costs
// evictions, not memory. The package detect/detecttest holds the contract
// every Counters implementation must meet.
//
// When Redis fails, Observe returns the counter error with the findings of
// the rules that need no counters (impossible travel, new country or
// device, session hijack, privilege escalation); the Redis counters then
// stop asking for their Backoff, so an outage costs one Timeout
// per back-off rather than one per event. Every count key is created with
// its expiry.
//
// With Redis counters, instances share counts but each suppresses its own
// repeats, so a fleet of n instances reports an attack at most n times per
// window; the Monitor's alert deduplication on (rule, subject) merges them.
// The stateful rules (impossible travel, new country or device, session
// hijack) remember per instance.
//
// # Built-in rules
//
// [Defaults] returns every built-in rule with its default thresholds. Each
// is a struct whose exported fields a host may change before calling New
// (zero fields mean the defaults):
//
//   - [BruteForceIP] "brute_force_ip": ≥ 5 login failures from one IP group within 10 minutes (fail2ban's maxretry and findtime).
//   - [BruteForceAccount] "brute_force_account": ≥ 5 login failures for one user in 15 minutes; names the attacking IP groups.
//   - [CredentialStuffing] "credential_stuffing": one IP group failing against ≥ 10 accounts in 10 minutes.
//   - [DistributedAttack] "distributed_attack": ≥ 5 IP groups failing against one account in 15 minutes; names them.
//   - [ImpossibleTravel] "impossible_travel": successive logins needing more than 1,000 km/h.
//   - [NewCountry] "new_country" and [NewDevice] "new_device": a login from a country or device not among the user's last 8.
//   - [SessionHijack] "session_hijack": a session's IP group or user agent changes.
//   - [PrivilegeEscalation] "privilege_escalation": every role_change, with its actor.
//   - [MassExport] "mass_export": ≥ 20 exports by one user in an hour.
//   - [UploadAttack] "upload_attack": ≥ 5 blocked uploads by one user or IP group in 10 minutes.
//   - [RateLimitAbuse] "rate_limit_abuse": ≥ 30 rate_limited events from one IP group in 5 minutes.
//   - [AccessProbing] "access_denied_probing": ≥ 20 access_denied events from one IP group in 10 minutes.
//
// Sources are keyed by [secmon.IPGroup] (an IPv4 address, or an IPv6 /64;
// IPv4-mapped IPv6 addresses are their IPv4 address), so an attacker
// rotating through the addresses of one /64 stays one source. Accounts are
// keyed by [Observation.User]: the UserID trimmed, lower-cased (unless
// Config.CaseSensitiveUsers), cleaned and cut to MaxUserKeyLen, so "Bob"
// and "bob " are one account. Events without an address or a user are
// skipped by the rules that need one; subjects are never "user:" or "ip:"
// alone, and evidence values are cut and cleaned of control characters.
//
// # Responses
//
// Findings carry a suggested [secmon.Action]: notify, step_up, or block for
// a duration. A subject that earns another block suggestion within
// Config.StrikeMemory gets twice the previous duration, up to
// Config.MaxBlock. The package never blocks anyone itself; the host decides
// (package guard enforces blocks, with its own fleet-wide escalation).
//
// Every finding names the IP groups to act on in Finding.Sources: the
// subject itself for an IP-group subject; for the account-level login rules
// (brute_force_account, distributed_attack) the groups that failed against
// the account within the window, busiest first, at most
// secmon.MaxFindingSources, with their failure counts, also written to the
// "sources" evidence as "group=count,…"; for other rules the group of the
// event that triggered the finding. Each account-level rule remembers at
// most MaxTrackedSources groups for each of at most MaxAccounts accounts.
//
// # Counting
//
// The in-memory counters count exactly below ExactCount occurrences: a
// threshold of 5 within 10 minutes fires when five failures fall within
// less than 10 minutes of one another, wherever the window's sub-bucket
// edges lie, and never otherwise. Redis counters count by sub-buckets and
// may miss up to one sub-bucket's worth at the window's old edge.
//
// # Replay
//
// [ReadEvents] reads a JSON-lines event file and [Replay] feeds it through a
// detector with the events' own timestamps, so recorded attacks become
// regression tests for rules.
package detect
