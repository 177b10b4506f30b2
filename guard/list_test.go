package guard_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/store/memstore"
)

// stalledStore is a memstore whose block writes fail while stalled is set;
// its reads keep working.
type stalledStore struct {
	*memstore.Store
	stalled atomic.Bool
}

func (s *stalledStore) PutBlocks(ctx context.Context, bs []secmon.Block) error {
	if s.stalled.Load() {
		return errDown
	}
	return s.Store.PutBlocks(ctx, bs)
}

func (s *stalledStore) LiftBlock(ctx context.Context, id uuid.UUID, by string, at time.Time) error {
	if s.stalled.Load() {
		return errDown
	}
	return s.Store.LiftBlock(ctx, id, by, at)
}

// TestListShowsAPendingLift: while a lift waits to be written, List answers
// with the lifted block, never with the store's older copy: the dashboard's
// Blocks page must not show a block its admin just lifted as in force.
func TestListShowsAPendingLift(t *testing.T) {
	t.Parallel()
	store := &stalledStore{Store: memstore.New()}
	clock := secmontest.NewClock(t0)
	g := newGuard(t, store, clock, nil)
	ready(t, g)
	b, err := g.Block(t.Context(), secmon.Block{Prefix: prefix("203.0.113.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, g)

	store.stalled.Store(true)
	defer store.stalled.Store(false) // so Close can write the lift
	if err := g.Lift(t.Context(), b.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	active, err := g.List(t.Context(), secmon.BlockQuery{ActiveAt: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range active {
		if x.ID == b.ID {
			t.Errorf("List of the blocks in force holds the block lifted a moment ago (the store's copy): %+v", x)
		}
	}
	all, err := g.List(t.Context(), secmon.BlockQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != b.ID || all[0].LiftedBy != "alice" {
		t.Errorf("List of every block: %+v, want the lifted block once", all)
	}
	store.stalled.Store(false)
	flush(t, g)
}
