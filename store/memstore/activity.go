package memstore

import (
	"bytes"
	"context"

	"github.com/secmon-go/secmon"
)

func cmpActivity(a, b *secmon.Activity) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// InsertActivities stores a batch, validated first and rejected whole when a
// row has a zero ID or Time, no UserID or Action, or a field beyond the size
// limits. A row whose ID is already stored with the same Time is skipped.
// When MaxActivities is reached the oldest rows are evicted and counted.
func (s *Store) InsertActivities(ctx context.Context, activities []secmon.Activity) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(activities) == 0 {
		return nil
	}
	batch := make([]secmon.Activity, len(activities))
	for i := range activities {
		if err := checkActivity(&activities[i]); err != nil {
			return err
		}
		batch[i] = activities[i]
		batch[i].Time = wall(activities[i].Time)
		batch[i].Metadata = cloneMap(activities[i].Metadata)
	}
	batch = sortBatch(batch, cmpActivity)

	s.actMu.Lock()
	_, evicted := insertSorted(&s.activities, batch, cmpActivity)
	s.actMu.Unlock()
	if evicted > 0 {
		s.evictedActivities.Add(uint64(evicted))
	}
	return nil
}

// Activities returns matching rows, newest first (ties by ID descending).
func (s *Store) Activities(ctx context.Context, q secmon.ActivityQuery) ([]secmon.Activity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkRange(q.From, q.To); err != nil {
		return nil, err
	}
	limit := clampLimit(q.Limit)

	s.actMu.RLock()
	defer s.actMu.RUnlock()
	r := &s.activities
	lo, hi := 0, r.len()
	if !q.From.IsZero() {
		lo = r.search(func(a *secmon.Activity) bool { return !a.Time.Before(q.From) })
	}
	if !q.To.IsZero() {
		hi = max(lo, r.search(func(a *secmon.Activity) bool { return !a.Time.Before(q.To) }))
	}
	var out []secmon.Activity
	for i := hi - 1; i >= lo && len(out) < limit; i-- {
		a := r.at(i)
		if (q.UserID == "" || a.UserID == q.UserID) && (q.Action == "" || a.Action == q.Action) {
			c := *a
			c.Metadata = cloneMap(a.Metadata)
			out = append(out, c)
		}
	}
	return out, nil
}
