package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/secmon-go/secmon"
)

// Rule is one detection rule. Evaluation is two-phase so that a remote
// [Counters] is asked once per event for all rules together:
//
//  1. Plan appends the counter operations the rule needs for the event (none
//     when the event does not concern it; decide by o.Event.Type first, it is
//     the cheap test) and returns the extended slice.
//  2. Evaluate receives exactly the Ops it appended, with Count filled, and
//     returns what crossed a threshold.
//
// A rule reports a threshold crossing whenever its count is at or above the
// threshold; the engine keeps only the first finding per (rule, subject)
// within the rule's cooldown (see [Cooldowner]), so an attack produces one
// finding per window, not one per event.
//
// Plan and Evaluate are called concurrently for different events and must not
// keep o or ops after returning. An error or a panic in either is contained by
// the engine: the rule's findings for that event are dropped, the error is
// reported, and the other rules still run.
type Rule interface {
	// Name is the stable snake_case name carried in Finding.Rule.
	Name() secmon.RuleName
	Plan(o *Observation, ops []Op) []Op
	Evaluate(ctx context.Context, o *Observation, ops []Op) ([]secmon.Finding, error)
}

// Cooldowner is implemented by rules that choose how long the engine
// suppresses repeated findings for one (rule, subject). Zero means never
// suppress. Rules that do not implement it get Config.Cooldown.
type Cooldowner interface {
	Cooldown() time.Duration
}

// Validator is implemented by rules whose settings can be wrong; New calls
// Validate and refuses the configuration when it fails.
type Validator interface {
	Validate() error
}

// Observation is one event as the rules see it, with values several rules
// need computed at most once.
type Observation struct {
	Event *secmon.Event
	// Now is the event's Time, or the engine clock's time when the event has
	// none. Rules count and compare with Now, never with the wall clock.
	Now time.Time

	group     string
	groupDone bool
	user      string
	userDone  bool
	// caseSensitive keeps the case of user IDs (Config.CaseSensitiveUsers).
	caseSensitive bool
}

// Group returns the string form of secmon.IPGroup(Event.IP) (IPv4 /32,
// IPv6 /64), or "" when the event has no usable source address. Rules key on
// it rather than on the raw address, so an attacker rotating addresses
// inside one IPv6 /64 stays one source. The unspecified addresses (0.0.0.0,
// ::) and multicast addresses, also IPv4-mapped, are not sources: a host
// records them when it could not tell the client's address.
func (o *Observation) Group() string {
	if !o.groupDone {
		o.groupDone = true
		if p, ok := sourceGroup(o.Event.IP); ok {
			o.group = p.String()
		}
	}
	return o.group
}

// sourceGroup returns secmon.IPGroup(ip) and true when ip can be the source
// of a request. The zero Addr, the unspecified addresses (0.0.0.0, ::) and
// multicast addresses cannot, in any form (IPv4-mapped included): they are
// what a host records when it could not tell the client's address, and
// counting them as one source would lump unrelated clients together under a
// subject such as "ip:0.0.0.0/32" and suggest blocking it.
func sourceGroup(ip netip.Addr) (netip.Prefix, bool) {
	u := ip.Unmap()
	if !u.IsValid() || u.IsUnspecified() || u.IsMulticast() {
		return netip.Prefix{}, false
	}
	return secmon.IPGroup(u), true
}

// MaxUserKeyLen is the longest user key [Observation.User] returns, in
// bytes: secmon.MaxIDLen, the longest UserID a Monitor accepts.
const MaxUserKeyLen = secmon.MaxIDLen

// User returns Event.UserID as the rules compare and report it: surrounding
// white space trimmed, lower-cased unless Config.CaseSensitiveUsers is set,
// control and format characters and invalid UTF-8 replaced with '?', cut to
// MaxUserKeyLen bytes. It is "" when the event names no user (or only white
// space). Login names typed by an attacker thus count as one account
// whether sent as "Bob" or "bob ", and a user subject ("user:" + User())
// stays printable and bounded whatever the event carried.
func (o *Observation) User() string {
	if !o.userDone {
		o.userDone = true
		o.user = userKey(o.Event.UserID, o.caseSensitive)
	}
	return o.user
}

// userKey is Observation.User for one string.
func userKey(id string, caseSensitive bool) string {
	id = strings.TrimSpace(id)
	if !caseSensitive {
		id = strings.ToLower(id)
	}
	return cleanValue(id, MaxUserKeyLen)
}

// UserKey returns the user key the rules compare and report for id (see
// Observation.User): "user:" + UserKey(id, false) is the subject of an
// account-level finding under the default Config. A host that matches
// requests against such subjects (a block on an account) normalises its
// user IDs with it.
func UserKey(id string, caseSensitive bool) string { return userKey(id, caseSensitive) }

// AppendUserKey appends UserKey(id, caseSensitive) to dst and returns the
// extended slice. It allocates nothing when dst has room for
// MaxUserKeyLen more bytes, so a hot path can normalise into a buffer on
// its stack.
func AppendUserKey(dst []byte, id string, caseSensitive bool) []byte {
	id = strings.TrimSpace(id)
	start := len(dst)
	for i := 0; i < len(id); {
		c := id[i]
		if c < utf8.RuneSelf {
			i++
			if !caseSensitive && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c < 0x20 || c == 0x7f {
				c = '?'
			}
			if len(dst)-start+1 > MaxUserKeyLen {
				break
			}
			dst = append(dst, c)
			continue
		}
		r, w := utf8.DecodeRuneInString(id[i:])
		i += w
		if !caseSensitive {
			r = unicode.ToLower(r)
		}
		if unprintable(r) {
			r = '?'
		}
		if len(dst)-start+utf8.RuneLen(r) > MaxUserKeyLen {
			break
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

type funcRule struct {
	name secmon.RuleName
	fn   func(ctx context.Context, o *Observation) ([]secmon.Finding, error)
}

func (r funcRule) Name() secmon.RuleName              { return r.name }
func (r funcRule) Plan(_ *Observation, ops []Op) []Op { return ops }
func (r funcRule) Evaluate(ctx context.Context, o *Observation, _ []Op) ([]secmon.Finding, error) {
	return r.fn(ctx, o)
}

// Validate rejects a nil function.
func (r funcRule) Validate() error {
	if r.fn == nil {
		return errors.New("nil function")
	}
	return nil
}

// RuleFunc returns a Rule named name that needs no counters: fn sees each
// event and returns findings. It gets Config.Cooldown.
func RuleFunc(name secmon.RuleName, fn func(ctx context.Context, o *Observation) ([]secmon.Finding, error)) Rule {
	return funcRule{name: name, fn: fn}
}

// Engine defaults.
const (
	DefaultCooldown     = 15 * time.Minute
	DefaultMaxBlock     = 24 * time.Hour
	DefaultStrikeMemory = 24 * time.Hour
	DefaultMaxSubjects  = 100_000
)

// Config configures an [Engine]. Zero fields mean the documented defaults.
type Config struct {
	// Rules evaluated for every event, in order. nil means Defaults(); a
	// non-nil empty slice means no rules. Names must be unique and non-empty.
	// Do not change a rule's fields after New, and give each Engine its own
	// rule values: the stateful rules keep their memory in the value.
	Rules []Rule
	// Counters holds the rules' sliding-window and distinct counts. nil means
	// in-memory counters (MemoryCounters) with MaxKeys. Use
	// detect/rediscounters to let several instances see one attack.
	Counters Counters
	// MaxKeys caps the keys of the default in-memory counters; default
	// DefaultMaxKeys. Setting it together with Counters is an error: cap
	// your own counters where you build them.
	MaxKeys int
	// CaseSensitiveUsers makes the rules tell user IDs apart by case. By
	// default they compare user IDs lower-cased (see Observation.User), so
	// an attacker cannot split one account's failures across "Bob" and
	// "bob"; set it when distinct accounts may differ only in case, since
	// user subjects then carry the lower-cased ID.
	CaseSensitiveUsers bool
	// Clock stamps events whose Time is zero; nil means the system clock.
	// Events with a Time are judged at that time, which makes Replay
	// deterministic.
	Clock secmon.Clock
	// Logger receives rule and counter failures, at most one line per
	// second; nil means silent.
	Logger *slog.Logger
	// Cooldown is how long findings for one (rule, subject) are suppressed
	// after one is reported, for rules that do not implement Cooldowner.
	// Default DefaultCooldown.
	Cooldown time.Duration
	// MaxSubjects caps the (rule, subject) pairs remembered for suppression
	// and the subjects remembered for block escalation; default
	// DefaultMaxSubjects each.
	MaxSubjects int
	// MaxBlock caps a suggested block duration after escalation; default
	// DefaultMaxBlock.
	MaxBlock time.Duration
	// StrikeMemory is how long a block-worthy finding counts towards
	// escalation: a subject that triggers a block again within it gets twice
	// the previous duration, up to MaxBlock. Default DefaultStrikeMemory.
	StrikeMemory time.Duration
}

// Stats counts what an Engine did since New.
type Stats struct {
	Events        int64 // events observed
	Findings      int64 // findings returned
	Suppressed    int64 // findings dropped as repeats within their cooldown
	RuleErrors    int64 // rule calls that returned an error
	RulePanics    int64 // rule calls that panicked (also counted in RuleErrors)
	CounterErrors int64 // Counters.Do failures
}

// RuleError reports a rule that failed or panicked on one event.
type RuleError struct {
	Rule  secmon.RuleName
	Panic bool
	Err   error
}

// Error names the failing rule and what went wrong.
func (e *RuleError) Error() string {
	if e.Panic {
		return "detect: rule " + string(e.Rule) + " panicked: " + e.Err.Error()
	}
	return "detect: rule " + string(e.Rule) + ": " + e.Err.Error()
}

// Unwrap returns the rule's error.
func (e *RuleError) Unwrap() error { return e.Err }

// Engine evaluates rules against events. It implements [secmon.Detector]
// with no database access: rule state lives in its Counters and in bounded
// in-memory maps. Suggested actions are suggestions; the engine never blocks
// anyone itself. It is safe for concurrent use and starts no goroutines.
type Engine struct {
	rules     []Rule
	cooldowns []time.Duration
	counters  Counters
	clock     secmon.Clock
	log       *slog.Logger
	maxBlock  time.Duration
	strikeMem time.Duration
	caseSens  bool

	suppress *table[int64]     // rule\x00subject → suppressed until (ns)
	strikes  *table[strikeRec] // subject → escalation state

	scratch sync.Pool

	events, findings, suppressed, ruleErrors, rulePanics, counterErrors atomic.Int64
	lastLog                                                             atomic.Int64 // wall clock of the last failure logged
}

// maxPooledOps bounds the op slice kept between events.
const maxPooledOps = 256

type strikeRec struct {
	n    int32
	last int64
}

type scratch struct {
	ev    secmon.Event
	obs   Observation
	ops   []Op
	spans []int // spans[i] is where rule i's ops end
}

var _ secmon.BlockingDetector = (*Engine)(nil)

// New returns an Engine. It fails on negative durations or caps, duplicate or
// empty rule names, rules whose Validate fails, and distinct-count
// thresholds above the MaxDistinct of in-memory counters.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Cooldown < 0:
		return nil, fmt.Errorf("detect: Config.Cooldown %v is negative", cfg.Cooldown)
	case cfg.MaxSubjects < 0:
		return nil, fmt.Errorf("detect: Config.MaxSubjects %d is negative", cfg.MaxSubjects)
	case cfg.MaxBlock < 0:
		return nil, fmt.Errorf("detect: Config.MaxBlock %v is negative", cfg.MaxBlock)
	case cfg.StrikeMemory < 0:
		return nil, fmt.Errorf("detect: Config.StrikeMemory %v is negative", cfg.StrikeMemory)
	case cfg.MaxKeys < 0:
		return nil, fmt.Errorf("detect: Config.MaxKeys %d is negative", cfg.MaxKeys)
	case cfg.MaxKeys > 0 && cfg.Counters != nil:
		return nil, errors.New("detect: Config.MaxKeys applies to the default counters only; Counters is set")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Cooldown, DefaultCooldown)
	def(&cfg.MaxBlock, DefaultMaxBlock)
	def(&cfg.StrikeMemory, DefaultStrikeMemory)
	if cfg.MaxSubjects == 0 {
		cfg.MaxSubjects = DefaultMaxSubjects
	}
	if cfg.Rules == nil {
		cfg.Rules = Defaults()
	}
	if cfg.Counters == nil {
		c, err := NewMemoryCounters(MemoryCountersConfig{MaxKeys: cfg.MaxKeys})
		if err != nil {
			return nil, err
		}
		cfg.Counters = c
	}
	if cfg.Clock == nil {
		cfg.Clock = secmon.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		rules:     append([]Rule(nil), cfg.Rules...),
		counters:  cfg.Counters,
		clock:     cfg.Clock,
		log:       cfg.Logger,
		maxBlock:  cfg.MaxBlock,
		strikeMem: cfg.StrikeMemory,
		caseSens:  cfg.CaseSensitiveUsers,
		suppress:  newTable[int64](cfg.MaxSubjects),
		strikes:   newTable[strikeRec](cfg.MaxSubjects),
	}
	seen := make(map[secmon.RuleName]bool, len(e.rules))
	for i, r := range e.rules {
		if r == nil {
			return nil, fmt.Errorf("detect: Config.Rules[%d] is nil", i)
		}
		name := r.Name()
		if name == "" || seen[name] {
			return nil, fmt.Errorf("detect: Config.Rules[%d] has an empty or duplicate name %q", i, name)
		}
		seen[name] = true
		if v, ok := r.(Validator); ok {
			if err := v.Validate(); err != nil {
				return nil, fmt.Errorf("detect: rule %s: %w", name, err)
			}
		}
		if d, ok := r.(distinctCounter); ok {
			if mc, ok := cfg.Counters.(*MemoryCounters); ok && d.distinctThreshold() > mc.maxDistinct {
				return nil, fmt.Errorf("detect: rule %s: threshold %d is above the counters' MaxDistinct %d, where distinct counts saturate: it could never fire",
					name, d.distinctThreshold(), mc.maxDistinct)
			}
		}
		cd := cfg.Cooldown
		if c, ok := r.(Cooldowner); ok {
			cd = c.Cooldown()
		}
		e.cooldowns = append(e.cooldowns, cd)
	}
	n := len(e.rules)
	e.scratch.New = func() any { return &scratch{ops: make([]Op, 0, 8), spans: make([]int, n)} }
	return e, nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Events:        e.events.Load(),
		Findings:      e.findings.Load(),
		Suppressed:    e.suppressed.Load(),
		RuleErrors:    e.ruleErrors.Load(),
		RulePanics:    e.rulePanics.Load(),
		CounterErrors: e.counterErrors.Load(),
	}
}

// ObserveBlocks implements [secmon.BlockingDetector]: it reports whether
// Observe may wait on I/O, which is so unless the engine counts in memory
// (*MemoryCounters, the default). Other Counters, Redis counters among them,
// are assumed to block, so a secmon.Monitor runs the engine on its detection
// worker rather than in Log. Rules are assumed not to block; an engine whose
// own rules do I/O over in-memory counters should be run with
// secmon.Config.AsyncDetection.
func (e *Engine) ObserveBlocks() bool {
	_, mem := e.counters.(*MemoryCounters)
	return !mem
}

// Observe evaluates every rule against ev and returns the findings that are
// not repeats within their cooldown. The event's Time is "now" for all
// counting (the Clock's time when it is zero).
//
// All rules' counter operations go to Counters in one Do call. When that
// call fails, rules that needed counters are skipped for this event and rules
// that did not still run. A rule that errors or panics loses its findings for
// this event; the returned error joins every such failure (as *RuleError)
// and the Counters error, and the other rules' findings are still returned.
func (e *Engine) Observe(ctx context.Context, ev secmon.Event) ([]secmon.Finding, error) {
	e.events.Add(1)
	s := e.scratch.Get().(*scratch)
	defer func() {
		s.ev, s.obs = secmon.Event{}, Observation{}
		if cap(s.ops) > maxPooledOps {
			return // an unusual event's large slice is not kept
		}
		clear(s.ops)
		s.ops = s.ops[:0]
		e.scratch.Put(s)
	}()
	now := ev.Time
	if now.IsZero() {
		now = e.clock.Now()
	}
	s.ev = ev
	s.obs = Observation{Event: &s.ev, Now: now, caseSensitive: e.caseSens}
	o := &s.obs

	var errs []error
	var failed []bool // allocated only when a plan fails
	for i, r := range e.rules {
		start := len(s.ops)
		ops, err := e.plan(r, o, s.ops)
		if err != nil {
			errs = append(errs, err)
			if failed == nil {
				failed = make([]bool, len(e.rules))
			}
			failed[i] = true
			ops = s.ops[:start]
		}
		s.ops = ops
		s.spans[i] = len(s.ops)
	}
	counted := true
	if len(s.ops) > 0 {
		if err := e.counters.Do(ctx, now, s.ops); err != nil {
			e.counterErrors.Add(1)
			counted = false
			errs = append(errs, fmt.Errorf("detect: counters: %w", err))
			if e.logLimit() {
				e.log.LogAttrs(ctx, slog.LevelWarn, "detect: counters failed; counting rules skipped",
					slog.String("error", err.Error()), slog.Int64("failures", e.counterErrors.Load()))
			}
		}
	}

	var out []secmon.Finding
	start := 0
	for i, r := range e.rules {
		end := s.spans[i]
		ops := s.ops[start:end:end]
		start = end
		if failed != nil && failed[i] {
			continue
		}
		if len(ops) > 0 && !counted {
			continue
		}
		fs, err := e.evaluate(ctx, r, o, ops)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range fs {
			if len(f.Sources) == 0 {
				// Every finding names the sources to act on: by default
				// the group of the event that triggered it.
				if g, ok := sourceGroup(o.Event.IP); ok {
					f.Sources = []secmon.Source{{Group: g, Count: 1}}
				}
			}
			if f, ok := e.admit(i, r, f, now); ok {
				out = append(out, f)
			}
		}
	}
	e.findings.Add(int64(len(out)))
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

func (e *Engine) plan(r Rule, o *Observation, ops []Op) (out []Op, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = e.ruleFailed(r, true, fmt.Errorf("%v", p))
		}
	}()
	return r.Plan(o, ops), nil
}

func (e *Engine) evaluate(ctx context.Context, r Rule, o *Observation, ops []Op) (fs []secmon.Finding, err error) {
	defer func() {
		if p := recover(); p != nil {
			fs, err = nil, e.ruleFailed(r, true, fmt.Errorf("%v", p))
		}
	}()
	fs, err = r.Evaluate(ctx, o, ops)
	if err != nil {
		return nil, e.ruleFailed(r, false, err)
	}
	return fs, nil
}

func (e *Engine) ruleFailed(r Rule, panicked bool, err error) error {
	e.ruleErrors.Add(1)
	if panicked {
		e.rulePanics.Add(1)
	}
	re := &RuleError{Rule: r.Name(), Panic: panicked, Err: err}
	if !e.logLimit() {
		return re
	}
	e.log.LogAttrs(context.Background(), slog.LevelError, "detect: rule failed",
		slog.String("rule", string(re.Rule)), slog.Bool("panic", panicked), slog.String("error", err.Error()))
	return re
}

// logLimit reports whether a failure may be logged now: at most one log
// line per second, so a failing rule or store under attack does not flood
// the host's logs (Stats still counts every failure).
func (e *Engine) logLimit() bool {
	now := time.Now().UnixNano()
	last := e.lastLog.Load()
	return now-last >= int64(time.Second) && e.lastLog.CompareAndSwap(last, now)
}

// admit applies the cooldown and block escalation to one finding.
func (e *Engine) admit(i int, r Rule, f secmon.Finding, now time.Time) (secmon.Finding, bool) {
	if f.Rule == "" {
		f.Rule = r.Name()
	}
	if f.Time.IsZero() {
		f.Time = now
	}
	ns := now.UnixNano()
	if cd := e.cooldowns[i]; cd > 0 {
		fresh := false
		e.suppress.updateHash(e.suppress.hash(string(f.Rule), f.Subject), ns, func(until *int64, found bool) bool {
			if found && ns < *until {
				return true
			}
			fresh = true
			*until = ns + int64(cd)
			return true
		})
		if !fresh {
			e.suppressed.Add(1)
			return f, false
		}
	}
	if f.Action.Kind == secmon.ActionBlock && f.Action.Duration > 0 {
		var n int32
		e.strikes.update(f.Subject, ns, func(s *strikeRec, found bool) bool {
			switch {
			case !found || ns-s.last >= int64(e.strikeMem):
				s.n = 0
			case s.n < 62:
				s.n++
			}
			s.last = ns
			n = s.n
			return true
		})
		f.Action.Duration = escalate(f.Action.Duration, n, e.maxBlock)
		if n > 0 {
			ev := make(map[string]string, len(f.Evidence)+1)
			for k, v := range f.Evidence {
				ev[k] = v
			}
			ev["repeat"] = strconv.Itoa(int(n))
			f.Evidence = ev
		}
	}
	return f, true
}

// escalate doubles base once per earlier strike, capped at limit.
func escalate(base time.Duration, strikes int32, limit time.Duration) time.Duration {
	d := base
	for range strikes {
		if d >= limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}
