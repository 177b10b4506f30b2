package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

// blockSub is one SubscribeBlocks call: the IDs waiting for it, and whether
// some were dropped because its buffer was full (it then owes a resync).
type blockSub struct {
	ch     chan uuid.UUID
	missed chan struct{} // capacity 1: a pending "resync" signal
}

func checkBlock(i int, b *secmon.Block) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("memstore: blocks[%d]: %w", i, err)
	}
	return nil
}

// storedBlock normalises the times of b the way it is stored: wall clock
// only, so comparisons match the other backends.
func storedBlock(b secmon.Block) secmon.Block {
	b.Created, b.Until, b.LiftedAt = wall(b.Created), wall(b.Until), wall(b.LiftedAt)
	return b
}

// PutBlocks implements secmon.BlockStore: every block is validated first and
// the batch is refused whole when one is unfit. A block whose ID is stored
// replaces it, except that a stored lift (LiftedAt, LiftedBy) is kept.
// Each stored block is announced to SubscribeBlocks callers.
//
// When Config.MaxBlocks is reached, a new block evicts the block that ended
// earliest; when every stored block is still in force (as of the newest
// Created in the batch), the batch is refused with an error and nothing is
// stored.
func (s *Store) PutBlocks(ctx context.Context, blocks []secmon.Block) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var newest time.Time
	for i := range blocks {
		if err := checkBlock(i, &blocks[i]); err != nil {
			return err
		}
		if blocks[i].Created.After(newest) {
			newest = blocks[i].Created
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	s.blockMu.Lock()
	defer s.blockMu.Unlock()
	fresh := 0
	seen := make(map[uuid.UUID]bool, len(blocks))
	for i := range blocks {
		id := blocks[i].ID
		if _, ok := s.blocks[id]; !ok && !seen[id] {
			fresh++
		}
		seen[id] = true
	}
	if over := len(s.blocks) + fresh - s.cfg.MaxBlocks; over > 0 {
		if !s.evictBlocksLocked(over, newest) {
			return fmt.Errorf("memstore: %d blocks would exceed MaxBlocks (%d) and too few have ended to make room", len(s.blocks)+fresh, s.cfg.MaxBlocks)
		}
	}
	for i := range blocks {
		b := storedBlock(blocks[i])
		if old, ok := s.blocks[b.ID]; ok && !old.LiftedAt.IsZero() {
			b.LiftedAt, b.LiftedBy = old.LiftedAt, old.LiftedBy
		}
		s.blocks[b.ID] = &b
		s.announceBlockLocked(b.ID)
	}
	return nil
}

// evictBlocksLocked removes the n blocks that ended earliest as of now, or
// nothing when fewer than n have ended. The caller holds blockMu.
func (s *Store) evictBlocksLocked(n int, now time.Time) bool {
	var ended []*secmon.Block
	for _, b := range s.blocks {
		if b.EndedAt(now) {
			ended = append(ended, b)
		}
	}
	if len(ended) < n {
		return false
	}
	slices.SortFunc(ended, func(a, b *secmon.Block) int { return a.End().Compare(b.End()) })
	for _, b := range ended[:n] {
		delete(s.blocks, b.ID)
	}
	s.evictedBlocks.Add(uint64(n))
	return true
}

// Blocks implements secmon.BlockStore: matching blocks, newest (highest ID)
// first.
func (s *Store) Blocks(ctx context.Context, q secmon.BlockQuery) ([]secmon.Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(q.IDs) > secmon.MaxQueryLimit {
		return nil, invalid("BlockQuery.IDs holds %d IDs, more than %d", len(q.IDs), secmon.MaxQueryLimit)
	}
	if q.Scope != "" && !q.Scope.Valid() {
		return nil, invalid("BlockQuery.Scope %q is unknown", q.Scope)
	}
	if q.Origin != "" && !q.Origin.Valid() {
		return nil, invalid("BlockQuery.Origin %q is unknown", q.Origin)
	}
	limit := clampLimit(q.Limit)
	var ids map[uuid.UUID]bool
	if q.IDs != nil {
		ids = make(map[uuid.UUID]bool, len(q.IDs))
		for _, id := range q.IDs {
			ids[id] = true
		}
	}
	s.blockMu.RLock()
	var out []secmon.Block
	for _, b := range s.blocks {
		switch {
		case ids != nil && !ids[b.ID],
			!q.ActiveAt.IsZero() && !b.ActiveAt(q.ActiveAt),
			!q.EndsAfter.IsZero() && b.EndedAt(q.EndsAfter),
			q.Scope != "" && b.Scope != q.Scope,
			q.Subject != "" && b.Subject != q.Subject,
			q.Origin != "" && b.Origin != q.Origin,
			!q.Since.IsZero() && b.Created.Before(q.Since),
			q.Before != uuid.Nil && bytes.Compare(b.ID[:], q.Before[:]) >= 0:
			continue
		}
		out = append(out, *b)
	}
	s.blockMu.RUnlock()
	slices.SortFunc(out, func(a, b secmon.Block) int { return bytes.Compare(b.ID[:], a.ID[:]) })
	if len(out) > limit {
		clear(out[limit:])
		out = out[:limit]
	}
	return out, nil
}

// LiftBlock implements secmon.BlockStore. A block already lifted keeps its
// first lift (and is not announced again).
func (s *Store) LiftBlock(ctx context.Context, id uuid.UUID, by string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case at.IsZero():
		return invalid("lift time is zero")
	case by == "":
		return invalid("lifted by is empty")
	case len(by) > secmon.MaxBlockByLen:
		return invalid("lifted by is longer than %d bytes", secmon.MaxBlockByLen)
	}
	s.blockMu.Lock()
	defer s.blockMu.Unlock()
	b, ok := s.blocks[id]
	if !ok {
		return fmt.Errorf("memstore: block %s: %w", id, secmon.ErrNotFound)
	}
	if !b.LiftedAt.IsZero() {
		return nil
	}
	c := *b
	c.LiftedAt, c.LiftedBy = wall(at), by
	s.blocks[id] = &c
	s.announceBlockLocked(id)
	return nil
}

// SubscribeBlocks implements secmon.BlockSubscriber: it calls resync once
// subscribed, then fn with the ID of each block put or lifted, until ctx is
// done. It runs fn and resync on the calling goroutine and starts none of
// its own. The store never waits for a subscriber: each has a buffer of
// Config.SubscriberBuffer IDs, and when an ID finds it full the subscriber
// is told to resync instead (counted in Stats.DroppedNotifications).
func (s *Store) SubscribeBlocks(ctx context.Context, fn func(id uuid.UUID), resync func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if fn == nil || resync == nil {
		return invalid("SubscribeBlocks needs two functions")
	}
	sub := &blockSub{ch: make(chan uuid.UUID, s.cfg.SubscriberBuffer), missed: make(chan struct{}, 1)}
	s.blockMu.Lock()
	s.blockSubs[sub] = struct{}{}
	s.blockMu.Unlock()
	defer func() {
		s.blockMu.Lock()
		delete(s.blockSubs, sub)
		s.blockMu.Unlock()
	}()
	resync()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.missed:
			// Everything buffered is older than what the resync reads.
			for len(sub.ch) > 0 {
				<-sub.ch
			}
			resync()
		case id := <-sub.ch:
			fn(id)
		}
	}
}

// announceBlockLocked offers id to every block subscriber without waiting.
// The caller holds blockMu.
func (s *Store) announceBlockLocked(id uuid.UUID) {
	for sub := range s.blockSubs {
		select {
		case sub.ch <- id:
		default:
			s.droppedNotifications.Add(1)
			select {
			case sub.missed <- struct{}{}:
			default:
			}
		}
	}
}

// purgeBlocks removes blocks that ended before cutoff.
func (s *Store) purgeBlocks(cutoff time.Time) int64 {
	s.blockMu.Lock()
	defer s.blockMu.Unlock()
	var n int64
	for id, b := range s.blocks {
		if end := b.End(); !end.IsZero() && end.Before(cutoff) {
			delete(s.blocks, id)
			n++
		}
	}
	return n
}
