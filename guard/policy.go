package guard

import (
	"fmt"
	"math"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// Target says what a policy blocks for a finding. Targets combine with |.
type Target uint8

// Targets.
const (
	// TargetSources blocks the finding's IP groups: its subject when that
	// is an IP group ("ip:<group>"), and the groups in Finding.Sources.
	TargetSources Target = 1 << iota
	// TargetAccount blocks the account a "user:<key>" subject names.
	// Blocking an account hands whoever can fail logins on it a denial of
	// service, so only the policies of rules whose findings are about the
	// account's own behaviour (a user uploading malware) use it.
	TargetAccount
)

// Policy defaults.
const (
	DefaultBlockDuration = 15 * time.Minute
	DefaultFactor        = 2.0
	DefaultMaxDuration   = 7 * 24 * time.Hour
)

// Policy says how a rule's findings become blocks. The zero value blocks
// the finding's IP groups for the finding's suggested duration (or
// DefaultBlockDuration), doubling for each repeat up to DefaultMaxDuration.
//
// Escalation follows fail2ban's bantime.increment: a subject whose previous
// block was decided within Config.History gets the next level, and a block
// of level n lasts Duration × Factor^(n-1), at most MaxDuration. The levels
// come from the blocks in the store, so they carry across instances and
// restarts. A lifted block does not count, as fail2ban forgets a ban an
// operator lifts: the subject's next block gets the level the lifted one
// had.
type Policy struct {
	// Disabled turns the rule's automatic response off.
	Disabled bool
	// Duration of a first block. Zero means the finding's suggested block
	// duration when it suggests one, else DefaultBlockDuration.
	Duration time.Duration
	// Factor multiplies the duration at each level; zero means
	// DefaultFactor, 1 turns escalation off. At least 1.
	Factor float64
	// MaxDuration caps escalated blocks; zero means DefaultMaxDuration.
	MaxDuration time.Duration
	// Target says what to block; zero means TargetSources.
	Target Target
	// MinSeverity ignores findings below it.
	MinSeverity secmon.Severity
	// MinSourceCount skips sources with fewer counted events (Source.Count)
	// than this; zero means 1. For account-level rules it spares a
	// legitimate user who mistyped once while others attacked the account.
	MinSourceCount int64
	// MaxSources bounds how many of a finding's sources are blocked, the
	// busiest first; zero means secmon.MaxFindingSources.
	MaxSources int
	// DryRun logs what the rule would block and counts it in
	// Stats.WouldBlock, without blocking.
	DryRun bool
}

func (p Policy) validate(name string) error {
	switch {
	case p.Duration < 0:
		return fmt.Errorf("guard: policy %s: Duration is negative", name)
	case p.MaxDuration < 0:
		return fmt.Errorf("guard: policy %s: MaxDuration is negative", name)
	case p.Factor != 0 && (p.Factor < 1 || math.IsNaN(p.Factor) || math.IsInf(p.Factor, 0)):
		return fmt.Errorf("guard: policy %s: Factor %v is not a number of at least 1", name, p.Factor)
	case p.Target&^(TargetSources|TargetAccount) != 0:
		return fmt.Errorf("guard: policy %s: unknown Target bits", name)
	case !p.MinSeverity.Valid():
		return fmt.Errorf("guard: policy %s: MinSeverity is out of range", name)
	case p.MinSourceCount < 0 || p.MaxSources < 0:
		return fmt.Errorf("guard: policy %s: MinSourceCount and MaxSources must not be negative", name)
	}
	return nil
}

func (p Policy) withDefaults() Policy {
	if p.Factor == 0 {
		p.Factor = DefaultFactor
	}
	if p.MaxDuration == 0 {
		p.MaxDuration = DefaultMaxDuration
	}
	if p.Target == 0 {
		p.Target = TargetSources
	}
	if p.MinSourceCount == 0 {
		p.MinSourceCount = 1
	}
	if p.MaxSources == 0 {
		p.MaxSources = secmon.MaxFindingSources
	}
	return p
}

// duration is how long a block of level (1, 2, …) lasts under p, for a
// finding suggesting suggested.
func (p Policy) duration(level int, suggested time.Duration) time.Duration {
	base := p.Duration
	if base == 0 {
		base = suggested
	}
	if base <= 0 {
		base = DefaultBlockDuration
	}
	d := float64(base)
	for range level - 1 {
		d *= p.Factor
		if d >= float64(p.MaxDuration) {
			return p.MaxDuration
		}
	}
	return min(time.Duration(d), p.MaxDuration)
}

// DefaultPolicies returns the policies for the built-in detection rules
// that warrant a block; a new map on each call, for the host to change.
//
//   - brute_force_ip: the address, 15 minutes, doubling up to 7 days.
//   - credential_stuffing: the address, 1 hour.
//   - brute_force_account, distributed_attack: the account's attackers
//     (Finding.Sources) with at least 2 failures each, 15 minutes; never
//     the account.
//   - upload_attack: the address and, for a user subject, the account, 1
//     hour.
//   - rate_limit_abuse: the address, 15 minutes.
//   - access_denied_probing: the address, 30 minutes.
//
// Rules absent from Config.Policies follow Config.Unlisted.
func DefaultPolicies() map[secmon.RuleName]Policy {
	return map[secmon.RuleName]Policy{
		detect.RuleBruteForceIP:       {Duration: 15 * time.Minute},
		detect.RuleCredentialStuffing: {Duration: time.Hour},
		detect.RuleBruteForceAccount:  {Duration: 15 * time.Minute, MinSourceCount: 2},
		detect.RuleDistributedAttack:  {Duration: 15 * time.Minute, MinSourceCount: 2},
		detect.RuleUploadAttack:       {Duration: time.Hour, Target: TargetSources | TargetAccount},
		detect.RuleRateLimitAbuse:     {Duration: 15 * time.Minute},
		detect.RuleAccessProbing:      {Duration: 30 * time.Minute},
	}
}

// UnlistedMode says what the guard does with findings of rules that have
// no Policy.
type UnlistedMode uint8

// Unlisted modes.
const (
	// UnlistedSuggested (the default) acts on a finding that suggests a
	// block (Action.Kind block with a Duration): its IP groups are blocked
	// for the suggested duration, with no escalation of the guard's own
	// (detect.Engine already lengthens its suggestions for repeat
	// offenders).
	UnlistedSuggested UnlistedMode = iota
	// UnlistedIgnore ignores findings of rules without a Policy.
	UnlistedIgnore
)
