package secmon

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// enqueueDetect hands a copy of e to the detection worker. When the queue
// is full the event is counted in Stats.DetectDropped instead, and the
// drops are logged at most once a second; Log goes on either way.
func (m *Monitor) enqueueDetect(ctx context.Context, e *Event) {
	select {
	case m.detectCh <- *e:
		m.detectQueued.Add(1)
		return
	default:
	}
	n := m.st.detectDropped.Add(1)
	now := m.clock.Now().UnixNano()
	last := m.dropLogAt.Load()
	if d := now - last; (d >= int64(time.Second) || d < 0) && m.dropLogAt.CompareAndSwap(last, now) {
		since := n - m.dropLogged.Swap(n)
		err := fmt.Errorf("secmon: detection queue full; %d events not seen by the detector", since)
		m.setErr(err)
		m.log.LogAttrs(ctx, slog.LevelWarn, "secmon: detection queue full; events not seen by the detector",
			slog.Uint64("dropped", since), slog.Uint64("dropped_total", n), slog.Int("capacity", m.cfg.DetectQueue))
	}
}

// runDetector is the detection worker goroutine, started by New when the
// Detector runs off Log. It observes the queued events one at a time, in
// Log's order; once Close stops it, it finishes the queue and returns.
func (m *Monitor) runDetector() {
	defer close(m.detectDone)
	for {
		select {
		case e := <-m.detectCh:
			m.observeQueued(&e)
		case <-m.stop:
			for {
				select {
				case e := <-m.detectCh:
					m.observeQueued(&e)
				default:
					return
				}
			}
		}
	}
}

// observeQueued runs the Detector on one queued event, or drops it when
// Close has given up on the queue, and tells a waiting Flush.
func (m *Monitor) observeQueued(e *Event) {
	if m.detectCtx.Err() != nil {
		m.st.detectDropped.Add(1)
	} else {
		m.detect(m.detectCtx, e)
	}
	m.detectHandled.Add(1)
	if m.detectWaiters.Load() > 0 {
		m.detectMu.Lock()
		close(m.detectWake)
		m.detectWake = make(chan struct{})
		m.detectMu.Unlock()
	}
}

// waitDetection waits until the detection worker has handled every event
// Log handed it before the call, the worker has stopped, or ctx ends.
func (m *Monitor) waitDetection(ctx context.Context) error {
	if m.detectCh == nil {
		return nil
	}
	target := m.detectQueued.Load()
	m.detectWaiters.Add(1)
	defer m.detectWaiters.Add(-1)
	for {
		// Read the wake channel before the count: a worker that counts
		// after this check closes this very channel.
		m.detectMu.Lock()
		wake := m.detectWake
		m.detectMu.Unlock()
		if m.detectHandled.Load() >= target {
			return nil
		}
		select {
		case <-wake:
		case <-m.detectDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stopDetector waits for the detection worker, which Close has told to stop,
// to finish its queue. When ctx ends first, the worker's context is
// cancelled and the events it has not reached are dropped (counted in
// Stats.DetectDropped).
func (m *Monitor) stopDetector(ctx context.Context) {
	if m.detectCh == nil {
		return
	}
	select {
	case <-m.detectDone:
	case <-ctx.Done():
		m.detectCancel()
		<-m.detectDone
	}
}
