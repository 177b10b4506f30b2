package memstore

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/secmon-go/secmon"
)

func cmpEvent(a, b *secmon.Event) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// InsertEvents stores a batch. The batch is validated first and rejected
// whole (an error matching secmon.ErrInvalid) when one event is unfit: a zero
// ID or Time, a failed Event.Validate, or a field beyond the size limits the
// PrivacyPolicy guarantees. An event whose ID is already stored with the same
// Time is skipped, so a retried batch is harmless. When MaxEvents is reached
// the oldest events (by Time) are evicted and counted in Stats. Metadata is
// copied; the caller may reuse its maps.
func (s *Store) InsertEvents(ctx context.Context, events []secmon.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	batch := make([]secmon.Event, len(events))
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			return err
		}
		batch[i] = events[i]
		batch[i].Time = wall(events[i].Time)
		batch[i].Metadata = cloneMap(events[i].Metadata)
	}
	batch = sortBatch(batch, cmpEvent)

	s.evMu.Lock()
	_, evicted := insertSorted(&s.events, batch, cmpEvent)
	s.evMu.Unlock()
	if evicted > 0 {
		s.evictedEvents.Add(uint64(evicted))
	}
	return nil
}

// QueryEvents returns matching events, newest first (ties by ID
// descending). It finds the time range, and the position of a Before
// cursor, by binary search, so a query for a recent range or the next page
// reads only that part. Returned Metadata maps are copies.
func (s *Store) QueryEvents(ctx context.Context, q secmon.EventQuery) ([]secmon.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkRange(q.From, q.To); err != nil {
		return nil, err
	}
	if !q.MinSeverity.Valid() {
		return nil, invalid("MinSeverity %d is out of range", uint8(q.MinSeverity))
	}
	limit := clampLimit(q.Limit)
	match := func(e *secmon.Event) bool {
		switch {
		case e.Severity < q.MinSeverity,
			q.UserID != "" && e.UserID != q.UserID,
			q.SessionID != "" && e.SessionID != q.SessionID,
			q.OrgID != "" && e.OrgID != q.OrgID,
			len(q.Types) > 0 && !slices.Contains(q.Types, e.Type),
			q.IP.IsValid() && !q.IP.Contains(e.IP):
			return false
		}
		return true
	}

	s.evMu.RLock()
	defer s.evMu.RUnlock()
	lo, hi := s.eventRange(q.From, q.To)
	if !q.Before.IsZero() {
		c := secmon.Event{Time: q.Before.Time, ID: q.Before.ID}
		hi = max(lo, min(hi, s.events.search(func(e *secmon.Event) bool { return cmpEvent(e, &c) >= 0 })))
	}
	var out []secmon.Event
	if q.UserID == "" && q.SessionID == "" && q.OrgID == "" && len(q.Types) == 0 && !q.IP.IsValid() && q.MinSeverity == 0 {
		out = make([]secmon.Event, 0, min(limit, hi-lo)) // every row in range matches
	}
	for i := hi - 1; i >= lo && len(out) < limit; i-- {
		e := s.events.at(i)
		if match(e) {
			c := *e
			c.Metadata = cloneMap(e.Metadata)
			out = append(out, c)
		}
	}
	return out, nil
}

// eventRange returns the index range [lo, hi) of events with Time in
// [from, to); a zero bound does not limit. The caller holds evMu.
func (s *Store) eventRange(from, to time.Time) (lo, hi int) {
	hi = s.events.len()
	if !from.IsZero() {
		lo = s.events.search(func(e *secmon.Event) bool { return !e.Time.Before(from) })
	}
	if !to.IsZero() {
		hi = s.events.search(func(e *secmon.Event) bool { return !e.Time.Before(to) })
	}
	return lo, max(lo, hi)
}
