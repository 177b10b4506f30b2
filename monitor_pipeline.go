package secmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// UnflushedError is returned by Close when its context ended before every
// queued item was written. It says what is left; Err holds the context's
// error (errors.Is(err, context.DeadlineExceeded) works) and Last the most
// recent store error, if any. Calling Close again retries the remainder.
type UnflushedError struct {
	Events, Sessions, Activities, Alerts int
	Err                                  error // the context's error
	Last                                 error // the last store error, or nil
}

func (e *UnflushedError) Error() string {
	s := fmt.Sprintf("secmon: close: %v with %d events, %d sessions, %d activities and %d alerts unflushed",
		e.Err, e.Events, e.Sessions, e.Activities, e.Alerts)
	if e.Last != nil {
		s += " (last store error: " + e.Last.Error() + ")"
	}
	return s
}

// Unwrap returns the context's error and the last store error.
func (e *UnflushedError) Unwrap() []error {
	if e.Last == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Last}
}

// runFlusher is the flusher goroutine: it flushes every FlushInterval, or
// sooner when a queue reaches BatchSize, and honours the retry backoff.
func (m *Monitor) runFlusher() {
	defer close(m.flusherDone)
	t := time.NewTimer(m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-m.kick:
		case <-t.C:
		}
		t.Reset(m.backgroundFlush())
	}
}

// backgroundFlush flushes unless the retry backoff says to wait, and
// returns how long to sleep before the next attempt.
func (m *Monitor) backgroundFlush() time.Duration {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	if !m.retryAt.IsZero() {
		if wait := m.retryAt.Sub(m.clock.Now()); wait > 0 {
			return min(wait, m.cfg.FlushInterval)
		}
	}
	if err := m.flushLocked(context.Background()); err != nil {
		return min(m.backoff, m.cfg.FlushInterval)
	}
	return m.cfg.FlushInterval
}

// Flush writes everything queued at the time of the call, ignoring the
// retry backoff, and returns the store errors met (the items stay queued and
// are retried). Hosts rarely need it: the flusher runs on its own. ctx
// bounds the store calls. After Close, Flush returns ErrClosed.
func (m *Monitor) Flush(ctx context.Context) error {
	m.closeMu.RLock()
	closed := m.closed
	m.closeMu.RUnlock()
	if closed {
		return ErrClosed
	}
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	return m.flushLocked(ctx)
}

// flushLocked writes alerts, events, sessions and activities; a failing kind
// does not hold back the others. It updates the backoff. The caller holds
// flushMu.
func (m *Monitor) flushLocked(ctx context.Context) error {
	start := time.Now()
	err := errors.Join(
		m.flushAlerts(ctx),
		m.flushEvents(ctx),
		m.flushSessions(ctx),
		m.flushActivities(ctx),
	)
	d := int64(time.Since(start))
	m.st.lastFlush.Store(d)
	if d > m.st.maxFlush.Load() {
		m.st.maxFlush.Store(d) // only the flush holder writes it
	}
	if err != nil {
		m.backoff = min(max(2*m.backoff, m.cfg.MinBackoff), m.cfg.MaxBackoff)
		m.retryAt = m.clock.Now().Add(m.backoff)
		m.setErr(err)
		m.log.LogAttrs(ctx, slog.LevelWarn, "secmon: flush failed; will retry",
			slog.Duration("backoff", m.backoff), slog.Any("error", err))
		return err
	}
	m.backoff, m.retryAt = 0, time.Time{}
	return nil
}

// storeCall runs fn with WriteTimeout on top of ctx.
func (m *Monitor) storeCall(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.WriteTimeout)
	defer cancel()
	return fn(ctx)
}

// flushEvents writes the events queued now in batches of BatchSize. A failed
// batch stays in heldEvents, with its IDs, and is retried first next time.
func (m *Monitor) flushEvents(ctx context.Context) error {
	limit := len(m.events) + len(m.heldEvents)
	for done := 0; done < limit; {
		if len(m.heldEvents) == 0 {
		fill:
			for len(m.heldEvents) < m.cfg.BatchSize {
				select {
				case e := <-m.events:
					m.heldEvents = append(m.heldEvents, e)
				default:
					break fill
				}
			}
			m.heldEventsN.Store(int64(len(m.heldEvents)))
			if len(m.heldEvents) == 0 {
				return nil
			}
		}
		if m.cfg.Geo != nil {
			m.enrichGeo(ctx, m.heldEvents)
		}
		err := m.storeCall(ctx, func(ctx context.Context) error { return m.store.InsertEvents(ctx, m.heldEvents) })
		if err != nil {
			m.st.eventsFailed.Add(1)
			return fmt.Errorf("secmon: insert %d events: %w", len(m.heldEvents), err)
		}
		n := len(m.heldEvents)
		m.st.eventsWritten.Add(uint64(n))
		m.st.batches.Add(1)
		clear(m.heldEvents)
		m.heldEvents = m.heldEvents[:0]
		m.heldEventsN.Store(0)
		done += n
	}
	return nil
}

// flushActivities is flushEvents for activities.
func (m *Monitor) flushActivities(ctx context.Context) error {
	limit := len(m.activities) + len(m.heldActivities)
	for done := 0; done < limit; {
		if len(m.heldActivities) == 0 {
		fill:
			for len(m.heldActivities) < m.cfg.BatchSize {
				select {
				case a := <-m.activities:
					m.heldActivities = append(m.heldActivities, a)
				default:
					break fill
				}
			}
			m.heldActsN.Store(int64(len(m.heldActivities)))
			if len(m.heldActivities) == 0 {
				return nil
			}
		}
		err := m.storeCall(ctx, func(ctx context.Context) error { return m.store.InsertActivities(ctx, m.heldActivities) })
		if err != nil {
			m.st.activitiesFailed.Add(1)
			return fmt.Errorf("secmon: insert %d activities: %w", len(m.heldActivities), err)
		}
		n := len(m.heldActivities)
		m.st.activitiesWritten.Add(uint64(n))
		m.st.batches.Add(1)
		clear(m.heldActivities)
		m.heldActivities = m.heldActivities[:0]
		m.heldActsN.Store(0)
		done += n
	}
	return nil
}

// flushSessions writes every pending session in one UpsertSessions call. On
// failure the beats go back into the pending map (newest still wins), so
// the next flush is again a single call.
func (m *Monitor) flushSessions(ctx context.Context) error {
	m.sessMu.Lock()
	batch := m.pendingSessions
	if len(batch) == 0 {
		m.sessMu.Unlock()
		return nil
	}
	m.pendingSessions, m.spareSessions = m.spareSessions, nil
	m.sessMu.Unlock()

	rows := m.sessionRows[:0]
	for _, b := range batch {
		rows = append(rows, b)
	}
	err := m.storeCall(ctx, func(ctx context.Context) error { return m.store.UpsertSessions(ctx, rows) })
	clear(rows)
	m.sessionRows = rows[:0]

	m.sessMu.Lock()
	defer m.sessMu.Unlock()
	if err != nil {
		for id, b := range batch {
			if cur, ok := m.pendingSessions[id]; !ok || cur.Time.Before(b.Time) {
				m.pendingSessions[id] = b
			}
		}
	}
	clear(batch)
	m.spareSessions = batch
	if err != nil {
		m.st.sessionsFailed.Add(1)
		return fmt.Errorf("secmon: upsert %d sessions: %w", len(rows), err)
	}
	m.st.sessionsWritten.Add(uint64(len(rows)))
	m.st.batches.Add(1)
	return nil
}

// enrichGeo fills Geo for events that have none, from the cache or, within
// GeoBudget for the whole batch, from the resolver.
func (m *Monitor) enrichGeo(ctx context.Context, events []Event) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.GeoBudget)
	defer cancel()
	for i := range events {
		e := &events[i]
		if !e.Geo.IsZero() || !e.IP.IsValid() {
			continue
		}
		m.geoMu.RLock()
		g, ok := m.geoCache[e.IP]
		m.geoMu.RUnlock()
		if !ok {
			if ctx.Err() != nil {
				continue // budget spent; later events from this address will try again
			}
			var cacheable bool
			g, cacheable = m.resolveGeo(ctx, e.IP)
			if !cacheable {
				continue
			}
		}
		e.Geo = g
	}
}

// resolveGeo asks the resolver and caches the answer (an ErrNotFound answer
// is cached as the zero Geo). It reports whether the answer is usable.
func (m *Monitor) resolveGeo(ctx context.Context, ip netip.Addr) (g Geo, ok bool) {
	m.st.geoLookups.Add(1)
	func() {
		defer func() {
			if r := recover(); r != nil {
				g, ok = Geo{}, false
				m.st.geoFailures.Add(1)
				m.setErr(fmt.Errorf("secmon: geo resolver panicked: %v", r))
			}
		}()
		var err error
		g, err = m.cfg.Geo.Resolve(ctx, ip)
		switch {
		case err == nil:
			ok = true
		case errors.Is(err, ErrNotFound):
			g, ok = Geo{}, true
		default:
			m.st.geoFailures.Add(1)
			m.log.LogAttrs(ctx, slog.LevelDebug, "secmon: geo lookup failed", slog.Any("error", err))
		}
	}()
	if !ok {
		return Geo{}, false
	}
	m.geoMu.Lock()
	if len(m.geoCache) >= m.cfg.GeoCacheSize {
		for k := range m.geoCache { // evict an arbitrary entry
			delete(m.geoCache, k)
			break
		}
	}
	m.geoCache[ip] = g
	m.geoMu.Unlock()
	return g, true
}

// pendingCounts reports what is still unwritten. The caller holds flushMu.
func (m *Monitor) pendingCounts() (events, sessions, activities, alerts int) {
	events = len(m.events) + len(m.heldEvents)
	activities = len(m.activities) + len(m.heldActivities)
	m.sessMu.Lock()
	sessions = len(m.pendingSessions)
	m.sessMu.Unlock()
	m.alertMu.Lock()
	for _, a := range m.alerts {
		if a.pending > 0 {
			alerts++
		}
	}
	m.alertMu.Unlock()
	return
}

// Close stops accepting calls (they return ErrClosed), stops the background
// goroutines, writes everything still queued (retrying a failing store with
// backoff) and waits for queued notifications. It returns nil once all is
// written. When ctx ends first it returns an *UnflushedError saying what is
// left; calling Close again retries the remainder. Close is idempotent and
// safe for concurrent use.
func (m *Monitor) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		m.closeMu.Lock()
		m.closed = true
		m.closeMu.Unlock()
		close(m.stop)
		m.bgCancel()
		<-m.flusherDone
		<-m.maintainDone
	})
	err := m.drain(ctx)
	if err != nil {
		m.notifyCancel() // abandon notifications still queued
	}
	m.stopNotifyOnce.Do(func() { close(m.stopNotifier) })
	<-m.notifierDone
	m.notifyCancel()
	return err
}

// drain flushes until nothing is pending or ctx ends.
func (m *Monitor) drain(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	var last error
	for {
		err := m.flushLocked(ctx)
		if err != nil {
			last = err
		}
		ev, se, ac, al := m.pendingCounts()
		if err == nil && ev+se+ac+al == 0 {
			return nil
		}
		if ctx.Err() == nil && err == nil {
			continue
		}
		if ctx.Err() == nil {
			if err == nil {
				continue
			}
			t := time.NewTimer(m.backoff)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
			}
		}
		return &UnflushedError{Events: ev, Sessions: se, Activities: ac, Alerts: al, Err: ctx.Err(), Last: last}
	}
}
