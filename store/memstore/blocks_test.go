package memstore_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

func memBlock(n int, until time.Time) secmon.Block {
	p := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, byte(n >> 8), byte(n)}), 32)
	return secmon.Block{ID: secmon.NewID(), Scope: secmon.ScopeIP, Prefix: p, Subject: secmon.BlockSubject(secmon.ScopeIP, p, ""),
		Origin: secmon.OriginManual, Level: 1, Created: t0, Until: until, By: "op"}
}

// MaxBlocks bounds the blocks kept: ended ones make room, earliest ended
// first; blocks in force are never evicted, so a batch that needs that is
// refused whole.
func TestMaxBlocks(t *testing.T) {
	s := setup(t, memstore.Config{MaxBlocks: 3})
	ctx := context.Background()
	ended1, ended2 := memBlock(1, t0.Add(time.Minute)), memBlock(2, t0.Add(2*time.Minute))
	live := memBlock(3, t0.Add(time.Hour))
	if err := s.PutBlocks(ctx, []secmon.Block{ended1, ended2, live}); err != nil {
		t.Fatal(err)
	}
	newer := memBlock(4, time.Time{})
	newer.Created = t0.Add(10 * time.Minute) // ended1 and ended2 have ended by then
	if err := s.PutBlocks(ctx, []secmon.Block{newer}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Blocks(ctx, secmon.BlockQuery{})
	if len(got) != 3 || s.Stats().EvictedBlocks != 1 {
		t.Fatalf("after a fourth block: %d held, %d evicted", len(got), s.Stats().EvictedBlocks)
	}
	for _, b := range got {
		if b.ID == ended1.ID {
			t.Error("the block that ended first was kept")
		}
	}
	more := []secmon.Block{memBlock(5, time.Time{}), memBlock(6, time.Time{})}
	more[0].Created, more[1].Created = newer.Created, newer.Created
	if err := s.PutBlocks(ctx, more); err == nil {
		t.Error("a batch that could only fit by evicting blocks in force was accepted")
	}
	if got, _ := s.Blocks(ctx, secmon.BlockQuery{}); len(got) != 3 {
		t.Errorf("the refused batch changed the store: %d blocks", len(got))
	}
}

// A block subscriber that falls behind is told to resync instead of
// making the store wait.
func TestSubscribeBlocksOverflowResyncs(t *testing.T) {
	s := setup(t, memstore.Config{SubscriberBuffer: 2})
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var ids []uuid.UUID
	resyncs := 0
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeBlocks(ctx, func(id uuid.UUID) {
			<-gate // a slow subscriber
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}, func() {
			mu.Lock()
			resyncs++
			mu.Unlock()
			select {
			case started <- struct{}{}:
			default:
			}
		})
	}()
	<-started
	for i := range 10 {
		if err := s.PutBlocks(context.Background(), []secmon.Block{memBlock(i, time.Time{})}); err != nil {
			t.Fatal(err)
		}
	}
	close(gate)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		r := resyncs
		mu.Unlock()
		if r >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("SubscribeBlocks returned %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if resyncs < 2 || s.Stats().DroppedNotifications == 0 {
		t.Errorf("%d resyncs (want the first and one for the overflow), %d dropped, %d IDs delivered", resyncs, s.Stats().DroppedNotifications, len(ids))
	}
}
