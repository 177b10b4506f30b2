package guard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

// writeBatch is the most blocks one PutBlocks call carries.
const writeBatch = 500

// runWriter is the writer goroutine: it writes the blocks and lifts
// decided here to the store, in batches, retrying with capped exponential
// backoff while the store fails. After Close it keeps trying until every
// write is done or Close's context gives up.
func (g *Guard) runWriter() {
	defer g.wg.Done()
	var backoff time.Duration
	var retry <-chan time.Time
	for {
		select {
		case <-g.kickW:
			if retry != nil {
				continue // backing off: the timer writes
			}
		case <-retry:
			retry = nil
		case <-g.stop:
			g.drainWrites(backoff)
			return
		}
		if err := g.writeAll(); err != nil {
			backoff = min(max(backoff*2, g.cfg.MinBackoff), g.cfg.MaxBackoff)
			retry = time.After(jitter(backoff))
		} else {
			backoff = 0
		}
	}
}

// drainWrites writes what is still pending after Close, retrying until it
// is all written or Close gives up.
func (g *Guard) drainWrites(backoff time.Duration) {
	for {
		err := g.writeAll()
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n == 0 || g.bg.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(backoff*2, g.cfg.MinBackoff), g.cfg.MaxBackoff)
			select {
			case <-time.After(jitter(backoff)):
			case <-g.bg.Done():
				return
			}
		}
	}
}

// writeAll writes batches until nothing is pending or a write fails.
func (g *Guard) writeAll() error {
	for {
		more, err := g.writeOnce()
		g.signal()
		if err != nil || !more {
			return err
		}
	}
}

// jitter returns a wait in [d/2, d].
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

// writeOnce writes one batch of pending blocks. It reports whether more
// are waiting.
func (g *Guard) writeOnce() (more bool, err error) {
	type item struct {
		id  uuid.UUID
		ver uint64
	}
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.mu.Unlock()
		return false, nil
	}
	batch := make([]secmon.Block, 0, min(len(g.pending), writeBatch))
	items := make([]item, 0, cap(batch))
	for id, p := range g.pending {
		if len(batch) == writeBatch {
			more = true
			break
		}
		batch = append(batch, *p.b)
		items = append(items, item{id, p.ver})
	}
	g.mu.Unlock()

	ctx, cancel := context.WithTimeout(g.bg, g.cfg.WriteTimeout)
	err = g.store.PutBlocks(ctx, batch)
	cancel()
	rejected := map[uuid.UUID]bool{}
	if errors.Is(err, secmon.ErrInvalid) {
		// Validated before it was queued, so this is the store's own
		// limit: find the blocks it refuses and drop them, logged.
		err = nil
		for i := range batch {
			ctx, cancel := context.WithTimeout(g.bg, g.cfg.WriteTimeout)
			e := g.store.PutBlocks(ctx, batch[i:i+1])
			cancel()
			switch {
			case errors.Is(e, secmon.ErrInvalid):
				rejected[batch[i].ID] = true
				g.st.rejected.Add(1)
				g.setErr(e)
				g.log.LogAttrs(context.Background(), slog.LevelError, "guard: the store refused a block; dropped",
					slog.String("block_id", batch[i].ID.String()), slog.Any("error", e))
			case e != nil:
				err = e
			}
		}
	}
	g.mu.Lock()
	for _, it := range items {
		p, ok := g.pending[it.id]
		if !ok || p.ver != it.ver {
			continue // changed meanwhile: written again next time
		}
		if err == nil || rejected[it.id] {
			delete(g.pending, it.id)
			if !rejected[it.id] {
				g.st.written.Add(1)
			}
		}
	}
	more = more || len(g.pending) > 0 && err == nil
	g.mu.Unlock()
	if err != nil {
		g.st.writeErrors.Add(1)
		g.setErr(err)
		g.warn("guard: writing blocks failed; retrying", slog.Int("blocks", len(batch)), slog.Any("error", err))
		return more, err
	}
	return more, nil
}

// runSubscription follows the store's announcements until Close: each
// block ID goes to the sync goroutine, each resync request too. When the
// subscription itself fails (it returns before Close), it is started again
// after a backoff.
func (g *Guard) runSubscription(sub secmon.BlockSubscriber) {
	defer g.wg.Done()
	backoff := g.cfg.MinBackoff
	for {
		err := sub.SubscribeBlocks(g.subCtx, func(id uuid.UUID) {
			g.st.notifications.Add(1)
			select {
			case g.ids <- id:
			default:
				g.requestResync() // too many at once: read them all
			}
		}, g.requestResync)
		if g.subCtx.Err() != nil {
			return
		}
		g.st.syncErrors.Add(1)
		if err != nil {
			g.setErr(err)
			g.warn("guard: block subscription failed; retrying", slog.Any("error", err))
		}
		t := time.NewTimer(backoff)
		select {
		case <-g.subCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, g.cfg.MaxBackoff)
	}
}

func (g *Guard) requestResync() {
	select {
	case g.resyncCh <- struct{}{}:
	default:
	}
}

// runSync is the sync goroutine: it reads announced blocks and resyncs,
// forgets ended blocks, reloads changed list files and logs the
// access_blocked events owed, until Close.
func (g *Guard) runSync() {
	defer g.wg.Done()
	resyncEvery := g.cfg.ResyncInterval
	if !g.subscribed {
		resyncEvery = min(resyncEvery, g.cfg.PollInterval)
	}
	period := min(time.Second, resyncEvery)
	tick := time.NewTicker(period)
	defer tick.Stop()
	needResync := true // the first read, at start
	var retryAt time.Time
	backoff := time.Duration(0)
	lastResync := time.Time{}
	fail := func(err error) {
		g.st.syncErrors.Add(1)
		g.setErr(err)
		g.warn("guard: reading blocks from the store failed; retrying", slog.Any("error", err))
		backoff = min(max(backoff*2, g.cfg.MinBackoff), g.cfg.MaxBackoff)
		retryAt = time.Now().Add(backoff)
	}
	resync := func() {
		started := time.Now()
		if err := g.resync(); err != nil {
			needResync = true
			fail(err)
			return
		}
		needResync, backoff = false, 0
		lastResync = started
	}
	resync()
	for {
		select {
		case <-g.stop:
			g.flushAccess(true)
			return
		case id := <-g.ids:
			ids := []uuid.UUID{id}
		drain:
			for len(ids) < writeBatch {
				select {
				case id := <-g.ids:
					ids = append(ids, id)
				default:
					break drain
				}
			}
			if needResync {
				continue // the resync will read them
			}
			if err := g.fetch(ids); err != nil {
				needResync = true
				fail(err)
			}
		case <-g.resyncCh:
			if time.Now().After(retryAt) {
				resync()
			} else {
				needResync = true
			}
		case <-tick.C:
			if (needResync && time.Now().After(retryAt)) || resyncDue(time.Since(lastResync), resyncEvery, period) {
				resync()
			}
			now := g.now()
			g.mu.Lock()
			g.sweepLocked(now)
			g.mu.Unlock()
			g.pollLists()
			g.flushAccess(false)
		}
	}
}

// resyncDue reports whether a periodic resync is due on a tick, since the
// last one started, for resyncs every `every` on a ticker of the given
// period. The ticks and the resyncs drift apart by the time a resync takes,
// so a resync is due half a period early: measured against the exact
// interval, a tick that comes a moment before it would wait for the next
// one and the interval would become every+period (twice PollInterval when
// the two are equal).
func resyncDue(since, every, period time.Duration) bool {
	return since >= every-period/2
}

// fetch reads the blocks ids from the store and applies them.
func (g *Guard) fetch(ids []uuid.UUID) error {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	ctx, cancel := context.WithTimeout(g.bg, g.cfg.WriteTimeout)
	defer cancel()
	bs, err := g.store.Blocks(ctx, secmon.BlockQuery{IDs: ids, Limit: len(ids)})
	if err != nil {
		return fmt.Errorf("guard: reading announced blocks: %w", err)
	}
	g.apply(bs, false, time.Time{})
	if len(bs) < len(ids) {
		found := make(map[uuid.UUID]bool, len(bs))
		for i := range bs {
			found[bs[i].ID] = true
		}
		gone := slices.DeleteFunc(ids, func(id uuid.UUID) bool { return found[id] })
		g.forget(gone)
	}
	return nil
}

// forget drops blocks the store announced and no longer has: EraseUser
// removed them (the store announces every put, lift and erasure, and a
// put or lift is visible before it is announced). They are no longer
// enforced, and they are no history either: a later block on the same
// subject starts again at level 1. A block still waiting to be written
// here is kept; its write stores it again.
func (g *Guard) forget(ids []uuid.UUID) {
	if len(ids) == 0 {
		return
	}
	var remove []*secmon.Block
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		if g.pending[id] != nil {
			continue
		}
		if b := g.dropLocked(id); b != nil {
			remove = append(remove, b)
			if h, ok := g.hist[b.Subject]; ok && h.id == id {
				delete(g.hist, b.Subject)
			}
			continue
		}
		// Not in force here (ended, or never loaded): it may still be
		// a subject's latest block.
		for subject, h := range g.hist {
			if h.id == id {
				delete(g.hist, subject)
				break
			}
		}
	}
	g.publishLocked(nil, remove)
}

// resync reads every block in force from the store and makes the local
// state agree with it; the first time, it also reads the history that
// escalation needs.
func (g *Guard) resync() error {
	ctx, cancel := context.WithTimeout(g.bg, 4*g.cfg.WriteTimeout)
	defer cancel()
	asOf := g.now()
	live, err := g.readAll(ctx, secmon.BlockQuery{EndsAfter: asOf}, g.cfg.MaxBlocks)
	if err != nil {
		return fmt.Errorf("guard: resync: %w", err)
	}
	first := false
	select {
	case <-g.ready:
	default:
		first = true
	}
	if first {
		hist, err := g.readAll(ctx, secmon.BlockQuery{Since: asOf.Add(-g.cfg.History)}, g.cfg.MaxHistory)
		if err != nil {
			return fmt.Errorf("guard: reading block history: %w", err)
		}
		g.mu.Lock()
		// Oldest first, so each subject ends with its latest block.
		for i := len(hist) - 1; i >= 0; i-- {
			g.rememberLocked(&hist[i])
		}
		g.mu.Unlock()
	}
	g.apply(live, true, asOf)
	g.st.resyncs.Add(1)
	g.mu.Lock()
	g.lastSync = asOf
	g.mu.Unlock()
	g.readyOnce.Do(func() { close(g.ready) })
	return nil
}

// readAll reads the blocks q selects, page by page, at most max of them
// (the newest).
func (g *Guard) readAll(ctx context.Context, q secmon.BlockQuery, max int) ([]secmon.Block, error) {
	var out []secmon.Block
	q.Limit = secmon.MaxQueryLimit
	for len(out) < max {
		page, err := g.store.Blocks(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			break
		}
		q.Before = page[len(page)-1].ID
	}
	if len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// apply makes the local state agree with blocks read from the store. A
// block this guard has not written yet keeps its local version (taking a
// lift from the store). With full, bs is everything in force as of asOf:
// a block held here that the store no longer has in force (lifted or
// purged elsewhere) is dropped, unless it is waiting to be written or was
// decided after the read began.
func (g *Guard) apply(bs []secmon.Block, full bool, asOf time.Time) {
	now := g.now()
	var add, remove []*secmon.Block
	var seen map[uuid.UUID]bool
	if full {
		seen = make(map[uuid.UUID]bool, len(bs))
	}
	var lags []time.Duration
	g.mu.Lock()
	for i := range bs {
		b := bs[i]
		if seen != nil {
			seen[b.ID] = true
		}
		if p, ok := g.pending[b.ID]; ok {
			if !b.LiftedAt.IsZero() && p.b.LiftedAt.IsZero() {
				nb := *p.b
				nb.LiftedAt, nb.LiftedBy = b.LiftedAt, b.LiftedBy
				p.b = &nb
				p.ver++
				if old := g.dropLocked(b.ID); old != nil {
					remove = append(remove, old)
				}
				g.rememberLocked(&nb)
			}
			continue
		}
		g.rememberLocked(&b)
		old := g.blocks[b.ID]
		if b.EndedAt(now) {
			if old != nil {
				remove = append(remove, g.dropLocked(b.ID))
			}
			continue
		}
		if old != nil && sameBlock(old, &b) {
			continue
		}
		if old == nil && len(g.blocks) >= g.cfg.MaxBlocks {
			g.st.refusedCap.Add(1)
			g.setErr(ErrCapacity)
			g.warn("guard: block capacity reached; a stored block is not enforced here", slog.Int("max_blocks", g.cfg.MaxBlocks))
			continue
		}
		a, r := g.putLocked(b)
		add = append(add, a)
		if r != nil {
			remove = append(remove, r)
		}
		if old == nil && !full {
			lags = append(lags, now.Sub(b.Created))
		}
	}
	if full {
		for id, b := range g.blocks {
			if seen[id] || g.pending[id] != nil || !b.Created.Before(asOf) {
				continue
			}
			remove = append(remove, g.dropLocked(id))
		}
	}
	g.publishLocked(add, remove)
	g.mu.Unlock()
	for _, lag := range lags {
		g.st.lastLag.Store(int64(lag))
		for {
			m := g.st.maxLag.Load()
			if int64(lag) <= m || g.st.maxLag.CompareAndSwap(m, int64(lag)) {
				break
			}
		}
	}
}

// sameBlock reports whether two versions of a block agree in everything
// Check and the state use.
func sameBlock(a, b *secmon.Block) bool {
	return a.Scope == b.Scope && a.Subject == b.Subject && a.Prefix == b.Prefix && a.UserID == b.UserID &&
		a.Until.Equal(b.Until) && a.LiftedAt.Equal(b.LiftedAt) && a.Level == b.Level && a.Reason == b.Reason &&
		a.Created.Equal(b.Created) && a.By == b.By && a.Rule == b.Rule && a.Origin == b.Origin && a.LiftedBy == b.LiftedBy
}
