package memstore

import (
	"bytes"
	"container/heap"
	"context"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

type pair struct {
	rule    secmon.RuleName
	subject string
}

type alertRec struct {
	secmon.Alert
	idx int // position in alertHeap
}

// alertHeap orders alerts for eviction: closed before open, then least
// recently seen first.
type alertHeap []*alertRec

func (h alertHeap) Len() int { return len(h) }
func (h alertHeap) Less(i, j int) bool {
	oi, oj := h[i].Status == secmon.AlertOpen, h[j].Status == secmon.AlertOpen
	if oi != oj {
		return !oi
	}
	return h[i].LastSeen.Before(h[j].LastSeen)
}
func (h alertHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *alertHeap) Push(x any) {
	a := x.(*alertRec)
	a.idx = len(*h)
	*h = append(*h, a)
}
func (h *alertHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return a
}

// UpsertAlerts merges each alert, in order, into the open alert with the
// same (Rule, Subject), including one opened earlier in the same batch:
// Count is added (zero counts as one), LastSeen and Severity never decrease,
// and Summary, Evidence and Action are replaced only by a finding whose
// LastSeen is not older than the stored one; ID and FirstSeen are kept.
// Without an open alert for the pair, a new open alert is stored with the
// given ID and FirstSeen (LastSeen when zero); the input Status is ignored.
// The ID is replaced by a fresh one when it is zero or already taken, as
// when a Monitor still holds the ID of an alert that was resolved since. When MaxAlerts is reached, a new alert evicts the
// least recently seen closed alert (or open one, when all are open).
//
// The batch is validated first and rejected whole when an alert is unfit. Each alert opened or
// changed is announced once to subscribers, in its final state.
func (s *Store) UpsertAlerts(ctx context.Context, alerts []secmon.Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range alerts {
		if err := checkAlert(&alerts[i]); err != nil {
			return err
		}
	}
	if len(alerts) == 0 {
		return nil
	}
	s.alertMu.Lock()
	defer s.alertMu.Unlock()
	var changed []*alertRec
	seen := make(map[*alertRec]bool, len(alerts))
	for i := range alerts {
		a := alerts[i]
		a.FirstSeen, a.LastSeen = wall(a.FirstSeen), wall(a.LastSeen)
		if a.Count == 0 {
			a.Count = 1
		}
		if a.FirstSeen.IsZero() {
			a.FirstSeen = a.LastSeen
		}
		key := pair{a.Rule, a.Subject}
		cur, ok := s.openAlert[key]
		if ok {
			cur.Count += a.Count
			cur.Severity = max(cur.Severity, a.Severity)
			if !a.LastSeen.Before(cur.LastSeen) {
				cur.LastSeen = a.LastSeen
				cur.Summary = a.Summary
				cur.Evidence = cloneMap(a.Evidence)
				cur.Action = a.Action
			}
			heap.Fix(&s.alertLRU, cur.idx)
		} else {
			if len(s.alertByID) >= s.cfg.MaxAlerts {
				s.evictAlertLocked()
			}
			if _, taken := s.alertByID[a.ID]; taken || a.ID == uuid.Nil {
				a.ID = secmon.NewID()
			}
			a.Status = secmon.AlertOpen
			a.Evidence = cloneMap(a.Evidence)
			cur = &alertRec{Alert: a}
			s.alertByID[a.ID] = cur
			s.openAlert[key] = cur
			heap.Push(&s.alertLRU, cur)
		}
		if !seen[cur] {
			seen[cur] = true
			changed = append(changed, cur)
		}
	}
	for _, c := range changed {
		if s.alertByID[c.ID] == c { // not evicted later in the batch
			s.announceLocked(c.Alert)
		}
	}
	return nil
}

func (s *Store) evictAlertLocked() {
	victim := heap.Pop(&s.alertLRU).(*alertRec)
	s.dropAlertLocked(victim, false)
	s.evictedAlerts.Add(1)
}

// dropAlertLocked deletes a from every index; fromHeap says whether it is
// still in the heap.
func (s *Store) dropAlertLocked(a *alertRec, fromHeap bool) {
	if fromHeap {
		heap.Remove(&s.alertLRU, a.idx)
	}
	delete(s.alertByID, a.ID)
	if key := (pair{a.Rule, a.Subject}); s.openAlert[key] == a {
		delete(s.openAlert, key)
	}
}

// Alerts returns matching alerts, most recently seen first (ties by ID
// descending). Returned Evidence maps are copies.
func (s *Store) Alerts(ctx context.Context, q secmon.AlertQuery) ([]secmon.Alert, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Status != "" && !q.Status.Valid() {
		return nil, invalid("unknown alert status %q", truncate(string(q.Status)))
	}
	if !q.MinSeverity.Valid() {
		return nil, invalid("MinSeverity %d is out of range", uint8(q.MinSeverity))
	}
	top := newTopK(clampLimit(q.Limit), func(a, b *alertRec) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
	match := func(a *alertRec) bool {
		return (q.Status == "" || a.Status == q.Status) &&
			(q.Rule == "" || a.Rule == q.Rule) &&
			(q.Subject == "" || a.Subject == q.Subject) &&
			a.Severity >= q.MinSeverity &&
			!a.LastSeen.Before(q.Since)
	}
	s.alertMu.RLock()
	if q.Status == secmon.AlertOpen && q.Rule != "" && q.Subject != "" {
		if a, ok := s.openAlert[pair{q.Rule, q.Subject}]; ok && match(a) {
			top.add(a)
		}
	} else {
		for _, a := range s.alertByID {
			if match(a) {
				top.add(a)
			}
		}
	}
	cands := top.sorted()
	out := make([]secmon.Alert, len(cands))
	for i, a := range cands {
		out[i] = a.Alert
		out[i].Evidence = cloneMap(a.Evidence)
	}
	s.alertMu.RUnlock()
	return out, nil
}

// SetAlertStatus moves an alert to status. ErrNotFound when the ID is
// unknown; an invalid status is an error matching secmon.ErrInvalid, and so
// is reopening an alert while another alert for its (Rule, Subject) is open.
// A change is announced to subscribers.
func (s *Store) SetAlertStatus(ctx context.Context, id uuid.UUID, status secmon.AlertStatus) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !status.Valid() {
		return invalid("unknown alert status %q", truncate(string(status)))
	}
	s.alertMu.Lock()
	defer s.alertMu.Unlock()
	a, ok := s.alertByID[id]
	if !ok {
		return secmon.ErrNotFound
	}
	if a.Status == status {
		return nil
	}
	key := pair{a.Rule, a.Subject}
	switch {
	case status == secmon.AlertOpen:
		if other, ok := s.openAlert[key]; ok && other != a {
			return invalid("another alert (%s) is open for this rule and subject", other.ID)
		}
		s.openAlert[key] = a
	case a.Status == secmon.AlertOpen:
		delete(s.openAlert, key)
	}
	a.Status = status
	heap.Fix(&s.alertLRU, a.idx)
	s.announceLocked(a.Alert)
	return nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
