package guard_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/store/memstore"
)

// newGuard starts a Guard on store with clock, closed when t ends.
func newGuard(t *testing.T, store secmon.BlockStore, clock secmon.Clock, mod func(*guard.Config)) *guard.Guard {
	t.Helper()
	cfg := guard.Config{Store: store, Clock: clock, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	g, err := guard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

// Two guards sharing one store: what one decides, the other enforces;
// what one lifts, the other lifts; a guard started later loads what is in
// force and the history escalation needs.
func TestGuardsShareBlocks(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	clock := secmontest.NewClock(t0)
	a := newGuard(t, store, clock, nil)
	b := newGuard(t, store, clock, nil)
	ready(t, a)
	ready(t, b)

	a.HandleFinding(bruteForce("203.0.113.7"))
	flush(t, a)
	eventually(t, "b enforcing a's block", func() bool { return blocked(b, "203.0.113.7") })
	m, err := b.Block(t.Context(), secmon.Block{UserID: "mallory", By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a enforcing b's account block", func() bool { _, ok := a.Check(netip.Addr{}, "mallory"); return ok })
	if err := a.Lift(t.Context(), m.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b lifting the account block", func() bool { _, ok := b.Check(netip.Addr{}, "mallory"); return !ok })
	if s := b.Stats(); s.Notifications == 0 || s.BlocksActive != 1 {
		t.Errorf("b stats %+v", s)
	}

	// The attacker's block expires; a third guard, started now, escalates
	// the next block from the history in the store.
	first, _ := a.Check(addr("203.0.113.7"), "")
	clock.Set(first.Until.Add(time.Minute))
	c := newGuard(t, store, clock, nil)
	ready(t, c)
	c.HandleFinding(bruteForce("203.0.113.7"))
	flush(t, c)
	second, ok := c.Check(addr("203.0.113.7"), "")
	if !ok || second.Level != 2 || second.Until.Sub(second.Created) != 30*time.Minute {
		t.Errorf("the next block on another instance: %+v, want level 2 for 30m", second)
	}
	eventually(t, "a enforcing c's block", func() bool { return blocked(a, "203.0.113.7") })
}

// flakyStore is a memstore whose writes fail while down is set.
type flakyStore struct {
	*memstore.Store
	mu     sync.Mutex
	down   bool
	writes int
}

var errDown = errors.New("store down")

func (s *flakyStore) setDown(v bool) {
	s.mu.Lock()
	s.down = v
	s.mu.Unlock()
}

func (s *flakyStore) failing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.down
}

func (s *flakyStore) PutBlocks(ctx context.Context, bs []secmon.Block) error {
	if s.failing() {
		return errDown
	}
	return s.Store.PutBlocks(ctx, bs)
}

func (s *flakyStore) LiftBlock(ctx context.Context, id uuid.UUID, by string, at time.Time) error {
	if s.failing() {
		return errDown
	}
	return s.Store.LiftBlock(ctx, id, by, at)
}

func (s *flakyStore) Blocks(ctx context.Context, q secmon.BlockQuery) ([]secmon.Block, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errDown
	}
	return s.Store.Blocks(ctx, q)
}

// While the store is unreachable the guard keeps enforcing what it had and
// what it decides meanwhile; when the store returns, every block and lift
// decided meanwhile is written, none lost.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	store := &flakyStore{Store: memstore.New()}
	clock := secmontest.NewClock(t0)
	g := newGuard(t, store, clock, nil)
	ready(t, g)
	before, err := g.Block(t.Context(), secmon.Block{Prefix: prefix("192.0.2.1/32")})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, g)

	store.setDown(true)
	var ids []uuid.UUID
	for i := range 50 {
		f := bruteForce(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String())
		g.HandleFinding(f)
	}
	m, err := g.Block(t.Context(), secmon.Block{UserID: "mallory"})
	if err != nil {
		t.Fatalf("a manual block during the outage: %v", err)
	}
	ids = append(ids, m.ID)
	if err := g.Lift(t.Context(), before.ID, "alice"); err != nil {
		t.Fatalf("a lift during the outage: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if err := g.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded while the store was down")
	}
	cancel()
	for i := range 50 {
		if !blocked(g, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()) {
			t.Fatalf("a block decided during the outage is not enforced")
		}
	}
	if blocked(g, "192.0.2.1") {
		t.Fatal("a lift during the outage is not enforced")
	}
	if s := g.Stats(); s.PendingWrites != 52 || s.WriteErrors == 0 {
		t.Fatalf("stats during the outage %+v", s)
	}

	store.setDown(false)
	flush(t, g)
	stored, err := store.Store.Blocks(t.Context(), secmon.BlockQuery{Limit: secmon.MaxQueryLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 52 {
		t.Fatalf("%d blocks stored after the outage, want 52", len(stored))
	}
	for _, b := range stored {
		if b.ID == before.ID && b.LiftedBy != "alice" {
			t.Errorf("the lift made during the outage was lost: %+v", b)
		}
	}
	_ = ids
}

// Close writes what is still pending, and reports what it could not.
func TestCloseWritesPending(t *testing.T) {
	t.Parallel()
	store := &flakyStore{Store: memstore.New()}
	store.setDown(true)
	g, err := guard.New(guard.Config{Store: store, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Block(t.Context(), secmon.Block{Prefix: prefix("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err = g.Close(ctx)
	cancel()
	if err == nil {
		t.Fatal("Close reported success with the store down")
	}
	store2 := &flakyStore{Store: memstore.New()}
	store2.setDown(true)
	g2, err := guard.New(guard.Config{Store: store2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g2.Block(t.Context(), secmon.Block{Prefix: prefix("192.0.2.2/32")}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		store2.setDown(false)
	}()
	if err := g2.Close(context.Background()); err != nil {
		t.Fatalf("Close after the store came back: %v", err)
	}
	if got, _ := store2.Store.Blocks(t.Context(), secmon.BlockQuery{}); len(got) != 1 {
		t.Errorf("%d blocks written by Close, want 1", len(got))
	}
}

// A store that announces nothing is polled.
type quietStore struct{ secmon.BlockStore }

func TestPollingStore(t *testing.T) {
	t.Parallel()
	shared := memstore.New()
	clock := secmontest.NewClock(t0)
	a := newGuard(t, quietStore{shared}, clock, func(c *guard.Config) { c.PollInterval = 10 * time.Millisecond })
	b := newGuard(t, quietStore{shared}, clock, func(c *guard.Config) { c.PollInterval = 10 * time.Millisecond })
	ready(t, a)
	ready(t, b)
	if _, err := a.Block(t.Context(), secmon.Block{Prefix: prefix("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	flush(t, a)
	eventually(t, "b polling a's block", func() bool { return blocked(b, "192.0.2.1") })
}

// An account erased with EraseUser loses its blocks on every guard through
// the store's announcement, not at the next full read (an hour away here),
// and a later block on the same name starts again at level 1: erased
// blocks are no history. Address blocks stay.
func TestEraseUserReachesGuards(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	clock := secmontest.NewClock(t0)
	hourly := func(c *guard.Config) { c.ResyncInterval = time.Hour }
	a := newGuard(t, store, clock, hourly)
	b := newGuard(t, store, clock, hourly)
	ready(t, a)
	ready(t, b)
	if _, err := a.Block(t.Context(), secmon.Block{UserID: "Mallory", By: "alice", Until: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Block(t.Context(), secmon.Block{Prefix: prefix("198.51.100.0/24"), By: "alice"}); err != nil {
		t.Fatal(err)
	}
	flush(t, a)
	for name, g := range map[string]*guard.Guard{"a": a, "b": b} {
		eventually(t, name+" enforcing the account block", func() bool { _, ok := g.Check(netip.Addr{}, "mallory"); return ok })
		eventually(t, name+" enforcing the prefix block", func() bool { return blocked(g, "198.51.100.1") })
	}

	n, err := store.EraseUser(t.Context(), "mallory")
	if err != nil || n != 1 {
		t.Fatalf("EraseUser = %d, %v; want the one account block", n, err)
	}
	for name, g := range map[string]*guard.Guard{"a": a, "b": b} {
		eventually(t, name+" dropping the erased block", func() bool { _, ok := g.Check(netip.Addr{}, "mallory"); return !ok })
		if !blocked(g, "198.51.100.1") {
			t.Errorf("%s: the prefix block went with the account's", name)
		}
		if s := g.Stats(); s.BlocksActive != 1 {
			t.Errorf("%s: %d blocks active, want the prefix's", name, s.BlocksActive)
		}
	}
	again, err := b.Block(t.Context(), secmon.Block{UserID: "mallory", By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Level != 1 {
		t.Errorf("a block on the erased account's name escalated to level %d, want 1", again.Level)
	}
}
