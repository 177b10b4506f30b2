package guard

import (
	"math"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// snapshot is what Check reads: immutable once published, replaced whole
// through Guard.snap. Blocks on IP groups and prefixes and the prefixes of
// blocking lists share one table, so a check is one longest-prefix lookup.
type snapshot struct {
	ips      *bart.Table[*cell] // blocks on IP groups and prefixes, and blocking lists
	users    map[string]*cell   // blocks on accounts, by user key (detect.UserKey)
	allow    *bart.Lite         // addresses never refused
	observe  *bart.Table[*listRef]
	caseSens bool
}

// cell is what one prefix (or one account) holds: the blocks on exactly
// that prefix, strongest (latest end) first, and the blocking lists
// holding it. end is when blocks[0] ends, in Unix nanoseconds
// (math.MaxInt64 for never), kept in the cell so a check needs no pointer
// chase to tell whether it is in force.
type cell struct {
	end    int64
	blocks []*secmon.Block
	lists  []*listRef
}

// endNanos is b's End in Unix nanoseconds, math.MaxInt64 when it never
// ends.
func endNanos(b *secmon.Block) int64 {
	e := b.End()
	if e.IsZero() {
		return math.MaxInt64
	}
	return e.UnixNano()
}

// settle sets c.end from its strongest block.
func (c *cell) settle() *cell {
	c.end = 0
	if len(c.blocks) > 0 {
		c.end = endNanos(c.blocks[0])
	}
	return c
}

// listRef is one loaded reputation list as Check reports a match of it.
type listRef struct {
	name    string
	subject string // "list:<name>"
	by      string // "list:<name>"
	reason  string
	loaded  time.Time
	block   bool // blocks (else only observes)
}

// stronger orders blocks within a cell: one without an end first, then the
// one that ends later.
func stronger(a, b *secmon.Block) bool {
	ea, eb := a.End(), b.End()
	switch {
	case ea.IsZero() != eb.IsZero():
		return ea.IsZero()
	default:
		return ea.After(eb)
	}
}

// withBlock returns a copy of c (nil for none) holding b as well, in
// strength order; a block with the same ID is replaced.
func (c *cell) withBlock(b *secmon.Block) *cell {
	n := &cell{}
	if c != nil {
		n.lists = c.lists
		n.blocks = make([]*secmon.Block, 0, len(c.blocks)+1)
		for _, x := range c.blocks {
			if x.ID != b.ID {
				n.blocks = append(n.blocks, x)
			}
		}
	}
	i := 0
	for i < len(n.blocks) && !stronger(b, n.blocks[i]) {
		i++
	}
	n.blocks = append(n.blocks, nil)
	copy(n.blocks[i+1:], n.blocks[i:])
	n.blocks[i] = b
	return n.settle()
}

// withoutBlock returns a copy of c without the block id, or nil when
// nothing is left.
func (c *cell) withoutBlock(id [16]byte) *cell {
	if c == nil {
		return nil
	}
	n := &cell{lists: c.lists}
	for _, x := range c.blocks {
		if x.ID != id {
			n.blocks = append(n.blocks, x)
		}
	}
	if len(n.blocks) == 0 && len(n.lists) == 0 {
		return nil
	}
	return n.settle()
}

// active returns the block of c in force at now (Unix ns): the strongest
// one, or none when even that one has ended.
func (c *cell) active(now int64) (*secmon.Block, bool) {
	if len(c.blocks) > 0 && now < c.end {
		return c.blocks[0], true
	}
	return nil, false
}

// listBlock is the Block Check reports for a match of list l on pfx.
func listBlock(l *listRef, pfx netip.Prefix) secmon.Block {
	return secmon.Block{
		Scope: secmon.ScopePrefix, Subject: l.subject, Prefix: pfx, Reason: l.reason,
		Origin: secmon.OriginList, Level: 1, Created: l.loaded, By: l.by,
	}
}

// checkCounters spreads the Check counter over padded slots, picked by the
// address's last byte, so concurrent checks from different clients do not
// all contend for one cache line.
type checkCounters [16]struct {
	n atomic.Uint64
	_ [56]byte
}

func (c *checkCounters) add(slot byte) { c[slot&15].n.Add(1) }

func (c *checkCounters) load() uint64 {
	var n uint64
	for i := range c {
		n += c[i].n.Load()
	}
	return n
}

// Check implements secmon.Guard: it returns the block in force for ip (a
// block on its IP group or on a prefix holding it, or a blocking list
// holding it) or for userID, and whether there is one. An allowlisted
// address is never refused for its address, though a block on the account
// still applies. IPv4-mapped addresses are checked as IPv4; zones are
// ignored; an invalid ip or an empty userID matches nothing of its kind.
// userID is compared as the detection rules compare it (detect.UserKey).
//
// Check takes no lock, does no I/O and allocates nothing: it reads the
// snapshot the guard last published, and the clock only when a block
// matches (to tell whether it has expired). It is safe for concurrent use,
// also after Close.
func (g *Guard) Check(ip netip.Addr, userID string) (secmon.Block, bool) {
	s := g.snap.Load()
	if ip.IsValid() {
		ip = ip.Unmap()
		g.checks.add(ip.As16()[15])
		if c, ok := s.ips.Lookup(ip); ok {
			if b, ok := g.matchIP(s, ip, c); ok {
				return b, true
			}
		}
	} else {
		g.checks.add(0)
	}
	if userID != "" && len(s.users) > 0 {
		var buf [detect.MaxUserKeyLen]byte
		key := detect.AppendUserKey(buf[:0], userID, s.caseSens)
		if c, ok := s.users[string(key)]; ok {
			if b, ok := c.active(g.clock.Now().UnixNano()); ok {
				g.refusals.add(byte(len(userID)))
				return *b, true
			}
		}
	}
	return secmon.Block{}, false
}

// matchIP resolves a lookup hit on cell c: its strongest block in force,
// else a blocking list holding ip, walking out to less specific prefixes
// when the closest one holds only blocks that ended since the snapshot was
// built. The allowlist wins over every match.
func (g *Guard) matchIP(s *snapshot, ip netip.Addr, c *cell) (secmon.Block, bool) {
	now := g.clock.Now().UnixNano()
	if b, ok := c.active(now); ok {
		return g.refuse(s, ip, b)
	}
	probe := netip.PrefixFrom(ip, ip.BitLen())
	for {
		pfx, c, ok := s.ips.LookupPrefixLPM(probe)
		if !ok {
			return secmon.Block{}, false
		}
		if b, ok := c.active(now); ok {
			return g.refuse(s, ip, b)
		}
		if len(c.lists) > 0 {
			lb := listBlock(c.lists[0], pfx)
			return g.refuse(s, ip, &lb)
		}
		if pfx.Bits() == 0 {
			return secmon.Block{}, false
		}
		probe = netip.PrefixFrom(ip, pfx.Bits()-1).Masked()
	}
}

func (g *Guard) refuse(s *snapshot, ip netip.Addr, b *secmon.Block) (secmon.Block, bool) {
	if s.allow.Contains(ip) {
		g.allowExempt.Add(1)
		return secmon.Block{}, false
	}
	slot := ip.As16()[15]
	g.refusals.add(slot)
	if b.Origin == secmon.OriginList {
		g.listRefusals.add(slot)
	}
	return *b, true
}

// Observed reports whether ip is held by an observe-only reputation list
// and, if so, which list and prefix. It reads the snapshot like Check and
// allocates nothing.
func (g *Guard) Observed(ip netip.Addr) (list string, prefix netip.Prefix, ok bool) {
	s := g.snap.Load()
	if !ip.IsValid() || s.observe.Size() == 0 {
		return "", netip.Prefix{}, false
	}
	ip = ip.Unmap()
	pfx, l, ok := s.observe.LookupPrefixLPM(netip.PrefixFrom(ip, ip.BitLen()))
	if !ok {
		return "", netip.Prefix{}, false
	}
	return l.name, pfx, true
}
