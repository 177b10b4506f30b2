package secmon

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// sessionSeen is what the anomaly check remembers of a session: its IP group
// and a hash of its user agent (zero when unknown), as of the newest beat.
type sessionSeen struct {
	group netip.Prefix
	ua    uint64
	at    time.Time
}

// Session anomaly metadata: the "reason" key of a session_anomaly event says
// what changed.
const (
	AnomalyIPGroup   = "ip_group"
	AnomalyUserAgent = "user_agent"
	AnomalyBoth      = "ip_group,user_agent"
)

// Heartbeat records that a session is alive. Beats are coalesced in memory
// by SessionID (the newest Time wins) and every pending session goes to the
// store in one UpsertSessions call per flush. It does no I/O.
//
// When the IP group (see IPGroup) or the user agent differs from the newest
// beat seen earlier for the same session, Heartbeat also logs a
// session_anomaly event (Severity medium, Metadata["reason"] one of
// AnomalyIPGroup, AnomalyUserAgent, AnomalyBoth) through the Log pipeline.
// The last-seen map holds at most Config.SessionTrackSize sessions; beyond
// that an arbitrary entry is evicted and that session starts afresh.
//
// Heartbeat returns a *FieldError for a beat without SessionID or UserID,
// ErrQueueFull when MaxPendingSessions other sessions are already pending,
// and ErrClosed after Close.
func (m *Monitor) Heartbeat(ctx context.Context, b SessionBeat) error {
	m.closeMu.RLock()
	defer m.closeMu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	if b.SessionID == "" {
		return &FieldError{Field: "SessionID", Reason: "is required"}
	}
	if b.UserID == "" {
		return &FieldError{Field: "UserID", Reason: "is required"}
	}
	for _, f := range [...]struct{ name, v string }{{"SessionID", b.SessionID}, {"UserID", b.UserID}, {"OrgID", b.OrgID}, {"Fingerprint", b.Fingerprint}} {
		if err := checkIdentifier(f.name, f.v); err != nil {
			return err
		}
	}
	if b.Time.IsZero() {
		b.Time = m.clock.Now()
	}
	rawIP, rawUA := b.IP, b.UserAgent
	var seen sessionSeen
	seen.at = b.Time
	if rawIP.IsValid() {
		seen.group = IPGroup(rawIP)
	}
	m.privacy.ApplyBeat(&b)
	if b.UserAgent != "" {
		seen.ua = maphash.String(m.uaSeed, b.UserAgent) | 1 // never zero
	}

	var change string
	m.sessMu.Lock()
	cur, pending := m.pendingSessions[b.SessionID]
	if !pending && len(m.pendingSessions) >= m.cfg.MaxPendingSessions {
		m.sessMu.Unlock()
		m.st.queueFull.Add(1)
		return ErrQueueFull
	}
	if !pending || !b.Time.Before(cur.Time) {
		m.pendingSessions[b.SessionID] = b
	}
	prev, known := m.lastSeen[b.SessionID]
	switch {
	case !known:
		if len(m.lastSeen) >= m.cfg.SessionTrackSize {
			for k := range m.lastSeen { // evict an arbitrary entry
				delete(m.lastSeen, k)
				break
			}
		}
		m.lastSeen[b.SessionID] = seen
	case !seen.at.Before(prev.at):
		ipChanged := seen.group.IsValid() && prev.group.IsValid() && seen.group != prev.group
		uaChanged := seen.ua != 0 && prev.ua != 0 && seen.ua != prev.ua
		switch {
		case ipChanged && uaChanged:
			change = AnomalyBoth
		case ipChanged:
			change = AnomalyIPGroup
		case uaChanged:
			change = AnomalyUserAgent
		}
		if !seen.group.IsValid() {
			seen.group = prev.group
		}
		if seen.ua == 0 {
			seen.ua = prev.ua
		}
		m.lastSeen[b.SessionID] = seen
	}
	m.sessMu.Unlock()
	m.st.beats.Add(1)
	if pending {
		m.st.beatsCoalesced.Add(1)
	}
	if change != "" {
		m.st.anomalies.Add(1)
		err := m.logEvent(ctx, Event{
			Type: EventSessionAnomaly, Severity: SeverityMedium, Time: b.Time,
			UserID: b.UserID, SessionID: b.SessionID, OrgID: b.OrgID,
			IP: rawIP, UserAgent: rawUA, Fingerprint: b.Fingerprint, Geo: b.Geo,
			Metadata: map[string]string{"reason": change},
		})
		if err != nil {
			m.log.LogAttrs(ctx, slog.LevelWarn, "secmon: session anomaly not logged", slog.Any("error", err))
		}
	}
	return nil
}

// TrackActivity records one allowlisted user action. It checks the action
// against Config.AllowedActions (ErrActionNotAllowed otherwise), asks
// Config.ActivityLimiter, when set, for key "activity:"+UserID (a denial
// returns a *RateLimitedError matching ErrRateLimited; a limiter error lets
// the activity through and is counted), stamps ID and Time when zero,
// applies the privacy policy and queues the activity for a batched
// InsertActivities. Apart from the limiter it does no I/O.
//
// It returns a *FieldError for a missing UserID or an invalid identifier,
// ErrQueueFull when the activity queue is full, and ErrClosed after Close.
func (m *Monitor) TrackActivity(ctx context.Context, a Activity) error {
	m.closeMu.RLock()
	defer m.closeMu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	if a.UserID == "" {
		return &FieldError{Field: "UserID", Reason: "is required"}
	}
	for _, f := range [...]struct{ name, v string }{{"UserID", a.UserID}, {"SessionID", a.SessionID}, {"OrgID", a.OrgID}} {
		if err := checkIdentifier(f.name, f.v); err != nil {
			return err
		}
	}
	if len(a.Resource) > MaxMetadataLen {
		return &FieldError{Field: "Resource", Reason: fmt.Sprintf("is longer than %d bytes", MaxMetadataLen)}
	}
	if _, ok := m.allowed[a.Action]; !ok {
		m.st.activityDenied.Add(1)
		return fmt.Errorf("%w: %q", ErrActionNotAllowed, truncate(a.Action, MaxEventTypeLen))
	}
	if lim := m.cfg.ActivityLimiter; lim != nil {
		d, err := lim.Allow(ctx, "activity:"+a.UserID)
		switch {
		case err != nil:
			m.st.activityLimiterErrors.Add(1)
			m.setErr(err)
			m.log.LogAttrs(ctx, slog.LevelWarn, "secmon: activity limiter failed; allowing", slog.Any("error", err))
		case !d.Allowed:
			m.st.activityDenied.Add(1)
			return &RateLimitedError{RetryAfter: d.RetryAfter, Decision: d}
		}
	}
	if a.Time.IsZero() {
		a.Time = m.clock.Now()
	}
	if a.ID == uuid.Nil {
		a.ID = newID(a.Time)
	}
	m.privacy.ApplyActivity(&a)
	select {
	case m.activities <- a:
	default:
		m.st.queueFull.Add(1)
		m.setErr(ErrQueueFull)
		return ErrQueueFull
	}
	m.st.activitiesAccepted.Add(1)
	if len(m.activities) >= m.cfg.BatchSize {
		m.wake()
	}
	return nil
}
