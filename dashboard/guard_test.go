package dashboard_test

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
	"github.com/secmon-go/secmon/guard"
)

// The dashboard's Guard in these tests is the real guard.Guard over the
// test's store. failableGuard wraps it so a test can make the guard fail,
// as a guard whose store is down does.
type failableGuard struct {
	*guard.Guard

	mu  sync.Mutex
	err error
}

var _ dashboard.Guard = (*guard.Guard)(nil)

func (f *failableGuard) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// setFail makes Block, Lift and List fail with err (nil restores them).
func (f *failableGuard) setFail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *failableGuard) Block(ctx context.Context, b secmon.Block) (secmon.Block, error) {
	if err := f.failure(); err != nil {
		return secmon.Block{}, err
	}
	return f.Guard.Block(ctx, b)
}

func (f *failableGuard) Lift(ctx context.Context, id uuid.UUID, by string) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Guard.Lift(ctx, id, by)
}

func (f *failableGuard) List(ctx context.Context, q secmon.BlockQuery) ([]secmon.Block, error) {
	if err := f.failure(); err != nil {
		return nil, err
	}
	return f.Guard.List(ctx, q)
}

// storedBlock is a block as a guard would have written it earlier: what
// the demo and the hostile-text test put straight into the store.
func storedBlock(scope secmon.BlockScope, prefix netip.Prefix, user, reason string, origin secmon.BlockOrigin,
	rule secmon.RuleName, by string, level int, created, until time.Time) secmon.Block {
	return secmon.Block{
		ID: secmon.NewID(), Scope: scope, Subject: secmon.BlockSubject(scope, prefix, user), Prefix: prefix, UserID: user,
		Reason: reason, Rule: rule, Origin: origin, Level: level, Created: created, Until: until, By: by,
	}
}
