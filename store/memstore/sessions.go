package memstore

import (
	"cmp"
	"container/heap"
	"context"
	"time"

	"github.com/secmon-go/secmon"
)

type session struct {
	secmon.Session
	idx int // position in sessionHeap
}

// sessionHeap orders sessions by LastSeen, least recent first, for eviction.
type sessionHeap []*session

func (h sessionHeap) Len() int           { return len(h) }
func (h sessionHeap) Less(i, j int) bool { return h[i].LastSeen.Before(h[j].LastSeen) }
func (h sessionHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *sessionHeap) Push(x any) {
	s := x.(*session)
	s.idx = len(*h)
	*h = append(*h, s)
}
func (h *sessionHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}

// UpsertSessions stores the newest beat of each session: LastSeen, IP,
// UserAgent, Fingerprint, Geo, OrgID and UserID come from the beat with the
// latest Time (a later beat with an equal Time also wins), and StartedAt is
// the earliest start seen (SessionBeat.Start: StartedAt, or Time). Beats may arrive out of order, within a batch or
// across batches. A revoked session stays revoked. When MaxSessions is
// reached, a new session evicts the least recently seen one (counted in
// Stats). The batch is validated first and rejected whole on a bad beat.
func (s *Store) UpsertSessions(ctx context.Context, beats []secmon.SessionBeat) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range beats {
		if err := checkBeat(&beats[i]); err != nil {
			return err
		}
	}
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	for i := range beats {
		b := beats[i]
		b.Time = wall(b.Time)
		start := wall(b.Start())
		cur, ok := s.sessions[b.SessionID]
		if !ok {
			if len(s.sessions) >= s.cfg.MaxSessions {
				victim := heap.Pop(&s.sessLRU).(*session)
				s.removeSessionLocked(victim, false)
				s.evictedSessions.Add(1)
			}
			cur = &session{Session: secmon.Session{SessionID: b.SessionID, StartedAt: start, LastSeen: b.Time}}
			s.sessions[b.SessionID] = cur
			heap.Push(&s.sessLRU, cur)
			s.setSessionFields(cur, &b)
			continue
		}
		if start.Before(cur.StartedAt) {
			cur.StartedAt = start
		}
		if !b.Time.Before(cur.LastSeen) {
			s.setSessionFields(cur, &b)
			heap.Fix(&s.sessLRU, cur.idx)
		}
	}
	return nil
}

// setSessionFields copies b's fields into cur and keeps byUser current. The
// caller holds sessMu.
func (s *Store) setSessionFields(cur *session, b *secmon.SessionBeat) {
	if cur.UserID != b.UserID {
		s.unindexUser(cur)
		cur.UserID = b.UserID
		m := s.byUser[cur.UserID]
		if m == nil {
			m = make(map[string]*session)
			s.byUser[cur.UserID] = m
		}
		m[cur.SessionID] = cur
	}
	cur.OrgID, cur.IP, cur.UserAgent, cur.Fingerprint, cur.Geo = b.OrgID, b.IP, b.UserAgent, b.Fingerprint, b.Geo
	cur.LastSeen = b.Time
}

func (s *Store) unindexUser(cur *session) {
	if m := s.byUser[cur.UserID]; m != nil {
		delete(m, cur.SessionID)
		if len(m) == 0 {
			delete(s.byUser, cur.UserID)
		}
	}
}

// removeSessionLocked deletes cur from every index; fromHeap says whether it
// is still in the heap.
func (s *Store) removeSessionLocked(cur *session, fromHeap bool) {
	if fromHeap {
		heap.Remove(&s.sessLRU, cur.idx)
	}
	delete(s.sessions, cur.SessionID)
	s.unindexUser(cur)
}

// ActiveSessions returns sessions that are not revoked, by LastSeen
// descending (ties by SessionID).
func (s *Store) ActiveSessions(ctx context.Context, q secmon.SessionQuery) ([]secmon.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := clampLimit(q.Limit)
	top := newTopK(limit, func(a, b *session) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return cmp.Compare(a.SessionID, b.SessionID)
	})
	s.sessMu.RLock()
	add := func(x *session) {
		if !x.Revoked() && !x.LastSeen.Before(q.Since) {
			top.add(x)
		}
	}
	if q.UserID != "" {
		for _, x := range s.byUser[q.UserID] {
			add(x)
		}
	} else {
		for _, x := range s.sessions {
			add(x)
		}
	}
	cands := top.sorted()
	out := make([]secmon.Session, len(cands))
	for i, x := range cands {
		out[i] = x.Session
	}
	s.sessMu.RUnlock()
	return out, nil
}

// RevokeSession marks a session revoked at at. Revoking a revoked session
// keeps the first revocation time. ErrNotFound when there is no such
// session; a zero at is invalid.
func (s *Store) RevokeSession(ctx context.Context, sessionID string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if at.IsZero() {
		return invalid("revocation time is zero")
	}
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	cur, ok := s.sessions[sessionID]
	if !ok {
		return secmon.ErrNotFound
	}
	if !cur.Revoked() {
		cur.RevokedAt = wall(at)
	}
	return nil
}
