package secmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

type alertKey struct {
	rule    RuleName
	subject string
}

// alertState is the in-memory side of one alert: the totals since it was
// opened and the Count not yet written (the delta of the next upsert).
type alertState struct {
	id          uuid.UUID
	first, last time.Time
	severity    Severity
	summary     string
	evidence    map[string]string
	action      Action
	count       int64 // findings merged since the alert was opened
	pending     int64 // findings not yet passed to a successful UpsertAlerts
	written     bool  // id has reached the store
}

func (s *alertState) alert(k alertKey, count int64) Alert {
	return Alert{
		ID: s.id, Rule: k.rule, Subject: k.subject, Severity: s.severity, Status: AlertOpen,
		Count: count, FirstSeen: s.first, LastSeen: s.last,
		Summary: s.summary, Evidence: s.evidence, Action: s.action,
	}
}

// raise turns findings into alerts. A finding for a (rule, subject) seen
// within SuppressWindow of its previous finding merges into that alert;
// otherwise it opens a new one, which is handed to the notifier worker.
func (m *Monitor) raise(findings []Finding, at time.Time) {
	m.alertMu.Lock()
	defer m.alertMu.Unlock()
	for i := range findings {
		f := &findings[i]
		if f.Rule == "" || f.Subject == "" || !f.Severity.Valid() {
			m.st.detectorErrors.Add(1)
			m.setErr(errors.New("secmon: detector returned a finding without rule or subject, or with an invalid severity"))
			continue
		}
		m.countFindingLocked(f.Rule)
		t := f.Time
		if t.IsZero() {
			t = at
		}
		k := alertKey{f.Rule, f.Subject}
		s, ok := m.alerts[k]
		if ok && t.Sub(s.last) <= m.cfg.SuppressWindow {
			s.count++
			s.pending++
			if t.After(s.last) {
				s.last = t
			}
			s.severity = max(s.severity, f.Severity)
			s.summary, s.evidence, s.action = f.Summary, f.Evidence, f.Action
			m.st.alertsSuppressed.Add(1)
			continue
		}
		if !ok {
			if len(m.alerts) >= m.cfg.AlertCapacity {
				// At most one sweep per second on the hot path: a flood of
				// new subjects must not make every Log scan the map.
				if now := m.clock.Now(); now.Sub(m.lastSweep) >= time.Second || now.Before(m.lastSweep) {
					m.sweepAlertsLocked(now)
				}
			}
			if len(m.alerts) >= m.cfg.AlertCapacity {
				m.st.alertsDropped.Add(1)
				m.setErr(errors.New("secmon: alert capacity reached; finding dropped"))
				m.log.LogAttrs(context.Background(), slog.LevelError, "secmon: alert capacity reached; finding dropped",
					slog.String("rule", string(f.Rule)), slog.Int("capacity", m.cfg.AlertCapacity))
				continue
			}
			s = &alertState{}
			m.alerts[k] = s
		}
		// A new alert. An expired state's unwritten delta is carried over:
		// the store merges it into whichever alert is open for the pair.
		*s = alertState{
			id: newID(t), first: t, last: t, severity: f.Severity,
			summary: f.Summary, evidence: f.Evidence, action: f.Action,
			count: 1, pending: s.pending + 1,
		}
		m.st.alertsOpened.Add(1)
		if len(m.cfg.Notifiers) > 0 || m.subCount.Load() > 0 {
			m.enqueueNotify(s.alert(k, 1))
		}
	}
}

// countFindingLocked counts a valid finding by its rule, under OtherRules
// once MaxFindingRules rules are counted. The caller holds alertMu.
func (m *Monitor) countFindingLocked(rule RuleName) {
	if _, ok := m.findings[rule]; !ok && len(m.findings) >= MaxFindingRules {
		rule = OtherRules
	}
	m.findings[rule]++
}

// sweepAlertsLocked forgets alerts that are written and quiet for longer
// than SuppressWindow. The caller holds alertMu.
func (m *Monitor) sweepAlertsLocked(now time.Time) {
	m.lastSweep = now
	for k, s := range m.alerts {
		if s.pending == 0 && now.Sub(s.last) > m.cfg.SuppressWindow {
			delete(m.alerts, k)
		}
	}
}

func (m *Monitor) enqueueNotify(a Alert) {
	select {
	case m.notifyCh <- a:
	default:
		m.st.notifyDropped.Add(1)
		m.setErr(errors.New("secmon: notify queue full; alert notification dropped"))
	}
}

// flushAlerts writes the alert deltas in one UpsertAlerts call: Count is the
// number of findings merged since the last successful write. The first write
// of an alert carries the ID its notification announced; later ones carry no
// ID, so the store merges them into whichever alert is open for the pair (a
// new one if the host resolved the old). Subscribers then hear about each
// updated alert with its total Count.
//
// Alert deltas are delivered at least once, not exactly once. Events,
// activities and sessions are idempotent on retry (the stores skip event
// and activity IDs already stored; a session upsert keeps the newest beat),
// but a delta carries no key the store could recognise: when UpsertAlerts
// applies a batch and still returns an error (a WriteTimeout that fires
// after the commit, a connection lost before the reply), the retry adds
// the same delta again and the stored Count exceeds the number of findings
// by that delta. Counts therefore never undercount; an overcount needs an
// ambiguous store failure and is bounded by the deltas pending at the time.
func (m *Monitor) flushAlerts(ctx context.Context) error {
	m.alertMu.Lock()
	rows := m.alertRows[:0]
	refs := m.alertRefs[:0]
	for k, s := range m.alerts {
		if s.pending > 0 {
			a := s.alert(k, s.pending)
			if s.written {
				a.ID = uuid.Nil
			}
			rows = append(rows, a)
			refs = append(refs, s)
		}
	}
	if len(rows) == 0 {
		m.sweepAlertsLocked(m.clock.Now())
		m.alertMu.Unlock()
		return nil
	}
	m.alertMu.Unlock()

	out, err := writeRows(m, ctx, "alert", rows, m.store.UpsertAlerts)

	var written, rejected int
	m.alertMu.Lock()
	notifySubs := m.subCount.Load() > 0
	for i, s := range refs {
		switch outcome(out, err, i) {
		case rowRetry:
			continue
		case rowRejected:
			rejected++
		case rowWritten:
			written++
			if rows[i].ID == s.id {
				s.written = true
			}
			if notifySubs {
				total := s.alert(alertKey{rows[i].Rule, rows[i].Subject}, s.count)
				select {
				case m.updateCh <- total:
				default:
					m.st.subscriberDropped.Add(1)
				}
			}
		}
		s.pending -= rows[i].Count
	}
	m.sweepAlertsLocked(m.clock.Now())
	m.alertMu.Unlock()
	n := len(rows)
	clear(rows)
	clear(refs)
	m.alertRows, m.alertRefs = rows[:0], refs[:0]
	m.st.alertsWritten.Add(uint64(written))
	m.st.alertsRejected.Add(uint64(rejected))
	if written > 0 {
		m.st.batches.Add(1)
	}
	if err != nil {
		m.st.alertsFail.Add(1)
		return fmt.Errorf("secmon: upsert %d alerts: %w", n, err)
	}
	return nil
}

// runNotifier is the notifier goroutine. New alerts go before updates.
// After Close it delivers what is still queued (unless Close gave up), then
// returns.
func (m *Monitor) runNotifier() {
	defer close(m.notifierDone)
	for {
		select {
		case a := <-m.notifyCh:
			m.deliver(a, true)
			continue
		default:
		}
		select {
		case a := <-m.notifyCh:
			m.deliver(a, true)
		case a := <-m.updateCh:
			m.deliver(a, false)
		case <-m.stopNotifier:
			for {
				select {
				case a := <-m.notifyCh:
					if m.notifyCtx.Err() != nil {
						m.st.notifyDropped.Add(1)
						continue
					}
					m.deliver(a, true)
				case a := <-m.updateCh:
					m.deliver(a, false)
				default:
					return
				}
			}
		}
	}
}

// deliver hands a to the Notifiers (when opened) and to the subscribers.
func (m *Monitor) deliver(a Alert, opened bool) {
	if opened {
		for _, n := range m.cfg.Notifiers {
			if err := m.notifyOne(n, a); err != nil {
				m.st.notifyFailures.Add(1)
				m.setErr(err)
				m.log.LogAttrs(context.Background(), slog.LevelWarn, "secmon: notifier failed",
					slog.String("rule", string(a.Rule)), slog.Any("error", err))
			} else {
				m.st.notifications.Add(1)
			}
		}
	}
	m.subMu.Lock()
	fns := m.subFns[:0]
	for _, fn := range m.subs {
		fns = append(fns, fn)
	}
	m.subFns = fns
	m.subMu.Unlock()
	for _, fn := range fns {
		func() {
			defer func() {
				if r := recover(); r != nil {
					m.setErr(fmt.Errorf("secmon: alert subscriber panicked: %v", r))
				}
			}()
			fn(a)
		}()
	}
	clear(fns)
}

func (m *Monitor) notifyOne(n Notifier, a Alert) (err error) {
	ctx, cancel := context.WithTimeout(m.notifyCtx, m.cfg.NotifyTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("secmon: notifier panicked: %v", r)
		}
	}()
	return n.Notify(ctx, a)
}

// SubscribeAlerts implements AlertSubscriber: fn is called, from the
// Monitor's notifier goroutine, for every alert this Monitor opens (Count 1)
// and after every successful alert write with the alert's total Count in
// this process. It blocks until ctx is done (returning ctx's error) or the
// Monitor is closed (returning ErrClosed). fn must not block for long: it
// delays Notifiers.
func (m *Monitor) SubscribeAlerts(ctx context.Context, fn func(Alert)) error {
	if fn == nil {
		return errors.New("secmon: SubscribeAlerts: nil function")
	}
	m.subMu.Lock()
	id := m.subNext
	m.subNext++
	m.subs[id] = fn
	m.subCount.Add(1)
	m.subMu.Unlock()
	defer func() {
		m.subMu.Lock()
		delete(m.subs, id)
		m.subCount.Add(-1)
		m.subMu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-m.notifierDone:
		return ErrClosed
	}
}
