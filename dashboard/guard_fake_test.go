package dashboard_test

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
)

// interimGuard is an in-memory stand-in for guard.Guard, used by these
// tests until the guard package lands; it will be replaced by the real one.
// It keeps the contract the dashboard relies on: Block assigns ID, Subject
// and Level (one more than the subject's earlier blocks) and stores the
// block; Lift keeps the first lift and answers secmon.ErrNotFound for an
// unknown ID; List filters as secmon.BlockQuery says, newest first; Check
// answers from the blocks in force (secmon.Block.ActiveAt) at the clock's
// time.
type interimGuard struct {
	clock secmon.Clock

	mu     sync.Mutex
	blocks []secmon.Block // oldest first
	fail   error          // returned by Block, Lift and List when set
}

var _ dashboard.Guard = (*interimGuard)(nil)

func newInterimGuard(clock secmon.Clock) *interimGuard { return &interimGuard{clock: clock} }

func (g *interimGuard) Check(ip netip.Addr, userID string) (secmon.Block, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	for i := len(g.blocks) - 1; i >= 0; i-- {
		b := g.blocks[i]
		if !b.ActiveAt(now) {
			continue
		}
		switch b.Scope {
		case secmon.ScopeIP, secmon.ScopePrefix:
			if ip.IsValid() && b.Prefix.Contains(ip.Unmap()) {
				return b, true
			}
		case secmon.ScopeUser:
			if userID != "" && b.UserID == userID {
				return b, true
			}
		}
	}
	return secmon.Block{}, false
}

func (g *interimGuard) Block(ctx context.Context, b secmon.Block) (secmon.Block, error) {
	if err := ctx.Err(); err != nil {
		return secmon.Block{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return secmon.Block{}, g.fail
	}
	if !b.Scope.Valid() || !b.Origin.Valid() {
		return secmon.Block{}, &secmon.FieldError{Field: "Scope", Reason: "is invalid"}
	}
	switch b.Scope {
	case secmon.ScopeIP:
		b.Prefix = secmon.IPGroup(b.Prefix.Addr())
		b.Subject = "ip:" + b.Prefix.String()
	case secmon.ScopePrefix:
		b.Prefix = b.Prefix.Masked()
		b.Subject = "prefix:" + b.Prefix.String()
	case secmon.ScopeUser:
		if b.UserID == "" {
			return secmon.Block{}, &secmon.FieldError{Field: "UserID", Reason: "is required"}
		}
		b.Subject = "user:" + b.UserID
	}
	b.ID = secmon.NewID()
	if b.Created.IsZero() {
		b.Created = g.clock.Now()
	}
	b.Level = 1
	for _, old := range g.blocks {
		if old.Subject == b.Subject {
			b.Level = max(b.Level, old.Level+1)
		}
	}
	g.blocks = append(g.blocks, b)
	return b, nil
}

func (g *interimGuard) Lift(ctx context.Context, id uuid.UUID, by string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return g.fail
	}
	for i := range g.blocks {
		if g.blocks[i].ID == id {
			if g.blocks[i].LiftedAt.IsZero() {
				g.blocks[i].LiftedAt, g.blocks[i].LiftedBy = g.clock.Now(), by
			}
			return nil
		}
	}
	return secmon.ErrNotFound
}

func (g *interimGuard) List(ctx context.Context, q secmon.BlockQuery) ([]secmon.Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return nil, g.fail
	}
	limit := q.Limit
	if limit <= 0 {
		limit = secmon.DefaultQueryLimit
	}
	limit = min(limit, secmon.MaxQueryLimit)
	var out []secmon.Block
	for _, b := range slices.Backward(g.sorted()) {
		switch {
		case !q.ActiveAt.IsZero() && !b.ActiveAt(q.ActiveAt),
			len(q.IDs) > 0 && !slices.Contains(q.IDs, b.ID),
			q.Scope != "" && b.Scope != q.Scope,
			q.Subject != "" && b.Subject != q.Subject,
			q.Origin != "" && b.Origin != q.Origin,
			!q.Since.IsZero() && b.Created.Before(q.Since),
			q.Before != uuid.Nil && bytes.Compare(b.ID[:], q.Before[:]) >= 0:
			continue
		}
		out = append(out, b)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// sorted returns the blocks by ID, oldest first. The caller holds mu.
func (g *interimGuard) sorted() []secmon.Block {
	s := slices.Clone(g.blocks)
	slices.SortFunc(s, func(a, b secmon.Block) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return s
}

// setFail makes every call fail with err (nil restores).
func (g *interimGuard) setFail(err error) {
	g.mu.Lock()
	g.fail = err
	g.mu.Unlock()
}

// add stores a block as a rule or list would have decided it, at created.
func (g *interimGuard) add(b secmon.Block, created time.Time) secmon.Block {
	b.Created = created
	stored, err := g.Block(context.Background(), b)
	if err != nil {
		panic(err)
	}
	return stored
}
