package guard

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/secmon-go/secmon"
)

// The guard's security events carry these metadata keys, all in
// secmon.DefaultMetadataKeys: block_id, scope, origin, level, until,
// duration, rule, reason, actor_id (who decided or lifted), prefix_len,
// list, count and window. The blocked address is the event's IP (the
// network address of a prefix, with prefix_len), the blocked account its
// UserID, so the privacy policy masks them as it masks any event.

// blockEvent is the ip_blocked event of a block just decided.
func blockEvent(b *secmon.Block, sev secmon.Severity) secmon.Event {
	e := secmon.Event{
		Type: secmon.EventIPBlocked, Severity: max(sev, secmon.SeverityMedium), Time: b.Created,
		Metadata: map[string]string{
			"block_id": b.ID.String(),
			"scope":    string(b.Scope),
			"origin":   string(b.Origin),
			"level":    strconv.Itoa(b.Level),
			"actor_id": b.By,
			"reason":   b.Reason,
		},
	}
	if b.Rule != "" {
		e.Metadata["rule"] = string(b.Rule)
	}
	if !b.Until.IsZero() {
		e.Metadata["until"] = b.Until.UTC().Format(time.RFC3339)
		e.Metadata["duration"] = b.Until.Sub(b.Created).String()
	}
	subjectOf(&e, b)
	return e
}

// liftEvent is the block_lifted event of a lift.
func liftEvent(b *secmon.Block) secmon.Event {
	e := secmon.Event{
		Type: secmon.EventBlockLifted, Severity: secmon.SeverityMedium, Time: b.LiftedAt,
		Metadata: map[string]string{
			"block_id": b.ID.String(),
			"scope":    string(b.Scope),
			"origin":   string(b.Origin),
			"level":    strconv.Itoa(b.Level),
			"actor_id": b.LiftedBy,
		},
	}
	if b.Rule != "" {
		e.Metadata["rule"] = string(b.Rule)
	}
	subjectOf(&e, b)
	return e
}

// subjectOf puts what b blocks into e: an account as UserID, a prefix as IP
// and prefix_len.
func subjectOf(e *secmon.Event, b *secmon.Block) {
	if b.Scope == secmon.ScopeUser {
		e.UserID = b.UserID
		return
	}
	if b.Prefix.IsValid() {
		e.IP = b.Prefix.Addr()
		e.Metadata["prefix_len"] = strconv.Itoa(b.Prefix.Bits())
	}
}

// logEvent hands e to the events logger (Config.Events, SetEvents); a refusal is counted, never waited
// on. It must not be called with g.mu held.
func (g *Guard) logEvent(e secmon.Event) {
	ref := g.events.Load()
	if ref == nil {
		return
	}
	if err := ref.l.Log(context.Background(), e); err != nil {
		g.st.eventErrors.Add(1)
		g.setErr(err)
		g.warn("guard: security event not logged", slog.String("type", string(e.Type)), slog.Any("error", err))
	}
}

// accessEvent is the access_blocked event for count refusals of b's
// subject, the latest from client ip (with user, when the request named
// one).
func accessEvent(b *secmon.Block, ip netip.Addr, user string, count uint64, window time.Duration, at time.Time) secmon.Event {
	e := secmon.Event{
		Type: secmon.EventAccessBlocked, Severity: secmon.SeverityLow, Time: at, IP: ip, UserID: user,
		Metadata: map[string]string{
			"scope":  string(b.Scope),
			"origin": string(b.Origin),
			"count":  strconv.FormatUint(count, 10),
			"window": window.String(),
		},
	}
	if len(user) > secmon.MaxIDLen {
		e.UserID = ""
	}
	if b.ID != [16]byte{} {
		e.Metadata["block_id"] = b.ID.String()
	}
	if b.Rule != "" {
		e.Metadata["rule"] = string(b.Rule)
	}
	if b.Origin == secmon.OriginList {
		e.Metadata["list"] = b.By[len("list:"):]
		if b.Prefix.IsValid() {
			e.Metadata["prefix_len"] = strconv.Itoa(b.Prefix.Bits())
		}
	}
	return e
}
