package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

var blockTests = []test{
	{"RoundTrip", testBlockRoundTrip},
	{"ReplaceByID", testBlockReplace},
	{"Lift", testBlockLift},
	{"PutNeverUnlifts", testBlockPutKeepsLift},
	{"ActiveAndEnded", testBlockActive},
	{"OverlappingPrefixes", testBlockOverlap},
	{"Filters", testBlockFilters},
	{"Pages", testBlockPages},
	{"HistoryForEscalation", testBlockHistory},
	{"InvalidBatchRejected", testBlockInvalid},
	{"PurgeEnded", testBlockPurge},
	{"ConcurrentWriters", testBlockConcurrent},
	{"Cancelled", testBlockCancelled},
}

// blockID returns the n-th deterministic, time-ordered block ID: IDs sort
// by n, as UUIDv7 values sort by their creation.
func blockID(n uint64) uuid.UUID { return seqID(n) }

func ipBlock(n uint64, addr string, created time.Time, d time.Duration) secmon.Block {
	g := secmon.IPGroup(netip.MustParseAddr(addr))
	b := secmon.Block{
		ID: blockID(n), Scope: secmon.ScopeIP, Prefix: g, Subject: secmon.BlockSubject(secmon.ScopeIP, g, ""),
		Reason: "5 failed logins within 10m0s", Rule: "brute_force_ip", Origin: secmon.OriginRule,
		Level: 1, Created: created, By: "rule:brute_force_ip",
	}
	if d > 0 {
		b.Until = created.Add(d)
	}
	return b
}

func prefixBlock(n uint64, prefix string, created time.Time, d time.Duration) secmon.Block {
	p := netip.MustParsePrefix(prefix).Masked()
	b := secmon.Block{
		ID: blockID(n), Scope: secmon.ScopePrefix, Prefix: p, Subject: secmon.BlockSubject(secmon.ScopePrefix, p, ""),
		Reason: "operator", Origin: secmon.OriginManual, Level: 1, Created: created, By: "alice",
	}
	if d > 0 {
		b.Until = created.Add(d)
	}
	return b
}

func userBlock(n uint64, user string, created time.Time, d time.Duration) secmon.Block {
	b := secmon.Block{
		ID: blockID(n), Scope: secmon.ScopeUser, UserID: user, Subject: secmon.BlockSubject(secmon.ScopeUser, netip.Prefix{}, user),
		Reason: "blocked uploads", Rule: "upload_attack", Origin: secmon.OriginRule, Level: 2, Created: created, By: "rule:upload_attack",
	}
	if d > 0 {
		b.Until = created.Add(d)
	}
	return b
}

func putBlocks(t *testing.T, s secmon.Store, bs ...secmon.Block) {
	t.Helper()
	noErr(t, "PutBlocks", s.PutBlocks(ctx(t), bs))
}

func queryBlocks(t *testing.T, s secmon.Store, q secmon.BlockQuery) []secmon.Block {
	t.Helper()
	got, err := s.Blocks(ctx(t), q)
	noErr(t, "Blocks", err)
	return got
}

func allBlocks(t *testing.T, s secmon.Store) []secmon.Block {
	t.Helper()
	return queryBlocks(t, s, secmon.BlockQuery{Limit: secmon.MaxQueryLimit})
}

func blockIDs(bs []secmon.Block) []uuid.UUID {
	out := make([]uuid.UUID, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

func testBlockRoundTrip(t *testing.T, s secmon.Store) {
	v4 := ipBlock(1, "203.0.113.7", base, 15*time.Minute)
	v6 := ipBlock(2, "2001:db8:1:2::77", base.Add(time.Second), time.Hour)
	sixToFour := ipBlock(3, "2002:cb00:7107::1", base.Add(2*time.Second), 0)
	pfx := prefixBlock(4, "198.51.100.0/24", base.Add(3*time.Second), 0)
	usr := userBlock(5, "alice", base.Add(4*time.Second), 24*time.Hour)
	usr.Reason = "5 blocked uploads; <script>\"quoted\"</script> ünïcode"
	putBlocks(t, s, v4, v6, sixToFour, pfx, usr)
	if v6.Prefix.Bits() != 64 || sixToFour.Prefix.Bits() != 48 {
		t.Fatalf("fixture: IPv6 groups are %v and %v", v6.Prefix, sixToFour.Prefix)
	}
	diff(t, "every block as stored, newest first", []secmon.Block{usr, pfx, sixToFour, v6, v4}, allBlocks(t, s))
	diff(t, "Blocks by ID", []secmon.Block{v6}, queryBlocks(t, s, secmon.BlockQuery{IDs: []uuid.UUID{v6.ID}}))
	if got := queryBlocks(t, s, secmon.BlockQuery{IDs: []uuid.UUID{blockID(99)}}); len(got) != 0 {
		t.Errorf("Blocks for an unknown ID = %v, want none", got)
	}
	putBlocks(t, s) // an empty batch is a no-op
}

func testBlockReplace(t *testing.T, s secmon.Store) {
	b := ipBlock(1, "203.0.113.7", base, 15*time.Minute)
	putBlocks(t, s, b)
	longer := b
	longer.Until = base.Add(time.Hour)
	longer.Reason = "still attacking"
	putBlocks(t, s, longer)
	putBlocks(t, s, longer) // a retried batch
	diff(t, "one block with the newer fields", []secmon.Block{longer}, allBlocks(t, s))

	// The same ID twice in one batch: one block, the later one.
	again := longer
	again.Level = 3
	putBlocks(t, s, longer, again)
	diff(t, "same ID twice in a batch", []secmon.Block{again}, allBlocks(t, s))
}

func testBlockLift(t *testing.T, s secmon.Store) {
	b := ipBlock(1, "203.0.113.7", base, time.Hour)
	other := ipBlock(2, "203.0.113.8", base, time.Hour)
	putBlocks(t, s, b, other)
	at := base.Add(10 * time.Minute)
	noErr(t, "LiftBlock", s.LiftBlock(ctx(t), b.ID, "alice", at))
	noErr(t, "second LiftBlock", s.LiftBlock(ctx(t), b.ID, "bob", at.Add(time.Minute)))
	want := b
	want.LiftedAt, want.LiftedBy = at, "alice"
	diff(t, "lifted block keeps its first lift; the other is untouched", []secmon.Block{other, want}, allBlocks(t, s))

	wantErrIs(t, "LiftBlock of an unknown ID", s.LiftBlock(ctx(t), blockID(99), "alice", at), secmon.ErrNotFound)
	wantErrIs(t, "LiftBlock with a zero time", s.LiftBlock(ctx(t), other.ID, "alice", time.Time{}), secmon.ErrInvalid)
	wantErrIs(t, "LiftBlock by nobody", s.LiftBlock(ctx(t), other.ID, "", at), secmon.ErrInvalid)
	diff(t, "failed lifts change nothing", []secmon.Block{other, want}, allBlocks(t, s))
}

func testBlockPutKeepsLift(t *testing.T, s secmon.Store) {
	// A writer that retries an old version of a block after another
	// instance lifted it must not bring the block back.
	b := ipBlock(1, "203.0.113.7", base, time.Hour)
	putBlocks(t, s, b)
	at := base.Add(time.Minute)
	noErr(t, "LiftBlock", s.LiftBlock(ctx(t), b.ID, "alice", at))
	stale := b
	stale.Until = base.Add(2 * time.Hour)
	putBlocks(t, s, stale)
	want := stale
	want.LiftedAt, want.LiftedBy = at, "alice"
	diff(t, "a put after a lift", []secmon.Block{want}, allBlocks(t, s))

	// A put carrying a lift of its own stores it.
	c := ipBlock(2, "203.0.113.9", base, time.Hour)
	c.LiftedAt, c.LiftedBy = base.Add(5*time.Minute), "bob"
	putBlocks(t, s, c)
	diff(t, "a block put already lifted", []secmon.Block{c}, queryBlocks(t, s, secmon.BlockQuery{IDs: []uuid.UUID{c.ID}}))
}

func testBlockActive(t *testing.T, s secmon.Store) {
	now := base.Add(time.Hour)
	active := ipBlock(1, "203.0.113.1", base, 2*time.Hour)
	expired := ipBlock(2, "203.0.113.2", base, 30*time.Minute)
	endsNow := ipBlock(3, "203.0.113.3", base, time.Hour) // Until == now: ended
	permanent := prefixBlock(4, "198.51.100.0/24", base, 0)
	lifted := userBlock(5, "alice", base, 2*time.Hour)
	future := ipBlock(6, "203.0.113.6", now.Add(time.Minute), time.Hour) // created after now (a clock ahead)
	putBlocks(t, s, active, expired, endsNow, permanent, lifted, future)
	noErr(t, "LiftBlock", s.LiftBlock(ctx(t), lifted.ID, "op", base.Add(50*time.Minute)))

	diff(t, "ActiveAt now", []uuid.UUID{permanent.ID, active.ID},
		blockIDs(queryBlocks(t, s, secmon.BlockQuery{ActiveAt: now})))
	diff(t, "EndsAfter now (includes blocks created later)", []uuid.UUID{future.ID, permanent.ID, active.ID},
		blockIDs(queryBlocks(t, s, secmon.BlockQuery{EndsAfter: now})))
	diff(t, "ActiveAt before the lift", []uuid.UUID{lifted.ID, permanent.ID, endsNow.ID, expired.ID, active.ID},
		blockIDs(queryBlocks(t, s, secmon.BlockQuery{ActiveAt: base.Add(20 * time.Minute)})))
	diff(t, "ActiveAt before anything was created", []uuid.UUID{},
		blockIDs(queryBlocks(t, s, secmon.BlockQuery{ActiveAt: base.Add(-time.Second)})))
}

func testBlockOverlap(t *testing.T, s secmon.Store) {
	// Blocks on nested prefixes are separate rows: the store keeps each,
	// and the guard decides which one matches an address.
	wide := prefixBlock(1, "10.0.0.0/8", base, 0)
	mid := prefixBlock(2, "10.1.0.0/16", base, time.Hour)
	host := ipBlock(3, "10.1.2.3", base, time.Hour)
	v6wide := prefixBlock(4, "2001:db8::/32", base, 0)
	v6group := ipBlock(5, "2001:db8::1", base, time.Hour)
	putBlocks(t, s, wide, mid, host, v6wide, v6group)
	diff(t, "all five stored", []uuid.UUID{v6group.ID, v6wide.ID, host.ID, mid.ID, wide.ID}, blockIDs(allBlocks(t, s)))
	diff(t, "by subject", []secmon.Block{mid}, queryBlocks(t, s, secmon.BlockQuery{Subject: "prefix:10.1.0.0/16"}))
	diff(t, "IP group by subject", []secmon.Block{v6group}, queryBlocks(t, s, secmon.BlockQuery{Subject: "ip:2001:db8::/64"}))
	noErr(t, "LiftBlock", s.LiftBlock(ctx(t), mid.ID, "op", base.Add(time.Minute)))
	diff(t, "lifting the middle one leaves the others in force", []uuid.UUID{v6group.ID, v6wide.ID, host.ID, wide.ID},
		blockIDs(queryBlocks(t, s, secmon.BlockQuery{ActiveAt: base.Add(2 * time.Minute)})))
}

func testBlockFilters(t *testing.T, s secmon.Store) {
	a := ipBlock(1, "203.0.113.1", base, time.Hour)
	b := prefixBlock(2, "198.51.100.0/24", base.Add(time.Minute), 0)
	c := userBlock(3, "alice", base.Add(2*time.Minute), time.Hour)
	d := ipBlock(4, "203.0.113.1", base.Add(3*time.Minute), 2*time.Hour)
	d.Level = 2
	putBlocks(t, s, a, b, c, d)
	for _, tc := range []struct {
		name string
		q    secmon.BlockQuery
		want []uuid.UUID
	}{
		{"scope ip", secmon.BlockQuery{Scope: secmon.ScopeIP}, []uuid.UUID{d.ID, a.ID}},
		{"scope user", secmon.BlockQuery{Scope: secmon.ScopeUser}, []uuid.UUID{c.ID}},
		{"origin manual", secmon.BlockQuery{Origin: secmon.OriginManual}, []uuid.UUID{b.ID}},
		{"subject", secmon.BlockQuery{Subject: "ip:203.0.113.1/32"}, []uuid.UUID{d.ID, a.ID}},
		{"since", secmon.BlockQuery{Since: base.Add(2 * time.Minute)}, []uuid.UUID{d.ID, c.ID}},
		{"before", secmon.BlockQuery{Before: c.ID}, []uuid.UUID{b.ID, a.ID}},
		{"limit", secmon.BlockQuery{Limit: 1}, []uuid.UUID{d.ID}},
		{"ids and scope", secmon.BlockQuery{IDs: []uuid.UUID{a.ID, b.ID, c.ID}, Scope: secmon.ScopeIP}, []uuid.UUID{a.ID}},
		{"no IDs", secmon.BlockQuery{IDs: []uuid.UUID{}}, []uuid.UUID{}},
		{"nothing matches", secmon.BlockQuery{Subject: "user:bob"}, []uuid.UUID{}},
	} {
		diff(t, tc.name, tc.want, blockIDs(queryBlocks(t, s, tc.q)))
	}
	_, err := s.Blocks(ctx(t), secmon.BlockQuery{Scope: "country"})
	wantErrIs(t, "unknown scope", err, secmon.ErrInvalid)
	_, err = s.Blocks(ctx(t), secmon.BlockQuery{Origin: "magic"})
	wantErrIs(t, "unknown origin", err, secmon.ErrInvalid)
	_, err = s.Blocks(ctx(t), secmon.BlockQuery{IDs: make([]uuid.UUID, secmon.MaxQueryLimit+1)})
	wantErrIs(t, "too many IDs", err, secmon.ErrInvalid)
}

func testBlockPages(t *testing.T, s secmon.Store) {
	const n = 25
	var all []secmon.Block
	for i := range n {
		all = append(all, ipBlock(uint64(i+1), fmt.Sprintf("192.0.2.%d", i+1), base.Add(time.Duration(i)*time.Second), time.Hour))
	}
	putBlocks(t, s, all...)
	var got []uuid.UUID
	q := secmon.BlockQuery{Limit: 10}
	for page := 0; ; page++ {
		bs := queryBlocks(t, s, q)
		got = append(got, blockIDs(bs)...)
		if len(bs) < q.Limit || page > n {
			break
		}
		q.Before = bs[len(bs)-1].ID
	}
	want := blockIDs(all)
	slices.Reverse(want)
	diff(t, "pages walk every block once, newest first", want, got)
}

func testBlockHistory(t *testing.T, s secmon.Store) {
	// Escalation reads a subject's earlier blocks, ended ones included.
	first := ipBlock(1, "203.0.113.7", base, 15*time.Minute)
	second := ipBlock(2, "203.0.113.7", base.Add(time.Hour), 30*time.Minute)
	second.Level = 2
	third := ipBlock(3, "203.0.113.7", base.Add(3*time.Hour), time.Hour)
	third.Level = 3
	other := ipBlock(4, "203.0.113.8", base.Add(3*time.Hour), time.Hour)
	putBlocks(t, s, first, second, third, other)
	noErr(t, "LiftBlock", s.LiftBlock(ctx(t), second.ID, "op", base.Add(70*time.Minute)))
	second.LiftedAt, second.LiftedBy = base.Add(70*time.Minute), "op"
	diff(t, "history of one subject", []secmon.Block{third, second, first},
		queryBlocks(t, s, secmon.BlockQuery{Subject: "ip:203.0.113.7/32", Since: base}))
	diff(t, "history within a window", []secmon.Block{third, second},
		queryBlocks(t, s, secmon.BlockQuery{Subject: "ip:203.0.113.7/32", Since: base.Add(time.Minute)}))
}

func testBlockInvalid(t *testing.T, s secmon.Store) {
	good := ipBlock(1, "203.0.113.7", base, time.Hour)
	mutate := func(f func(b *secmon.Block)) secmon.Block {
		b := ipBlock(2, "203.0.113.8", base, time.Hour)
		f(&b)
		return b
	}
	for _, tc := range []struct {
		name string
		b    secmon.Block
	}{
		{"zero ID", mutate(func(b *secmon.Block) { b.ID = uuid.Nil })},
		{"unknown scope", mutate(func(b *secmon.Block) { b.Scope = "country" })},
		{"unknown origin", mutate(func(b *secmon.Block) { b.Origin = "" })},
		{"zero Created", mutate(func(b *secmon.Block) { b.Created = time.Time{} })},
		{"Until before Created", mutate(func(b *secmon.Block) { b.Until = base.Add(-time.Second) })},
		{"level zero", mutate(func(b *secmon.Block) { b.Level = 0 })},
		{"not an IP group", mutate(func(b *secmon.Block) {
			b.Prefix = netip.MustParsePrefix("203.0.113.0/24")
			b.Subject = "ip:203.0.113.0/24"
		})},
		{"host bits set", mutate(func(b *secmon.Block) {
			b.Scope, b.Prefix, b.Subject = secmon.ScopePrefix, netip.PrefixFrom(netip.MustParseAddr("198.51.100.7"), 24), "prefix:198.51.100.0/24"
		})},
		{"wrong subject", mutate(func(b *secmon.Block) { b.Subject = "ip:203.0.113.9/32" })},
		{"user block without user", mutate(func(b *secmon.Block) {
			b.Scope, b.Prefix, b.Subject = secmon.ScopeUser, netip.Prefix{}, "user:"
		})},
		{"control characters in reason", mutate(func(b *secmon.Block) { b.Reason = "a\nb" })},
		{"lifted without who", mutate(func(b *secmon.Block) { b.LiftedAt = base })},
	} {
		err := s.PutBlocks(ctx(t), []secmon.Block{good, tc.b})
		wantErrIs(t, tc.name, err, secmon.ErrInvalid)
	}
	if got := allBlocks(t, s); len(got) != 0 {
		t.Errorf("rejected batches stored %d blocks", len(got))
	}
}

func testBlockPurge(t *testing.T, s secmon.Store) {
	keep := 30 * day
	now := purgeNow
	expiredLongAgo := ipBlock(1, "203.0.113.1", ago(keep+2*day), time.Hour)
	expiredRecently := ipBlock(2, "203.0.113.2", ago(keep-2*day), time.Hour)
	liftedLongAgo := ipBlock(3, "203.0.113.3", ago(keep+5*day), 0) // permanent, lifted
	permanent := prefixBlock(4, "198.51.100.0/24", ago(keep+10*day), 0)
	active := userBlock(5, "alice", ago(keep+day), keep+2*day) // created long ago, still in force
	putBlocks(t, s, expiredLongAgo, expiredRecently, liftedLongAgo, permanent, active)
	noErr(t, "LiftBlock", s.LiftBlock(ctx(t), liftedLongAgo.ID, "op", ago(keep+4*day)))

	res, err := s.Purge(ctx(t), secmon.RetentionPolicy{Blocks: keep, Events: -1, Sessions: -1, Activity: -1, Alerts: -1}, now)
	noErr(t, "Purge", err)
	res.PartitionsDropped = 0
	diff(t, "PurgeResult", secmon.PurgeResult{Blocks: 2}, res)
	diff(t, "blocks left", []uuid.UUID{active.ID, permanent.ID, expiredRecently.ID}, blockIDs(allBlocks(t, s)))

	res, err = s.Purge(ctx(t), secmon.RetentionPolicy{Blocks: -1}, now.Add(1000*day))
	noErr(t, "Purge keeping blocks forever", err)
	if res.Blocks != 0 {
		t.Errorf("a negative Blocks period purged %d blocks", res.Blocks)
	}
	// The default period is secmon.DefaultBlockRetention.
	res, err = s.Purge(ctx(t), secmon.RetentionPolicy{}, expiredRecently.Until.Add(secmon.DefaultBlockRetention+time.Second))
	noErr(t, "Purge with defaults", err)
	if res.Blocks != 1 {
		t.Errorf("default Purge removed %d blocks, want 1 (the one that ended more than %v ago)", res.Blocks, secmon.DefaultBlockRetention)
	}
}

func testBlockConcurrent(t *testing.T, s secmon.Store) {
	const (
		writers = 8
		each    = 40
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := t.Context()
			for i := range each {
				n := uint64(w*each + i + 1)
				b := ipBlock(n, fmt.Sprintf("10.%d.%d.1", w, i), base.Add(time.Duration(n)*time.Millisecond), time.Hour)
				// Every writer also writes one shared block, and lifts
				// its own blocks with odd numbers.
				shared := ipBlock(10_000, "192.0.2.1", base, time.Hour)
				shared.Level = w + 1
				if err := s.PutBlocks(c, []secmon.Block{b, shared}); err != nil {
					errs <- fmt.Errorf("PutBlocks: %w", err)
					return
				}
				if n%2 == 1 {
					if err := s.LiftBlock(c, b.ID, fmt.Sprintf("w%d", w), base.Add(time.Minute)); err != nil {
						errs <- fmt.Errorf("LiftBlock: %w", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all := allBlocks(t, s)
	if len(all) != writers*each+1 {
		t.Fatalf("%d blocks stored, want %d", len(all), writers*each+1)
	}
	lifted := 0
	for _, b := range all {
		if !b.LiftedAt.IsZero() {
			lifted++
		}
	}
	if lifted != writers*each/2 {
		t.Errorf("%d blocks lifted, want %d", lifted, writers*each/2)
	}
	if !slices.IsSortedFunc(all, func(a, b secmon.Block) int { return bytes.Compare(b.ID[:], a.ID[:]) }) {
		t.Error("blocks are not newest first")
	}
}

func testBlockCancelled(t *testing.T, s secmon.Store) {
	b := ipBlock(1, "203.0.113.7", base, time.Hour)
	putBlocks(t, s, b)
	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	wantErrIs(t, "PutBlocks", s.PutBlocks(cctx, []secmon.Block{ipBlock(2, "203.0.113.8", base, time.Hour)}), context.Canceled)
	_, err := s.Blocks(cctx, secmon.BlockQuery{})
	wantErrIs(t, "Blocks", err, context.Canceled)
	wantErrIs(t, "LiftBlock", s.LiftBlock(cctx, b.ID, "op", base.Add(time.Minute)), context.Canceled)
	diff(t, "cancelled calls changed nothing", []secmon.Block{b}, allBlocks(t, s))
}
