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

// sessionEntry is one session the Monitor remembers: its newest beat, what
// the anomaly check saw, and whether the beat still has to be written.
type sessionEntry struct {
	beat     SessionBeat
	seen     sessionSeen
	pending  bool // in pendingList
	inflight bool // its beat is being written by flushSessions
}

// Session anomaly metadata: the "reason" key of a session_anomaly event says
// what changed.
const (
	AnomalyIPGroup   = "ip_group"
	AnomalyUserAgent = "user_agent"
	AnomalyBoth      = "ip_group,user_agent"
)

// Heartbeat records that a session is alive. Beats are coalesced in memory
// by SessionID and every pending session goes to the store in one
// UpsertSessions call per flush. The newest Time gives the session's fields
// and LastSeen; the earliest beat seen (or the StartedAt a beat carries)
// gives its StartedAt, which the written beat carries, so a session whose
// first beats merge before a flush still starts at its first beat. It does
// no I/O.
//
// When the IP group (see IPGroup) or the user agent differs from the newest
// beat seen earlier for the same session, Heartbeat also logs a
// session_anomaly event (Severity medium, Metadata["reason"] one of
// AnomalyIPGroup, AnomalyUserAgent, AnomalyBoth) through the Log pipeline.
// Sessions are remembered in one map: when it holds SessionTrackSize
// sessions, a new one evicts an arbitrary session that is neither waiting
// to be written nor being written (that session's next beat starts
// afresh); since those are never evicted, the map holds at most SessionTrackSize +
// MaxPendingSessions entries.
//
// Heartbeat returns a *FieldError for a beat without SessionID or UserID or
// with an identifier or Fingerprint longer than MaxIDLen or holding control
// characters (counted in Stats.HeartbeatsInvalid), ErrQueueFull when
// MaxPendingSessions other sessions are already waiting for the next flush
// or being written, and ErrClosed after Close.
func (m *Monitor) Heartbeat(ctx context.Context, b SessionBeat) error {
	m.closeMu.RLock()
	defer m.closeMu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	if err := checkBeat(&b); err != nil {
		m.st.beatsInvalid.Add(1)
		return err
	}
	if b.Time.IsZero() {
		b.Time = m.clock.Now()
	}
	b.StartedAt = b.Start()
	rawIP, rawUA := b.IP, b.UserAgent
	var seen sessionSeen
	seen.at = b.Time
	if rawIP.IsValid() {
		seen.group = IPGroup(rawIP)
	}
	m.privacy.applyBeat(&b, &m.drops)
	if b.UserAgent != "" {
		seen.ua = maphash.String(m.uaSeed, b.UserAgent) | 1 // never zero
	}

	var change string
	m.sessMu.Lock()
	e := m.sessions[b.SessionID]
	held := e != nil && (e.pending || e.inflight)
	if !held && m.sessHeld >= m.cfg.MaxPendingSessions {
		m.sessMu.Unlock()
		m.st.queueFull.Add(1)
		return ErrQueueFull
	}
	if e == nil {
		m.evictSessionLocked()
		e = &sessionEntry{beat: b, seen: seen}
		m.sessions[b.SessionID] = e
	} else {
		if prev := e.seen; !seen.at.Before(prev.at) {
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
			e.seen = seen
		}
		// The newest beat gives the session's fields; the earliest one
		// seen gives its start, however many beats merge before a flush.
		start := earliest(e.beat.StartedAt, b.StartedAt)
		if !b.Time.Before(e.beat.Time) {
			e.beat = b
		}
		e.beat.StartedAt = start
	}
	pending := e.pending
	if !pending {
		e.pending = true
		m.pendingList = append(m.pendingList, e)
	}
	if !held {
		m.sessHeld++
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

// evictSessionLocked makes room for a new session when the map holds
// SessionTrackSize sessions, by forgetting one that is not pending. It looks
// at a few entries only; when all of them are pending the map grows (it is
// still bounded, as pending sessions are). The caller holds sessMu.
func (m *Monitor) evictSessionLocked() {
	if len(m.sessions) < m.cfg.SessionTrackSize {
		return
	}
	probes := 0
	for id, e := range m.sessions {
		if !e.pending && !e.inflight {
			delete(m.sessions, id)
			return
		}
		if probes++; probes == 8 {
			return
		}
	}
}

// TrackActivity records one allowlisted user action. It checks the action
// against Config.AllowedActions (ErrActionNotAllowed otherwise), asks
// Config.ActivityLimiter, when set, for key "activity:"+UserID (a denial
// returns a *RateLimitedError matching ErrRateLimited; a limiter error lets
// the activity through and is counted), stamps ID and Time when zero,
// applies the privacy policy and queues the activity for a batched
// InsertActivities. Apart from the limiter it does no I/O, and the limiter
// is asked without holding any Monitor lock, so a slow limiter delays only
// its own caller (never Close, Log or Heartbeat).
//
// It returns a *FieldError for a missing UserID, an invalid identifier or
// an oversized Resource (counted in Stats.ActivitiesInvalid), ErrQueueFull when the activity queue is full, and ErrClosed after Close
// (including when Close began while the limiter was being asked).
func (m *Monitor) TrackActivity(ctx context.Context, a Activity) error {
	m.closeMu.RLock()
	closed := m.closed
	m.closeMu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := checkActivity(&a); err != nil {
		m.st.activitiesInvalid.Add(1)
		return err
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
	m.privacy.applyActivity(&a, &m.drops)
	m.closeMu.RLock()
	defer m.closeMu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	select {
	case m.activities <- a:
	default:
		m.st.queueFull.Add(1)
		m.setErr(ErrQueueFull)
		return ErrQueueFull
	}
	m.st.activitiesAccepted.Add(1)
	if len(m.activities) >= m.kickAt {
		m.wake()
	}
	return nil
}

// checkBeat returns the *FieldError Heartbeat refuses b with, or nil.
func checkBeat(b *SessionBeat) error {
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
	return nil
}

// checkActivity returns the *FieldError TrackActivity refuses a with, or
// nil.
func checkActivity(a *Activity) error {
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
	return nil
}

// earliest returns the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
