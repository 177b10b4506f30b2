package guard

import (
	"context"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// RuleKnownBadSource is the name of the rule KnownBadSource returns.
const RuleKnownBadSource secmon.RuleName = "known_bad_source"

// KnownBadSource returns a detection rule (add it to detect.Config.Rules)
// that reports events from addresses on g's observe-only lists: rule
// "known_bad_source", subject "ip:<group>", severity medium, suggested
// action notify, evidence naming the list and the prefix, at most one
// finding per IP group and hour. It reads g's snapshot, so it costs one
// lookup per event and no I/O. Blocking lists need no rule: their
// addresses are refused before they can log anything.
//
// The rule sees events after the Monitor's privacy policy: under
// IPTruncate or IPHash the addresses it looks up are masked, and it
// matches only what the lists hold in that form.
func (g *Guard) KnownBadSource() detect.Rule { return knownBadSource{g} }

type knownBadSource struct{ g *Guard }

// Name returns "known_bad_source".
func (r knownBadSource) Name() secmon.RuleName { return RuleKnownBadSource }

// Cooldown is one hour per IP group.
func (r knownBadSource) Cooldown() time.Duration { return time.Hour }

// Plan needs no counters.
func (r knownBadSource) Plan(_ *detect.Observation, ops []detect.Op) []detect.Op { return ops }

// Evaluate reports the event's IP group when an observe-only list holds
// its address.
func (r knownBadSource) Evaluate(_ context.Context, o *detect.Observation, _ []detect.Op) ([]secmon.Finding, error) {
	list, prefix, ok := r.g.Observed(o.Event.IP)
	if !ok || o.Group() == "" {
		return nil, nil
	}
	return []secmon.Finding{{
		Rule:     RuleKnownBadSource,
		Subject:  detect.SubjectIP + o.Group(),
		Severity: secmon.SeverityMedium,
		Summary:  "event from " + o.Group() + ", on reputation list " + list,
		Evidence: map[string]string{
			"list":       list,
			"prefix":     prefix.String(),
			"ip_group":   o.Group(),
			"event_type": string(o.Event.Type),
		},
		Action: secmon.Action{Kind: secmon.ActionNotify},
	}}, nil
}
