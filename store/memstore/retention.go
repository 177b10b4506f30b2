package memstore

import (
	"context"
	"time"

	"github.com/secmon-go/secmon"
)

// Purge removes, as of now, what p (after p.WithDefaults) no longer keeps:
// events and activity older than their periods; sessions whose later of
// LastSeen and RevokedAt is older than p.Sessions; resolved alerts whose
// LastSeen is older than p.Alerts; blocks that ended (Block.End) longer
// than p.Blocks ago. A negative period keeps that kind of row
// forever. Events and activity are cut by binary search.
func (s *Store) Purge(ctx context.Context, p secmon.RetentionPolicy, now time.Time) (secmon.PurgeResult, error) {
	if err := ctx.Err(); err != nil {
		return secmon.PurgeResult{}, err
	}
	if now.IsZero() {
		return secmon.PurgeResult{}, invalid("purge time is zero")
	}
	p = p.WithDefaults()
	var res secmon.PurgeResult
	if p.Events > 0 {
		cutoff := now.Add(-p.Events)
		s.evMu.Lock()
		k := s.events.search(func(e *secmon.Event) bool { return !e.Time.Before(cutoff) })
		s.events.dropFront(k)
		s.evMu.Unlock()
		res.Events = int64(k)
	}
	if p.Activity > 0 {
		cutoff := now.Add(-p.Activity)
		s.actMu.Lock()
		k := s.activities.search(func(a *secmon.Activity) bool { return !a.Time.Before(cutoff) })
		s.activities.dropFront(k)
		s.actMu.Unlock()
		res.Activities = int64(k)
	}
	if p.Sessions > 0 {
		cutoff := now.Add(-p.Sessions)
		s.sessMu.Lock()
		for _, x := range s.sessions {
			last := x.LastSeen
			if x.RevokedAt.After(last) {
				last = x.RevokedAt
			}
			if last.Before(cutoff) {
				s.removeSessionLocked(x, true)
				res.Sessions++
			}
		}
		s.sessMu.Unlock()
	}
	if p.Alerts > 0 {
		cutoff := now.Add(-p.Alerts)
		s.alertMu.Lock()
		for _, a := range s.alertByID {
			if a.Status == secmon.AlertResolved && a.LastSeen.Before(cutoff) {
				s.dropAlertLocked(a, true)
				res.Alerts++
			}
		}
		s.alertMu.Unlock()
	}
	if p.Blocks > 0 {
		res.Blocks = s.purgeBlocks(now.Add(-p.Blocks))
	}
	return res, nil
}

// Maintain implements secmon.Maintainer: it purges by p as of now. A
// memstore is never shared, so it never reports Skipped.
func (s *Store) Maintain(ctx context.Context, now time.Time, p secmon.RetentionPolicy) (secmon.MaintenanceResult, error) {
	res, err := s.Purge(ctx, p, now)
	return secmon.MaintenanceResult{Purged: res}, err
}

// EraseUser removes userID's events, sessions, activity, the alerts whose
// subject is the user (secmon.AlertAboutUser) and the blocks on the account
// (secmon.BlockOnUser, in force or not), the rows ExportUser writes, and
// returns how many rows went. Each removed block is announced to
// SubscribeBlocks callers, so guards stop enforcing it. Alerts about other
// subjects and blocks on addresses are kept: they hold no user ID. The
// empty user ID is invalid (it would match every anonymous event).
func (s *Store) EraseUser(ctx context.Context, userID string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, invalid("user ID is empty")
	}
	var n int64
	s.evMu.Lock()
	n += int64(s.events.filter(func(e *secmon.Event) bool { return e.UserID != userID }))
	s.evMu.Unlock()
	s.sessMu.Lock()
	for _, x := range s.byUser[userID] {
		s.removeSessionLocked(x, true)
		n++
	}
	s.sessMu.Unlock()
	s.actMu.Lock()
	n += int64(s.activities.filter(func(a *secmon.Activity) bool { return a.UserID != userID }))
	s.actMu.Unlock()
	s.alertMu.Lock()
	for _, a := range s.alertByID {
		if secmon.AlertAboutUser(a.Subject, userID) {
			s.dropAlertLocked(a, true)
			n++
		}
	}
	s.alertMu.Unlock()
	s.blockMu.Lock()
	for id, b := range s.blocks {
		if secmon.BlockOnUser(b, userID) {
			delete(s.blocks, id)
			s.announceBlockLocked(id)
			n++
		}
	}
	s.blockMu.Unlock()
	return n, nil
}
