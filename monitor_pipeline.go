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

// Error counts what Close could not write before its context ended.
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
	if m.lockFlush(m.flushCtx) != nil {
		return m.cfg.FlushInterval // Close gave up; the loop is stopping
	}
	defer m.unlockFlush()
	if !m.retryAt.IsZero() {
		if wait := m.retryAt.Sub(m.clock.Now()); wait > 0 {
			return min(wait, m.cfg.FlushInterval)
		}
	}
	if err := m.flushLocked(m.flushCtx); err != nil {
		return min(m.backoff, m.cfg.FlushInterval)
	}
	return m.cfg.FlushInterval
}

// Flush writes everything queued at the time of the call, ignoring the
// retry backoff, and returns the store errors met (the items stay queued and
// are retried). When the Detector runs on the detection worker, Flush first
// waits for the worker to observe the events logged before the call, so the
// alerts their findings raise are written too. Hosts rarely need it: the
// flusher runs on its own. ctx bounds the wait and the store calls. After
// Close, Flush returns ErrClosed.
func (m *Monitor) Flush(ctx context.Context) error {
	m.closeMu.RLock()
	closed := m.closed
	m.closeMu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := m.waitDetection(ctx); err != nil {
		return err
	}
	if err := m.lockFlush(ctx); err != nil {
		return err
	}
	defer m.unlockFlush()
	return m.flushLocked(ctx)
}

// lockFlush takes flushSem, or gives up when ctx ends.
func (m *Monitor) lockFlush(ctx context.Context) error {
	select {
	case m.flushSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Monitor) unlockFlush() { <-m.flushSem }

// flushLocked writes alerts, events, sessions and activities; a failing kind
// does not hold back the others. It updates the backoff. The caller holds
// flushSem.
func (m *Monitor) flushLocked(ctx context.Context) error {
	start, batches, fails := time.Now(), m.st.batches.Load(), m.failures()
	// The retry time counts from the clock as it was before the writes: a
	// reading taken after a failure would move with any clock step made
	// while the failure was being handled, and could put the retry past a
	// time the clock (a test's fake one, say) may never reach.
	attempt := m.clock.Now()
	err := errors.Join(
		m.flushAlerts(ctx),
		m.flushEvents(ctx),
		m.flushSessions(ctx),
		m.flushActivities(ctx),
	)
	if m.st.batches.Load() != batches || m.failures() != fails { // a flush that did something
		d := int64(time.Since(start))
		m.st.lastFlush.Store(d)
		if d > m.st.maxFlush.Load() {
			m.st.maxFlush.Store(d) // only the flush holder writes it
		}
	}
	if err != nil {
		m.backoff = min(max(2*m.backoff, m.cfg.MinBackoff), m.cfg.MaxBackoff)
		m.retryAt = attempt.Add(m.backoff)
		m.setErr(err)
		m.log.LogAttrs(ctx, slog.LevelWarn, "secmon: flush failed; will retry",
			slog.Duration("backoff", m.backoff), slog.Any("error", err))
		return err
	}
	m.backoff, m.retryAt = 0, time.Time{}
	return nil
}

func (m *Monitor) failures() uint64 {
	return m.st.eventsFailed.Load() + m.st.sessionsFailed.Load() + m.st.activitiesFailed.Load() + m.st.alertsFail.Load()
}

// storeCall runs fn with WriteTimeout on top of ctx.
func (m *Monitor) storeCall(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.WriteTimeout)
	defer cancel()
	return fn(ctx)
}

type rowOutcome uint8

const (
	rowRetry    rowOutcome = iota // not written; keep for the next attempt
	rowWritten                    // the store accepted it
	rowRejected                   // the store refused it as invalid; dropped, counted and logged
)

// writeRows writes rows in one store call. When the store refuses the batch
// as invalid (an error matching ErrInvalid), retrying it would fail forever,
// so writeRows writes the rows one at a time: rows refused again as invalid
// are rejected, the others written or kept for retry. It returns nil
// outcomes when the single call decided for every row (all written when err
// is nil, all kept otherwise), else one outcome per row; err is the first
// error that is not a rejection.
func writeRows[T any](m *Monitor, ctx context.Context, kind string, rows []T, write func(context.Context, []T) error) ([]rowOutcome, error) {
	err := m.storeCall(ctx, func(ctx context.Context) error { return write(ctx, rows) })
	if err == nil || !errors.Is(err, ErrInvalid) {
		return nil, err
	}
	out := make([]rowOutcome, len(rows))
	var first error
	for i := range rows {
		e := err
		if len(rows) > 1 {
			e = m.storeCall(ctx, func(ctx context.Context) error { return write(ctx, rows[i:i+1]) })
		}
		switch {
		case e == nil:
			out[i] = rowWritten
		case errors.Is(e, ErrInvalid):
			out[i] = rowRejected
			m.setErr(e)
			m.log.LogAttrs(ctx, slog.LevelError, "secmon: store rejected a "+kind+"; dropped", slog.Any("error", e))
		default:
			out[i] = rowRetry
			if first == nil {
				first = e
			}
		}
	}
	return out, first
}

// outcome is row i's outcome from writeRows' results.
func outcome(out []rowOutcome, err error, i int) rowOutcome {
	switch {
	case out != nil:
		return out[i]
	case err == nil:
		return rowWritten
	}
	return rowRetry
}

// compact keeps the rows to retry at the front of rows, zeroes the rest, and
// counts the written and rejected ones.
func compact[T any](rows []T, out []rowOutcome, err error) (keep []T, written, rejected int) {
	n := 0
	for i := range rows {
		switch outcome(out, err, i) {
		case rowWritten:
			written++
		case rowRejected:
			rejected++
		default:
			rows[n] = rows[i]
			n++
		}
	}
	clear(rows[n:])
	return rows[:n], written, rejected
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
				case q := <-m.events:
					m.heldEvents = append(m.heldEvents, q.Event)
					if m.geoCache != nil {
						m.heldRaw = append(m.heldRaw, q.rawIP)
					}
				default:
					break fill
				}
			}
			m.heldEventsN.Store(int64(len(m.heldEvents)))
			if len(m.heldEvents) == 0 {
				return nil
			}
			if m.geoCache != nil {
				m.enrichGeo(ctx, m.heldEvents, m.heldRaw)
				clear(m.heldRaw)
				m.heldRaw = m.heldRaw[:0]
			}
		}
		n := len(m.heldEvents)
		out, err := writeRows(m, ctx, "event", m.heldEvents, m.store.InsertEvents)
		var written, rejected int
		m.heldEvents, written, rejected = compact(m.heldEvents, out, err)
		m.heldEventsN.Store(int64(len(m.heldEvents)))
		m.st.eventsWritten.Add(uint64(written))
		m.st.eventsRejected.Add(uint64(rejected))
		if written > 0 {
			m.st.batches.Add(1)
		}
		if err != nil {
			m.st.eventsFailed.Add(1)
			return fmt.Errorf("secmon: insert %d events: %w", n, err)
		}
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
		n := len(m.heldActivities)
		out, err := writeRows(m, ctx, "activity", m.heldActivities, m.store.InsertActivities)
		var written, rejected int
		m.heldActivities, written, rejected = compact(m.heldActivities, out, err)
		m.heldActsN.Store(int64(len(m.heldActivities)))
		m.st.activitiesWritten.Add(uint64(written))
		m.st.activitiesRejected.Add(uint64(rejected))
		if written > 0 {
			m.st.batches.Add(1)
		}
		if err != nil {
			m.st.activitiesFailed.Add(1)
			return fmt.Errorf("secmon: insert %d activities: %w", n, err)
		}
		done += n
	}
	return nil
}

// flushSessions writes every pending session in one UpsertSessions call. On
// failure the beats are marked pending again (the newest still wins), so the
// next flush is again a single call.
func (m *Monitor) flushSessions(ctx context.Context) error {
	m.sessMu.Lock()
	list := m.pendingList
	if len(list) == 0 {
		m.sessMu.Unlock()
		return nil
	}
	m.pendingList = m.spareList[:0]
	rows := m.sessionRows[:0]
	for _, e := range list {
		rows = append(rows, e.beat)
		e.pending, e.inflight = false, true
	}
	m.sessMu.Unlock()

	n := len(rows)
	out, err := writeRows(m, ctx, "session", rows, m.store.UpsertSessions)

	// The entries in flight were neither evicted nor uncounted meanwhile:
	// a failed beat goes back to its own entry (the newest still wins), and
	// the others stop being held unless a newer beat made them pending.
	m.sessMu.Lock()
	for i, e := range list {
		if outcome(out, err, i) == rowRetry {
			start := earliest(e.beat.StartedAt, rows[i].StartedAt)
			if e.beat.Time.Before(rows[i].Time) {
				e.beat = rows[i]
			}
			e.beat.StartedAt = start
			if !e.pending {
				e.pending = true
				m.pendingList = append(m.pendingList, e)
			}
		}
		e.inflight = false
		if !e.pending {
			m.sessHeld--
		}
	}
	m.sessMu.Unlock()
	clear(list)
	m.spareList = list[:0]
	retry, written, rejected := compact(rows, out, err)
	clear(retry)
	m.sessionRows = rows[:0]

	m.st.sessionsWritten.Add(uint64(written))
	m.st.sessionsRejected.Add(uint64(rejected))
	if written > 0 {
		m.st.batches.Add(1)
	}
	if err != nil {
		m.st.sessionsFailed.Add(1)
		return fmt.Errorf("secmon: upsert %d sessions: %w", n, err)
	}
	return nil
}

// enrichGeo fills Geo for events that have none, from the cache or, within
// GeoBudget for the whole batch, from the resolver. raw[i] is events[i]'s
// address before the privacy policy.
func (m *Monitor) enrichGeo(ctx context.Context, events []Event, raw []netip.Addr) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.GeoBudget)
	defer cancel()
	for i := range events {
		e := &events[i]
		if !e.Geo.IsZero() || !raw[i].IsValid() {
			continue
		}
		m.geoMu.RLock()
		g, ok := m.geoCache[raw[i]]
		m.geoMu.RUnlock()
		if !ok {
			if ctx.Err() != nil {
				continue // budget spent; later events from this address will try again
			}
			var cacheable bool
			g, cacheable = m.resolveGeo(ctx, raw[i])
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

// pendingCounts reports what is still unwritten.
func (m *Monitor) pendingCounts() (events, sessions, activities, alerts int) {
	events = len(m.events) + int(m.heldEventsN.Load())
	activities = len(m.activities) + int(m.heldActsN.Load())
	m.sessMu.Lock()
	sessions = len(m.pendingList)
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

// Close stops accepting calls (they return ErrClosed), lets the detection
// worker (if any) observe every event still in its queue, stops the
// background goroutines, writes everything still queued, the alerts raised
// by those last findings included (retrying a failing store with backoff),
// and waits for queued notifications. It returns nil once all is written.
// When ctx ends first it returns an *UnflushedError saying what is left;
// calling Close again retries the remainder, but events the detection
// worker had not reached by then are never observed (they are counted in
// Stats.DetectDropped). Close is idempotent and safe for concurrent use, but
// must not be called from a Notifier or an alert subscriber, whose goroutine
// it waits for.
func (m *Monitor) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		m.closeMu.Lock()
		m.closed = true
		m.closeMu.Unlock()
		close(m.stop)
		m.bgCancel()
		m.stopDetector(ctx) // before the final drain, which writes its alerts
		select {
		case <-m.flusherDone:
		case <-ctx.Done():
			m.flushCancel() // abort a write in progress; drain reports what is left
			<-m.flusherDone
		}
		<-m.maintainDone
	})
	err := m.drain(ctx)
	if err != nil {
		m.notifyCancel() // abandon notifications still queued
	}
	m.stopNotifyOnce.Do(func() { close(m.stopNotifier) })
	<-m.notifierDone
	m.notifyCancel()
	m.flushCancel()
	if m.detectCancel != nil {
		m.detectCancel()
	}
	return err
}

// drain flushes until nothing is pending or ctx ends.
func (m *Monitor) drain(ctx context.Context) error {
	if err := m.lockFlush(ctx); err != nil {
		ev, se, ac, al := m.pendingCounts()
		return &UnflushedError{Events: ev, Sessions: se, Activities: ac, Alerts: al, Err: err}
	}
	defer m.unlockFlush()
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
