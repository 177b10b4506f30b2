package detect

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/secmon-go/secmon"
)

// Defaults returns one of each built-in rule with its default thresholds
// written out. Each call returns new rules with their own state.
func Defaults() []Rule {
	return []Rule{
		&BruteForceIP{Threshold: 5, Window: 10 * time.Minute, Block: 15 * time.Minute},
		&BruteForceAccount{Threshold: 5, Window: 15 * time.Minute},
		&CredentialStuffing{Threshold: 10, Window: 10 * time.Minute, Block: time.Hour},
		&DistributedAttack{Threshold: 5, Window: 15 * time.Minute},
		&ImpossibleTravel{MaxSpeedKMH: 1000, MaxAccuracyKM: 100, MinDistanceKM: 500, MaxUsers: DefaultMaxTracked},
		&NewCountry{Remember: 8, MaxUsers: DefaultMaxTracked},
		&NewDevice{Remember: 8, MaxUsers: DefaultMaxTracked},
		&SessionHijack{MaxSessions: DefaultMaxTracked, Repeat: time.Hour},
		&PrivilegeEscalation{PrivilegedRoles: []string{"admin", "owner", "root", "superuser"}},
		&MassExport{Threshold: 20, Window: time.Hour},
		&UploadAttack{Threshold: 5, Window: 10 * time.Minute, Block: time.Hour},
		&RateLimitAbuse{Threshold: 30, Window: 5 * time.Minute, Block: 15 * time.Minute},
		&AccessProbing{Threshold: 20, Window: 10 * time.Minute, Block: 30 * time.Minute},
	}
}

// Stable names of the built-in rules, as carried in Finding.Rule.
const (
	RuleBruteForceIP        secmon.RuleName = "brute_force_ip"
	RuleBruteForceAccount   secmon.RuleName = "brute_force_account"
	RuleCredentialStuffing  secmon.RuleName = "credential_stuffing"
	RuleDistributedAttack   secmon.RuleName = "distributed_attack"
	RuleImpossibleTravel    secmon.RuleName = "impossible_travel"
	RuleNewCountry          secmon.RuleName = "new_country"
	RuleNewDevice           secmon.RuleName = "new_device"
	RuleSessionHijack       secmon.RuleName = "session_hijack"
	RulePrivilegeEscalation secmon.RuleName = "privilege_escalation"
	RuleMassExport          secmon.RuleName = "mass_export"
	RuleUploadAttack        secmon.RuleName = "upload_attack"
	RuleRateLimitAbuse      secmon.RuleName = "rate_limit_abuse"
	RuleAccessProbing       secmon.RuleName = "access_denied_probing"
)

// threshold is the shape shared by the counting rules.
type threshold struct {
	n      int
	window time.Duration
	block  time.Duration
}

// MaxWindow is the longest Window a counting rule accepts, which keeps
// sub-bucket arithmetic and Redis expiries far from overflowing.
const MaxWindow = 366 * 24 * time.Hour

func (t threshold) validate() error {
	switch {
	case t.n < 0:
		return fmt.Errorf("threshold %d is negative", t.n)
	case t.window < 0 || t.window > MaxWindow:
		return fmt.Errorf("window %v is outside [0, %v]", t.window, MaxWindow)
	}
	return nil
}

// distinctCounter is implemented by the rules whose threshold is a distinct
// count, so that New can refuse a threshold MemoryCounters cannot reach.
type distinctCounter interface {
	distinctThreshold() int
}

func (r *CredentialStuffing) distinctThreshold() int { return r.t().n }
func (r *DistributedAttack) distinctThreshold() int  { return r.t().n }

func orDefault[T int | float64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Subject prefixes used by the built-in rules.
const (
	SubjectIP      = "ip:"      // followed by an IP group, e.g. "ip:2001:db8:1:2::/64"
	SubjectUser    = "user:"    // followed by the user key, see Observation.User
	SubjectSession = "session:" // followed by the session ID, cleaned and cut like a user key but never case-folded
)

func evidence(count int64, t threshold) map[string]string {
	m := make(map[string]string, 5)
	m["count"] = strconv.FormatInt(count, 10)
	m["threshold"] = strconv.Itoa(t.n)
	m["window"] = t.window.String()
	return m
}

func blockOr(d time.Duration, kind secmon.ActionKind) secmon.Action {
	if d > 0 {
		return secmon.Action{Kind: secmon.ActionBlock, Duration: d}
	}
	return secmon.Action{Kind: kind}
}

var errBadOps = errors.New("counter results do not match the plan")

// report is the judgement every counting rule makes: for each op whose
// count reached t.n, a finding about subject prefix + op.Key (the rules
// count by the very value their subject names). summary is a format taking
// the count, who (the IP group for an IP subject, "one account" for a user
// subject: account names stay out of summaries) and the window, in that
// order; indexed verbs ([2]) reorder them. The ops' Keys must be IP groups
// for SubjectIP and user keys for SubjectUser.
func (t threshold) report(rule secmon.RuleName, sev secmon.Severity, action secmon.Action, summary string, ops []Op, subjectOf func(*Op) string) []secmon.Finding {
	var out []secmon.Finding
	for i := range ops {
		op := &ops[i]
		if op.Count < int64(t.n) {
			continue
		}
		prefix := subjectOf(op)
		who, ev := "one account", evidence(op.Count, t)
		var srcs []secmon.Source
		if prefix == SubjectIP {
			who = op.Key
			ev["ip_group"] = op.Key
			if g, err := netip.ParsePrefix(op.Key); err == nil {
				srcs = []secmon.Source{{Group: g, Count: op.Count}}
			}
		}
		if op.Kind == OpDistinct {
			ev["counted"] = "distinct_accounts"
			if prefix == SubjectUser {
				ev["counted"] = "distinct_ip_groups"
			}
		}
		out = append(out, secmon.Finding{
			Rule:     rule,
			Subject:  prefix + op.Key,
			Severity: sev,
			Summary:  fmt.Sprintf(summary, op.Count, who, t.window),
			Evidence: ev,
			Action:   action,
			Sources:  srcs,
		})
	}
	return out
}

// withSources names srcs as the findings' sources, in Sources and in the
// "sources" evidence ("group=count,…", busiest first).
func withSources(fs []secmon.Finding, srcs []secmon.Source) []secmon.Finding {
	if len(srcs) == 0 {
		return fs
	}
	ev := sourcesEvidence(srcs)
	for i := range fs {
		fs[i].Sources = srcs
		fs[i].Evidence["sources"] = ev
	}
	return fs
}

func bySource(*Op) string { return SubjectIP }
func byUser(*Op) string   { return SubjectUser }

// BruteForceIP finds many failed logins from one IP group (rule
// "brute_force_ip", subject "ip:<group>", severity high, suggested action
// block for Block).
//
// The defaults are fail2ban's (maxretry 5, findtime 10 minutes): with the
// default in-memory counters, which count exactly below ExactCount, a group
// is reported as soon as 5 of its failures fall within less than 10
// minutes, and a group that never has 5 within 10 minutes is never
// reported. benchmarks/results/fail2ban-agreement.md compares the rule with
// fail2ban on real sshd and web-login logs.
type BruteForceIP struct {
	Threshold int           // login_failure events from one IP group; default 5
	Window    time.Duration // default 10 minutes
	Block     time.Duration // suggested block before escalation; default 15 minutes; negative suggests notify instead
}

func (r *BruteForceIP) t() threshold {
	return threshold{orDefault(r.Threshold, 5), orDefault(r.Window, 10*time.Minute), orDefault(r.Block, 15*time.Minute)}
}

// Name returns "brute_force_ip".
func (r *BruteForceIP) Name() secmon.RuleName { return RuleBruteForceIP }

// Validate rejects negative fields.
func (r *BruteForceIP) Validate() error { return r.t().validate() }

// Cooldown is the window: one finding per window per IP group.
func (r *BruteForceIP) Cooldown() time.Duration { return r.t().window }

// Plan counts login failures per IP group.
func (r *BruteForceIP) Plan(o *Observation, ops []Op) []Op {
	if o.Event.Type != secmon.EventLoginFailure || o.Group() == "" {
		return ops
	}
	return append(ops, CountOp("bf_ip", o.Group(), r.t().window))
}

// Evaluate reports the IP group when its count reaches Threshold.
func (r *BruteForceIP) Evaluate(_ context.Context, _ *Observation, ops []Op) ([]secmon.Finding, error) {
	return r.t().report(RuleBruteForceIP, secmon.SeverityHigh, blockOr(r.t().block, secmon.ActionNotify),
		"%d failed logins from %s within %v", ops, bySource), nil
}

// BruteForceAccount finds many failed logins for one account from any source
// (rule "brute_force_account", subject "user:<id>", severity high, suggested
// action step_up: blocking the account would hand the attacker a denial of
// service). Its findings name the IP groups that failed against the
// account within the window, busiest first, in Sources and in the
// "sources" evidence, so a host can block the attackers instead.
type BruteForceAccount struct {
	Threshold int           // login_failure events for one UserID; default 5
	Window    time.Duration // default 15 minutes
	// MaxAccounts bounds the accounts whose sources are remembered;
	// default DefaultMaxTracked.
	MaxAccounts int

	src sourceTracker
}

func (r *BruteForceAccount) t() threshold {
	return threshold{orDefault(r.Threshold, 5), orDefault(r.Window, 15*time.Minute), 0}
}

// Name returns "brute_force_account".
func (r *BruteForceAccount) Name() secmon.RuleName { return RuleBruteForceAccount }

// Validate rejects negative fields.
func (r *BruteForceAccount) Validate() error {
	if r.MaxAccounts < 0 {
		return fmt.Errorf("MaxAccounts %d is negative", r.MaxAccounts)
	}
	return r.t().validate()
}

// Cooldown is the window.
func (r *BruteForceAccount) Cooldown() time.Duration { return r.t().window }

// Plan counts login failures per user.
func (r *BruteForceAccount) Plan(o *Observation, ops []Op) []Op {
	if o.Event.Type != secmon.EventLoginFailure || o.User() == "" {
		return ops
	}
	return append(ops, CountOp("bf_user", o.User(), r.t().window))
}

// Evaluate remembers the event's IP group against the account and reports
// the account, with its sources, when its count reaches Threshold.
func (r *BruteForceAccount) Evaluate(_ context.Context, o *Observation, ops []Op) ([]secmon.Finding, error) {
	var srcs []secmon.Source
	if o.Group() != "" && len(ops) > 0 {
		srcs = r.src.record(r.MaxAccounts, o.User(), o.Group(), o.Now.UnixNano(), r.t().window)
	}
	return withSources(r.t().report(RuleBruteForceAccount, secmon.SeverityHigh, secmon.Action{Kind: secmon.ActionStepUp},
		"%d failed logins for %s within %v", ops, byUser), srcs), nil
}

// CredentialStuffing finds one IP group failing logins against many distinct
// accounts: credential stuffing or user enumeration (rule
// "credential_stuffing", subject "ip:<group>", severity high, suggested
// action block for Block).
type CredentialStuffing struct {
	Threshold int           // distinct UserIDs with login_failure from one IP group; default 10
	Window    time.Duration // default 10 minutes
	Block     time.Duration // default 1 hour; negative suggests notify instead
}

func (r *CredentialStuffing) t() threshold {
	return threshold{orDefault(r.Threshold, 10), orDefault(r.Window, 10*time.Minute), orDefault(r.Block, time.Hour)}
}

// Name returns "credential_stuffing".
func (r *CredentialStuffing) Name() secmon.RuleName { return RuleCredentialStuffing }

// Validate rejects negative fields.
func (r *CredentialStuffing) Validate() error { return r.t().validate() }

// Cooldown is the window.
func (r *CredentialStuffing) Cooldown() time.Duration { return r.t().window }

// Plan records the account under the IP group.
func (r *CredentialStuffing) Plan(o *Observation, ops []Op) []Op {
	if o.Event.Type != secmon.EventLoginFailure || o.User() == "" || o.Group() == "" {
		return ops
	}
	return append(ops, DistinctOp("cs_ip", o.Group(), o.User(), r.t().window))
}

// Evaluate reports the IP group when its distinct-account count reaches
// Threshold.
func (r *CredentialStuffing) Evaluate(_ context.Context, _ *Observation, ops []Op) ([]secmon.Finding, error) {
	return r.t().report(RuleCredentialStuffing, secmon.SeverityHigh, blockOr(r.t().block, secmon.ActionNotify),
		"failed logins against %d distinct accounts from %s within %v", ops, bySource), nil
}

// DistributedAttack finds one account failing logins from many distinct IP
// groups (rule "distributed_attack", subject "user:<id>", severity high,
// suggested action step_up). Its findings name the attacking IP groups,
// busiest first, with their failure counts, in Sources and in the
// "sources" evidence.
type DistributedAttack struct {
	Threshold int           // distinct IP groups with login_failure for one UserID; default 5
	Window    time.Duration // default 15 minutes
	// MaxAccounts bounds the accounts whose sources are remembered;
	// default DefaultMaxTracked.
	MaxAccounts int

	src sourceTracker
}

func (r *DistributedAttack) t() threshold {
	return threshold{orDefault(r.Threshold, 5), orDefault(r.Window, 15*time.Minute), 0}
}

// Name returns "distributed_attack".
func (r *DistributedAttack) Name() secmon.RuleName { return RuleDistributedAttack }

// Validate rejects negative fields.
func (r *DistributedAttack) Validate() error {
	if r.MaxAccounts < 0 {
		return fmt.Errorf("MaxAccounts %d is negative", r.MaxAccounts)
	}
	return r.t().validate()
}

// Cooldown is the window.
func (r *DistributedAttack) Cooldown() time.Duration { return r.t().window }

// Plan records the IP group under the account.
func (r *DistributedAttack) Plan(o *Observation, ops []Op) []Op {
	if o.Event.Type != secmon.EventLoginFailure || o.User() == "" || o.Group() == "" {
		return ops
	}
	return append(ops, DistinctOp("da_user", o.User(), o.Group(), r.t().window))
}

// Evaluate remembers the event's IP group against the account and reports
// the account, with its sources, when its distinct-source count reaches
// Threshold.
func (r *DistributedAttack) Evaluate(_ context.Context, o *Observation, ops []Op) ([]secmon.Finding, error) {
	var srcs []secmon.Source
	if len(ops) > 0 {
		srcs = r.src.record(r.MaxAccounts, o.User(), o.Group(), o.Now.UnixNano(), r.t().window)
	}
	return withSources(r.t().report(RuleDistributedAttack, secmon.SeverityHigh, secmon.Action{Kind: secmon.ActionStepUp},
		"failed logins for %[2]s from %[1]d distinct IP groups within %[3]v", ops, byUser), srcs), nil
}

// MassExport finds one user exporting often (rule "mass_export", subject
// "user:<id>", severity high, suggested action step_up).
type MassExport struct {
	Threshold int           // export events by one UserID; default 20
	Window    time.Duration // default 1 hour
}

func (r *MassExport) t() threshold {
	return threshold{orDefault(r.Threshold, 20), orDefault(r.Window, time.Hour), 0}
}

// Name returns "mass_export".
func (r *MassExport) Name() secmon.RuleName { return RuleMassExport }

// Validate rejects negative fields.
func (r *MassExport) Validate() error { return r.t().validate() }

// Cooldown is the window.
func (r *MassExport) Cooldown() time.Duration { return r.t().window }

// Plan counts exports per user.
func (r *MassExport) Plan(o *Observation, ops []Op) []Op {
	if o.Event.Type != secmon.EventExport || o.User() == "" {
		return ops
	}
	return append(ops, CountOp("exp_user", o.User(), r.t().window))
}

// Evaluate reports the user when the count reaches Threshold.
func (r *MassExport) Evaluate(_ context.Context, _ *Observation, ops []Op) ([]secmon.Finding, error) {
	return r.t().report(RuleMassExport, secmon.SeverityHigh, secmon.Action{Kind: secmon.ActionStepUp},
		"%d exports by %s within %v", ops, byUser), nil
}

// UploadAttack finds repeated blocked uploads by one user or from one IP
// group (rule "upload_attack", subject "user:<id>" or "ip:<group>", severity
// high, suggested action block for Block).
type UploadAttack struct {
	Threshold int           // upload_blocked events by one user or one IP group; default 5
	Window    time.Duration // default 10 minutes
	Block     time.Duration // default 1 hour; negative suggests notify instead
}

func (r *UploadAttack) t() threshold {
	return threshold{orDefault(r.Threshold, 5), orDefault(r.Window, 10*time.Minute), orDefault(r.Block, time.Hour)}
}

// Name returns "upload_attack".
func (r *UploadAttack) Name() secmon.RuleName { return RuleUploadAttack }

// Validate rejects negative fields.
func (r *UploadAttack) Validate() error { return r.t().validate() }

// Cooldown is the window.
func (r *UploadAttack) Cooldown() time.Duration { return r.t().window }

// Plan counts blocked uploads per user and per IP group.
func (r *UploadAttack) Plan(o *Observation, ops []Op) []Op {
	if o.Event.Type != secmon.EventUploadBlocked {
		return ops
	}
	w := r.t().window
	if u := o.User(); u != "" {
		ops = append(ops, CountOp("up_user", u, w))
	}
	if g := o.Group(); g != "" {
		ops = append(ops, CountOp("up_ip", g, w))
	}
	return ops
}

// Evaluate reports each subject whose count reaches Threshold.
func (r *UploadAttack) Evaluate(_ context.Context, _ *Observation, ops []Op) ([]secmon.Finding, error) {
	for i := range ops {
		if ops[i].Scope != "up_user" && ops[i].Scope != "up_ip" {
			return nil, errBadOps
		}
	}
	return r.t().report(RuleUploadAttack, secmon.SeverityHigh, blockOr(r.t().block, secmon.ActionNotify),
		"%d blocked uploads from %s within %v", ops, func(op *Op) string {
			if op.Scope == "up_user" {
				return SubjectUser
			}
			return SubjectIP
		}), nil
}

// RateLimitAbuse finds one IP group that keeps hitting rate limits (rule
// "rate_limit_abuse", subject "ip:<group>", severity medium, suggested
// action block for Block).
type RateLimitAbuse struct {
	Threshold int           // rate_limited events from one IP group; default 30
	Window    time.Duration // default 5 minutes
	Block     time.Duration // default 15 minutes; negative suggests notify instead
}

func (r *RateLimitAbuse) t() threshold {
	return threshold{orDefault(r.Threshold, 30), orDefault(r.Window, 5*time.Minute), orDefault(r.Block, 15*time.Minute)}
}

// Name returns "rate_limit_abuse".
func (r *RateLimitAbuse) Name() secmon.RuleName { return RuleRateLimitAbuse }

// Validate rejects negative fields.
func (r *RateLimitAbuse) Validate() error { return r.t().validate() }

// Cooldown is the window.
func (r *RateLimitAbuse) Cooldown() time.Duration { return r.t().window }

// Plan counts rate_limited events per IP group.
func (r *RateLimitAbuse) Plan(o *Observation, ops []Op) []Op {
	if o.Event.Type != secmon.EventRateLimited || o.Group() == "" {
		return ops
	}
	return append(ops, CountOp("rl_ip", o.Group(), r.t().window))
}

// Evaluate reports the IP group when its count reaches Threshold.
func (r *RateLimitAbuse) Evaluate(_ context.Context, _ *Observation, ops []Op) ([]secmon.Finding, error) {
	return r.t().report(RuleRateLimitAbuse, secmon.SeverityMedium, blockOr(r.t().block, secmon.ActionNotify),
		"%d rate-limited requests from %s within %v", ops, bySource), nil
}

// AccessProbing finds one IP group collecting access denials: probing for
// resources it may not see (rule "access_denied_probing", subject
// "ip:<group>", severity medium, suggested action block for Block).
type AccessProbing struct {
	Threshold int           // access_denied events from one IP group; default 20
	Window    time.Duration // default 10 minutes
	Block     time.Duration // default 30 minutes; negative suggests notify instead
}

func (r *AccessProbing) t() threshold {
	return threshold{orDefault(r.Threshold, 20), orDefault(r.Window, 10*time.Minute), orDefault(r.Block, 30*time.Minute)}
}

// Name returns "access_denied_probing".
func (r *AccessProbing) Name() secmon.RuleName { return RuleAccessProbing }

// Validate rejects negative fields.
func (r *AccessProbing) Validate() error { return r.t().validate() }

// Cooldown is the window.
func (r *AccessProbing) Cooldown() time.Duration { return r.t().window }

// Plan counts access_denied events per IP group.
func (r *AccessProbing) Plan(o *Observation, ops []Op) []Op {
	if o.Event.Type != secmon.EventAccessDenied || o.Group() == "" {
		return ops
	}
	return append(ops, CountOp("ad_ip", o.Group(), r.t().window))
}

// Evaluate reports the IP group when its count reaches Threshold.
func (r *AccessProbing) Evaluate(_ context.Context, _ *Observation, ops []Op) ([]secmon.Finding, error) {
	return r.t().report(RuleAccessProbing, secmon.SeverityMedium, blockOr(r.t().block, secmon.ActionNotify),
		"%d access denials from %s within %v", ops, bySource), nil
}
