package guard

import (
	"bytes"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/gaissmai/bart"
	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

// The state below is guarded by g.mu. Every change to it that Check must
// see ends with a new snapshot, published before g.mu is released.

// rebuildLocked builds the snapshot from scratch: the blocking lists'
// prefixes (one shared cell per list), then every block, the accounts, the
// observe lists and the allowlist.
func (g *Guard) rebuildLocked() {
	s := &snapshot{
		ips:      newTable[*cell](),
		users:    make(map[string]*cell),
		allow:    new(bart.Lite),
		observe:  newTable[*listRef](),
		caseSens: g.cfg.CaseSensitiveUsers,
	}
	for _, p := range g.allow {
		s.allow.Insert(p)
	}
	blocking := 0
	for _, name := range slices.Sorted(maps.Keys(g.lists)) {
		l := g.lists[name]
		if l.ref.block {
			shared := &cell{lists: []*listRef{l.ref}}
			if blocking == 0 {
				// The first list finds the table empty: plain inserts.
				for _, p := range l.prefixes {
					s.ips.Insert(p, shared)
				}
			} else {
				for _, p := range l.prefixes {
					s.ips.Modify(p, func(c *cell, ok bool) (*cell, bool) {
						if !ok {
							return shared, false
						}
						return &cell{blocks: c.blocks, lists: append(slices.Clip(c.lists), l.ref)}, false
					})
				}
			}
			blocking++
		} else {
			for _, p := range l.prefixes {
				s.observe.Modify(p, func(old *listRef, ok bool) (*listRef, bool) {
					if ok {
						return old, false
					}
					return l.ref, false
				})
			}
		}
	}
	for _, b := range g.blocks {
		switch b.Scope {
		case secmon.ScopeUser:
			s.users[b.UserID] = s.users[b.UserID].withBlock(b)
		default:
			s.ips.Modify(b.Prefix, func(c *cell, ok bool) (*cell, bool) { return c.withBlock(b), false })
		}
	}
	g.snap.Store(s)
}

// publishLocked applies changes to the current snapshot and publishes the
// result: each block in add is set (replacing one with its ID), each in
// remove taken out. Few changes are applied copy-on-write; many rebuild.
func (g *Guard) publishLocked(add, remove []*secmon.Block) {
	if len(add)+len(remove) == 0 {
		return
	}
	if len(add)+len(remove) > 64 {
		g.rebuildLocked()
		return
	}
	old := g.snap.Load()
	s := *old
	users := s.users
	usersCopied := false
	copyUsers := func() {
		if !usersCopied {
			users = maps.Clone(old.users)
			usersCopied = true
		}
	}
	for _, b := range remove {
		if b.Scope == secmon.ScopeUser {
			copyUsers()
			if c := users[b.UserID].withoutBlock(b.ID); c != nil {
				users[b.UserID] = c
			} else {
				delete(users, b.UserID)
			}
			continue
		}
		s.ips = s.ips.ModifyPersist(b.Prefix, func(c *cell, ok bool) (*cell, bool) {
			if !ok {
				return nil, true
			}
			n := c.withoutBlock(b.ID)
			return n, n == nil
		})
	}
	for _, b := range add {
		if b.Scope == secmon.ScopeUser {
			copyUsers()
			users[b.UserID] = users[b.UserID].withBlock(b)
			continue
		}
		s.ips = s.ips.ModifyPersist(b.Prefix, func(c *cell, ok bool) (*cell, bool) { return c.withBlock(b), false })
	}
	s.users = users
	g.snap.Store(&s)
}

// putLocked records b (a block not ended) in the state, replacing an
// earlier version with its ID, and returns the block to publish and the
// earlier version to unpublish (nil when there was none or it is the same
// prefix or account, which withBlock replaces).
func (g *Guard) putLocked(b secmon.Block) (added, removed *secmon.Block) {
	nb := &b
	if old, ok := g.blocks[b.ID]; ok {
		if old.Subject != b.Subject {
			g.unindexLocked(old)
			g.indexLocked(nb)
			removed = old
		}
	} else {
		g.indexLocked(nb)
	}
	g.blocks[b.ID] = nb
	if end := nb.End(); !end.IsZero() && (g.nextEnd.IsZero() || end.Before(g.nextEnd)) {
		g.nextEnd = end
	}
	return nb, removed
}

// dropLocked removes the block id from the state and returns it (nil when
// it was not there).
func (g *Guard) dropLocked(id uuid.UUID) *secmon.Block {
	b, ok := g.blocks[id]
	if !ok {
		return nil
	}
	delete(g.blocks, id)
	g.unindexLocked(b)
	return b
}

func (g *Guard) indexLocked(b *secmon.Block) {
	g.subjects[b.Subject] = append(g.subjects[b.Subject], b.ID)
}

func (g *Guard) unindexLocked(b *secmon.Block) {
	ids := slices.DeleteFunc(g.subjects[b.Subject], func(id uuid.UUID) bool { return id == b.ID })
	if len(ids) == 0 {
		delete(g.subjects, b.Subject)
	} else {
		g.subjects[b.Subject] = ids
	}
}

// inForceLocked returns a block in force at now on subject, if any.
func (g *Guard) inForceLocked(subject string, now time.Time) *secmon.Block {
	for _, id := range g.subjects[subject] {
		if b := g.blocks[id]; b != nil && !b.EndedAt(now) {
			return b
		}
	}
	return nil
}

// levelLocked returns the escalation level of a new block on subject
// decided at now: one more than the subject's latest block if that was
// decided within History, else 1.
func (g *Guard) levelLocked(subject string, now time.Time) int {
	h, ok := g.hist[subject]
	if !ok || now.Sub(h.created) > g.cfg.History || h.level < 1 {
		return 1
	}
	return min(h.level+1, secmon.MaxBlockLevel)
}

// rememberLocked records b in the escalation history when it is the
// subject's latest block. Lifted blocks are not history: the subject's
// level falls back to the one before.
func (g *Guard) rememberLocked(b *secmon.Block) {
	if b.Origin == secmon.OriginList {
		return
	}
	h, ok := g.hist[b.Subject]
	if !b.LiftedAt.IsZero() {
		if ok && h.id == b.ID {
			h.level--
			if h.level < 1 {
				delete(g.hist, b.Subject)
			} else {
				h.id = uuid.Nil
				g.hist[b.Subject] = h
			}
		}
		return
	}
	if ok && (h.created.After(b.Created) || h.id == b.ID) {
		return
	}
	if !ok && len(g.hist) >= g.cfg.MaxHistory {
		g.trimHistoryLocked(b.Created)
		if len(g.hist) >= g.cfg.MaxHistory {
			return
		}
	}
	g.hist[b.Subject] = histRec{level: b.Level, created: b.Created, id: b.ID}
}

// trimHistoryLocked forgets subjects whose latest block is older than
// History, and, when that frees too little, an arbitrary tenth of the rest.
func (g *Guard) trimHistoryLocked(now time.Time) {
	for k, h := range g.hist {
		if now.Sub(h.created) > g.cfg.History {
			delete(g.hist, k)
		}
	}
	if len(g.hist) < g.cfg.MaxHistory {
		return
	}
	n := max(1, len(g.hist)/10)
	for k := range g.hist { // map order is random
		delete(g.hist, k)
		if n--; n == 0 {
			break
		}
	}
}

// sweepLocked forgets blocks that have ended by now and history older
// than History, and republishes.
func (g *Guard) sweepLocked(now time.Time) {
	if !g.nextEnd.IsZero() && !now.Before(g.nextEnd) {
		var gone []*secmon.Block
		g.nextEnd = time.Time{}
		for id, b := range g.blocks {
			if b.EndedAt(now) {
				// A block still waiting to be written keeps its copy in
				// pending.
				gone = append(gone, g.dropLocked(id))
				continue
			}
			if end := b.End(); !end.IsZero() && (g.nextEnd.IsZero() || end.Before(g.nextEnd)) {
				g.nextEnd = end
			}
		}
		g.publishLocked(nil, gone)
	}
	if now.Sub(g.histSwept) > time.Hour {
		g.histSwept = now
		for k, h := range g.hist {
			if now.Sub(h.created) > g.cfg.History {
				delete(g.hist, k)
			}
		}
	}
}

// allowedPrefix reports whether p lies inside an allowlisted prefix.
func (g *Guard) allowedPrefix(p netip.Prefix) (netip.Prefix, bool) {
	for _, a := range g.allow {
		if a.Bits() <= p.Bits() && a.Addr().BitLen() == p.Addr().BitLen() && a.Contains(p.Addr()) {
			return a, true
		}
	}
	return netip.Prefix{}, false
}

// activeLocked returns the blocks held, newest first.
func (g *Guard) activeLocked() []secmon.Block {
	out := make([]secmon.Block, 0, len(g.blocks))
	for _, b := range g.blocks {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b secmon.Block) int { return bytes.Compare(b.ID[:], a.ID[:]) })
	return out
}
