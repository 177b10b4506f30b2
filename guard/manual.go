package guard

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// Block adds a block decided by an operator or by the host's own code, and
// returns it as stored. From b it takes what to block and how long:
//
//   - an account: UserID (normalised like detect.UserKey), scope user;
//   - an address or prefix: Prefix (an address is Prefix.Addr() with its
//     full length). A single IPv4 address, or any prefix of one IPv6 /64
//     (a single IPv6 address included), becomes a block on its IP group
//     (scope ip, so an attacker rotating inside the /64 stays blocked);
//     a wider prefix stays a prefix block. IPv4-mapped prefixes are read
//     as IPv4; host bits are masked.
//   - Until: when it ends; zero means until lifted. It must be after now.
//
// Reason and By say why and who (By defaults to "operator"); Origin
// defaults to manual (rule is accepted, for a host's own automatic
// decisions; list is not). ID (when zero), Scope, Subject and Created are
// filled, and Level when zero: one more than the subject's latest block
// within History, as for a rule's block. A Scope or Subject that b carries must
// agree with what is blocked.
//
// The block is enforced here before Block returns and written to the store
// in the background (retried while the store fails), from where every
// instance enforces it; it is logged as ip_blocked. An allowlisted subject
// is refused with an *AllowlistedError (errors.Is ErrAllowlisted); a full
// guard with ErrCapacity; an invalid b with an error matching
// secmon.ErrInvalid; after Close, secmon.ErrClosed.
func (g *Guard) Block(ctx context.Context, b secmon.Block) (secmon.Block, error) {
	if g.closed.Load() {
		return secmon.Block{}, secmon.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return secmon.Block{}, err
	}
	now := g.now()
	asked := normPrefix(b.Prefix)
	if err := g.fillManual(&b, now); err != nil {
		return secmon.Block{}, err
	}
	if b.Scope == secmon.ScopeUser {
		if g.allowUsers[b.UserID] {
			g.st.refusedAllow.Add(1)
			return secmon.Block{}, &AllowlistedError{Subject: b.Subject}
		}
	} else {
		// The prefix asked for, before it was widened to its IP group,
		// counts too: blocking ::1 must not become blocking ::/64.
		by, ok := g.allowedPrefix(b.Prefix)
		if !ok {
			by, ok = g.allowedPrefix(asked)
		}
		if ok {
			g.st.refusedAllow.Add(1)
			return secmon.Block{}, &AllowlistedError{Subject: b.Subject, By: by}
		}
	}
	g.mu.Lock()
	if b.Level == 0 {
		b.Level = g.levelLocked(b.Subject, now)
	}
	if err := b.Validate(); err != nil {
		g.mu.Unlock()
		return secmon.Block{}, fmt.Errorf("guard: Block: %w", err)
	}
	if !g.roomLocked(now) {
		g.mu.Unlock()
		g.st.refusedCap.Add(1)
		return secmon.Block{}, ErrCapacity
	}
	g.commitLocked(&b)
	g.mu.Unlock()
	g.st.manual.Add(1)
	g.kickWriter()
	g.logEvent(blockEvent(&b, secmon.SeverityMedium))
	return b, nil
}

// fillManual completes a manual block: what it blocks, its subject and
// times.
func (g *Guard) fillManual(b *secmon.Block, now time.Time) error {
	invalid := func(field, reason string) error {
		return fmt.Errorf("guard: Block: %w", &secmon.FieldError{Field: field, Reason: reason})
	}
	switch {
	case b.UserID != "" && b.Prefix.IsValid():
		return invalid("UserID", "and Prefix are both set: block one thing")
	case b.UserID != "":
		k := detect.UserKey(b.UserID, g.cfg.CaseSensitiveUsers)
		if k == "" {
			return invalid("UserID", "is blank")
		}
		if b.Scope != "" && b.Scope != secmon.ScopeUser {
			return invalid("Scope", "does not match UserID")
		}
		b.UserID, b.Scope = k, secmon.ScopeUser
	case b.Prefix.IsValid():
		p := normPrefix(b.Prefix)
		a := p.Addr()
		if a.IsUnspecified() && p.Bits() == 0 {
			return invalid("Prefix", "blocks every address")
		}
		scope := secmon.ScopePrefix
		if g := secmon.IPGroup(a); g.Bits() <= p.Bits() {
			p, scope = g, secmon.ScopeIP
		}
		if b.Scope != "" && b.Scope != scope {
			return invalid("Scope", "does not match Prefix (an IP group is scope ip, a wider prefix scope prefix)")
		}
		b.Prefix, b.Scope = p, scope
	default:
		return invalid("Prefix", "or UserID is required")
	}
	subject := secmon.BlockSubject(b.Scope, b.Prefix, b.UserID)
	if b.Subject != "" && b.Subject != subject {
		return invalid("Subject", "does not match what is blocked (want "+subject+")")
	}
	b.Subject = subject
	switch b.Origin {
	case "":
		b.Origin = secmon.OriginManual
	case secmon.OriginManual, secmon.OriginRule:
	default:
		return invalid("Origin", "must be manual or rule (lists are loaded with LoadList)")
	}
	if b.By == "" {
		b.By = "operator"
	}
	if b.ID == uuid.Nil {
		b.ID = secmon.NewID()
	}
	b.Created = now
	if !b.Until.IsZero() {
		b.Until = b.Until.UTC().Round(0).Truncate(time.Microsecond)
		if !b.Until.After(now) {
			return invalid("Until", "is not in the future")
		}
	}
	b.LiftedAt, b.LiftedBy = time.Time{}, ""
	b.Reason = cleanReason(b.Reason)
	return nil
}

// Lift ends the block id now, on behalf of by (an operator's name; empty
// means "operator"), and logs block_lifted. A block this guard holds is
// lifted here at once and the lift written to the store in the background
// (retried while the store fails); another is lifted in the store directly,
// and ctx bounds that call. Lifting a block already lifted is not an error
// and logs nothing. It returns an error matching secmon.ErrNotFound for an
// unknown block (reputation-list matches have no ID and are not lifted:
// remove or edit the list), and secmon.ErrClosed after Close.
func (g *Guard) Lift(ctx context.Context, id uuid.UUID, by string) error {
	if g.closed.Load() {
		return secmon.ErrClosed
	}
	if id == uuid.Nil {
		return fmt.Errorf("guard: Lift: block %s: %w", id, secmon.ErrNotFound)
	}
	if by == "" {
		by = "operator"
	}
	if len(by) > secmon.MaxBlockByLen {
		return fmt.Errorf("guard: Lift: %w", &secmon.FieldError{Field: "by", Reason: "is too long"})
	}
	now := g.now()
	g.mu.Lock()
	cur := g.blocks[id]
	if cur == nil {
		if p, ok := g.pending[id]; ok {
			cur = p.b
		}
	}
	if cur != nil {
		if !cur.LiftedAt.IsZero() && !now.Before(cur.LiftedAt) {
			g.mu.Unlock()
			return nil
		}
		nb := *cur
		nb.LiftedAt, nb.LiftedBy = now, by
		if old := g.dropLocked(id); old != nil {
			g.publishLocked(nil, []*secmon.Block{old})
		}
		g.rememberLocked(&nb)
		g.queueLocked(&nb)
		g.mu.Unlock()
		g.st.lifted.Add(1)
		g.kickWriter()
		g.logEvent(liftEvent(&nb))
		return nil
	}
	g.mu.Unlock()
	// Not held here: lift it in the store, then read it for the event.
	wctx, cancel := context.WithTimeout(ctx, g.cfg.WriteTimeout)
	defer cancel()
	if err := g.store.LiftBlock(wctx, id, by, now); err != nil {
		return fmt.Errorf("guard: Lift: %w", err)
	}
	g.st.lifted.Add(1)
	got, err := g.store.Blocks(wctx, secmon.BlockQuery{IDs: []uuid.UUID{id}})
	if err == nil && len(got) == 1 {
		b := got[0]
		g.mu.Lock()
		g.rememberLocked(&b)
		g.mu.Unlock()
		if b.LiftedBy == by && b.LiftedAt.Equal(now) { // this lift, not an earlier one
			g.logEvent(liftEvent(&b))
		}
	}
	return nil
}

// List returns the blocks q selects, as the dashboard shows them: what the
// store holds, plus the blocks and lifts this guard has decided but not yet
// written (their local version wins). Newest first, at most q.Limit
// (secmon.DefaultQueryLimit when zero, capped at secmon.MaxQueryLimit).
// When the store fails, List returns the error; ActiveBlocks answers from
// memory instead.
func (g *Guard) List(ctx context.Context, q secmon.BlockQuery) ([]secmon.Block, error) {
	// The waiting writes are read first: one written while the store is
	// read is then in one answer or the other, never in neither. A waiting
	// write hides the store's copy of its block even when it no longer
	// matches q: a block lifted a moment ago is not listed as in force.
	g.mu.Lock()
	local := make(map[uuid.UUID]secmon.Block, len(g.pending))
	waiting := make(map[uuid.UUID]bool, len(g.pending))
	for id, p := range g.pending {
		waiting[id] = true
		if matches(p.b, q) {
			local[id] = *p.b
		}
	}
	g.mu.Unlock()
	stored, err := g.store.Blocks(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("guard: List: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = secmon.DefaultQueryLimit
	}
	limit = min(limit, secmon.MaxQueryLimit)
	if len(waiting) == 0 {
		return stored, nil
	}
	out := make([]secmon.Block, 0, len(stored)+len(local))
	for _, b := range stored {
		if waiting[b.ID] {
			l, ok := local[b.ID]
			if !ok {
				continue // changed since it was stored, and no longer matches
			}
			b = l
			delete(local, b.ID)
		}
		out = append(out, b)
	}
	for _, b := range local {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b secmon.Block) int { return bytes.Compare(b.ID[:], a.ID[:]) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// matches reports whether b passes q's filters (Limit aside).
func matches(b *secmon.Block, q secmon.BlockQuery) bool {
	switch {
	case q.IDs != nil && !slices.Contains(q.IDs, b.ID),
		!q.ActiveAt.IsZero() && !b.ActiveAt(q.ActiveAt),
		!q.EndsAfter.IsZero() && b.EndedAt(q.EndsAfter),
		q.Scope != "" && b.Scope != q.Scope,
		q.Subject != "" && b.Subject != q.Subject,
		q.Origin != "" && b.Origin != q.Origin,
		!q.Since.IsZero() && b.Created.Before(q.Since),
		q.Before != uuid.Nil && bytes.Compare(b.ID[:], q.Before[:]) >= 0:
		return false
	}
	return true
}

// ActiveBlocks returns the blocks this guard enforces now (reputation lists
// apart), newest first, from memory: no I/O, so it answers while the store
// is unreachable.
func (g *Guard) ActiveBlocks() []secmon.Block {
	now := g.clock.Now()
	g.mu.Lock()
	all := g.activeLocked()
	g.mu.Unlock()
	return slices.DeleteFunc(all, func(b secmon.Block) bool { return b.EndedAt(now) })
}
