package guard

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// runDecider is the decider goroutine: it turns queued findings into
// blocks, one at a time, until Close; then it decides what is still queued
// and returns.
func (g *Guard) runDecider() {
	defer g.wg.Done()
	for {
		select {
		case f := <-g.findings:
			g.decide(f)
		case <-g.stop:
			for {
				select {
				case f := <-g.findings:
					g.decide(f)
				default:
					return
				}
			}
		}
	}
}

// target is one thing a finding asks to block.
type target struct {
	scope  secmon.BlockScope
	prefix netip.Prefix
	user   string
}

func (t target) subject() string { return secmon.BlockSubject(t.scope, t.prefix, t.user) }

// decide applies the policy of f's rule.
func (g *Guard) decide(f secmon.Finding) {
	defer func() {
		g.findDone.Add(1)
		g.signal()
	}()
	g.st.findingsReceived.Add(1)
	p, listed := g.policies[f.Rule]
	if !listed {
		if g.cfg.Unlisted == UnlistedIgnore || f.Action.Kind != secmon.ActionBlock || f.Action.Duration <= 0 {
			g.st.findingsIgnored.Add(1)
			return
		}
		p = Policy{Duration: f.Action.Duration, Factor: 1}.withDefaults()
	}
	if p.Disabled || f.Severity < p.MinSeverity {
		g.st.findingsIgnored.Add(1)
		return
	}
	targets := g.targets(f, p)
	if len(targets) == 0 {
		g.st.findingsIgnored.Add(1)
		return
	}
	suggested := time.Duration(0)
	if f.Action.Kind == secmon.ActionBlock {
		suggested = f.Action.Duration
	}
	var events []secmon.Event
	for _, t := range targets {
		if e, ok := g.autoBlock(f, p, t, suggested); ok {
			events = append(events, e)
		}
	}
	for _, e := range events {
		g.logEvent(e)
	}
	if len(events) > 0 {
		g.kickWriter()
	}
}

// targets lists what p blocks for f: its IP groups (the subject when it is
// one, then Finding.Sources, busiest first, deduplicated) and its account.
// Masked addresses are mapped back as far as Config.Privacy allows.
func (g *Guard) targets(f secmon.Finding, p Policy) []target {
	var out []target
	seen := map[string]bool{}
	unmappable := false
	addIP := func(group netip.Prefix) {
		t, ok, masked := g.ipTarget(group)
		unmappable = unmappable || masked
		if !ok {
			return
		}
		if k := t.subject(); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	if p.Target&TargetSources != 0 {
		if rest, ok := strings.CutPrefix(f.Subject, detect.SubjectIP); ok {
			if pfx, err := netip.ParsePrefix(rest); err == nil {
				addIP(pfx)
			}
		}
		n := 0
		for _, s := range f.Sources {
			if n >= p.MaxSources {
				break
			}
			if s.Count < p.MinSourceCount || !s.Group.IsValid() {
				continue
			}
			n++
			addIP(s.Group)
		}
	}
	if unmappable {
		g.st.refusedUnmappable.Add(1)
	}
	if p.Target&TargetAccount != 0 {
		if rest, ok := strings.CutPrefix(f.Subject, detect.SubjectUser); ok && rest != "" {
			if k := detect.UserKey(rest, g.cfg.CaseSensitiveUsers); k != "" {
				out = append(out, target{scope: secmon.ScopeUser, user: k})
			}
		}
	}
	return out
}

// ipTarget turns a finding's IP group into what to block: the group itself
// (an IP group block), or, under an IPTruncate privacy policy, the
// truncated network the detection rules really counted (a prefix block).
// Under IPHash nothing can be blocked: unmappable reports that.
func (g *Guard) ipTarget(group netip.Prefix) (t target, ok, unmappable bool) {
	group = normPrefix(group)
	a := group.Addr()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
		return target{}, false, false
	}
	if pp := g.cfg.Privacy; pp != nil && pp.IPMode != secmon.IPFull {
		if pp.IPMode != secmon.IPTruncate {
			return target{}, false, true
		}
		bits := 48
		switch {
		case a.Is4():
			bits = 24
		case sixToFour.Contains(a):
			bits = 40
		}
		if group.Bits() < bits {
			bits = group.Bits()
		}
		p, _ := a.Prefix(bits)
		return target{scope: secmon.ScopePrefix, prefix: p}, true, false
	}
	if secmon.IPGroup(a) == group {
		return target{scope: secmon.ScopeIP, prefix: group}, true, false
	}
	return target{scope: secmon.ScopePrefix, prefix: group}, true, false
}

var sixToFour = netip.MustParsePrefix("2002::/16")

// autoBlock decides one block for a finding. It returns the ip_blocked
// event to log when a block was made.
func (g *Guard) autoBlock(f secmon.Finding, p Policy, t target, suggested time.Duration) (secmon.Event, bool) {
	now := g.now()
	subject := t.subject()
	if t.scope == secmon.ScopeUser {
		if g.allowUsers[t.user] {
			g.st.refusedAllow.Add(1)
			g.warn("guard: finding about an allowlisted account not blocked", slog.String("rule", string(f.Rule)))
			return secmon.Event{}, false
		}
	} else if by, ok := g.allowedPrefix(t.prefix); ok {
		g.st.refusedAllow.Add(1)
		g.warn("guard: finding about an allowlisted address not blocked",
			slog.String("rule", string(f.Rule)), slog.String("subject", subject), slog.String("allowlisted", by.String()))
		return secmon.Event{}, false
	}
	g.mu.Lock()
	if g.inForceLocked(subject, now) != nil {
		g.mu.Unlock()
		g.st.already.Add(1)
		return secmon.Event{}, false
	}
	level := g.levelLocked(subject, now)
	d := p.duration(level, suggested)
	if p.DryRun || g.cfg.DryRun {
		g.mu.Unlock()
		g.st.wouldBlock.Add(1)
		g.log.LogAttrs(context.Background(), slog.LevelInfo, "guard: dry run: would block",
			slog.String("rule", string(f.Rule)), slog.String("subject", subject),
			slog.Int("level", level), slog.Duration("duration", d))
		return secmon.Event{}, false
	}
	b := secmon.Block{
		ID: secmon.NewID(), Scope: t.scope, Subject: subject, Prefix: t.prefix, UserID: t.user,
		Reason: cleanReason(f.Summary), Rule: f.Rule, Origin: secmon.OriginRule, Level: level,
		Created: now, Until: now.Add(d), By: byRule(f.Rule),
	}
	if b.Reason == "" {
		b.Reason = "finding " + string(f.Rule)
	}
	if err := b.Validate(); err != nil {
		g.mu.Unlock()
		g.st.findingsIgnored.Add(1)
		g.setErr(err)
		g.warn("guard: finding gave an invalid block", slog.String("rule", string(f.Rule)), slog.Any("error", err))
		return secmon.Event{}, false
	}
	if !g.roomLocked(now) {
		g.mu.Unlock()
		g.st.refusedCap.Add(1)
		g.setErr(ErrCapacity)
		g.warn("guard: block capacity reached; finding not blocked", slog.Int("max_blocks", g.cfg.MaxBlocks))
		return secmon.Event{}, false
	}
	g.commitLocked(&b)
	g.mu.Unlock()
	g.st.decided.Add(1)
	return blockEvent(&b, f.Severity), true
}

// byRule is Block.By for a rule's block: "rule:<name>", cut to the limit.
func byRule(r secmon.RuleName) string {
	s := "rule:" + string(r)
	if len(s) > secmon.MaxBlockByLen {
		s = s[:secmon.MaxBlockByLen]
	}
	return s
}

// roomLocked reports whether one more block fits: under MaxBlocks in force
// (after forgetting ended ones) and under 2×MaxBlocks waiting to be
// written.
func (g *Guard) roomLocked(now time.Time) bool {
	if len(g.blocks) >= g.cfg.MaxBlocks {
		g.sweepLocked(now)
	}
	return len(g.blocks) < g.cfg.MaxBlocks && len(g.pending) < 2*g.cfg.MaxBlocks
}

// commitLocked enforces b at once, remembers it for escalation, and queues
// it for the store.
func (g *Guard) commitLocked(b *secmon.Block) {
	added, removed := g.putLocked(*b)
	var rm []*secmon.Block
	if removed != nil {
		rm = append(rm, removed)
	}
	g.publishLocked([]*secmon.Block{added}, rm)
	g.rememberLocked(added)
	g.queueLocked(added)
}

// queueLocked queues the current version of b for the store.
func (g *Guard) queueLocked(b *secmon.Block) {
	if p, ok := g.pending[b.ID]; ok {
		p.b = b
		p.ver++
		return
	}
	g.pending[b.ID] = &pendingWrite{b: b, ver: 1}
}

// cleanReason makes a finding's summary a block reason: control characters
// become spaces, and it is cut to MaxBlockReasonLen without splitting a
// character.
func cleanReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > secmon.MaxBlockReasonLen {
		cut := secmon.MaxBlockReasonLen
		for cut > 0 && s[cut]&0xc0 == 0x80 {
			cut--
		}
		s = s[:cut]
	}
	return s
}
