package detect

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sort"
	"time"
)

// OpKind says what a counter operation does.
type OpKind uint8

// Counter operations.
const (
	// OpCount records one occurrence of Key and reads how many occurred
	// within Window.
	OpCount OpKind = iota + 1
	// OpDistinct records Member under Key and reads how many distinct
	// members were recorded within Window.
	OpDistinct
)

// Op is one counter operation. Rules append Ops in [Rule.Plan]; the engine
// executes every rule's Ops for one event in a single [Counters.Do] call and
// hands each rule its Ops back with Count filled.
//
// A counter is named by Scope and Key together: Scope keeps rules apart (a
// short tag per rule, e.g. "bf_ip") and Key says what is counted within it
// (e.g. an IP group). Keeping them apart spares the hot path a string
// concatenation per op.
type Op struct {
	Kind   OpKind
	Scope  string        // the counter family, e.g. "bf_ip"; non-empty
	Key    string        // what is counted, e.g. "203.0.113.7/32"; non-empty
	Member string        // OpDistinct only: the value whose distinct occurrences are counted
	Window time.Duration // how far back the count reaches; > 0
	Count  int64         // filled by Do: the count within Window, this occurrence included
}

// CountOp returns an OpCount for (scope, key) over window.
func CountOp(scope, key string, window time.Duration) Op {
	return Op{Kind: OpCount, Scope: scope, Key: key, Window: window}
}

// DistinctOp returns an OpDistinct recording member under (scope, key) over
// window.
func DistinctOp(scope, key, member string, window time.Duration) Op {
	return Op{Kind: OpDistinct, Scope: scope, Key: key, Member: member, Window: window}
}

// Counters keeps sliding-window counts and distinct-member counts per key.
//
// Time is the caller's: now is the time of the event being counted, so a
// replayed stream counts exactly as it did live. Implementations must be safe
// for concurrent use.
type Counters interface {
	// Do records every op at now and sets each op's Count. Implementations
	// backed by a network store execute all ops in one round trip. When Do
	// returns an error, the Counts are undefined.
	Do(ctx context.Context, now time.Time, ops []Op) error
}

// Defaults and limits of the in-memory counters.
const (
	// Buckets is how many sub-buckets a counting window is split into.
	// Redis counters count by sub-buckets alone: a count includes every
	// occurrence in the last Window minus at most one sub-bucket
	// (Window/Buckets) and never one older than Window. MemoryCounters
	// count exactly up to ExactCount (see there).
	Buckets = 10

	// ExactCount is how many of a key's newest occurrence times
	// MemoryCounters remember. Below it a count is exact: every occurrence
	// less than Window before the one counted (an occurrence exactly one
	// Window old is out, as always); from it on, the count is at least
	// ExactCount and otherwise the sub-bucket count. A rule whose threshold
	// is below ExactCount (the built-in login rules) thus fires exactly
	// when Threshold occurrences fall within less than Window of one
	// another.
	ExactCount = 32

	DefaultMaxKeys     = 100_000 // keys tracked by MemoryCounters
	DefaultMaxDistinct = 64      // members remembered per distinct key
	MaxMaxDistinct     = 4096    // upper bound of MemoryConfig.MaxDistinct
	MaxKeyLen          = 512     // longest Op.Key or Op.Member accepted
	MaxScopeLen        = 64      // longest Op.Scope accepted
)

// ErrBadOp reports an Op that cannot be executed: unknown kind, empty or
// over-long scope or key, over-long member, or a window that is not
// positive.
var ErrBadOp = errors.New("detect: invalid counter op")

func (op *Op) Validate() error {
	switch {
	case op.Kind != OpCount && op.Kind != OpDistinct:
		return fmt.Errorf("%w: unknown kind %d", ErrBadOp, op.Kind)
	case op.Scope == "" || len(op.Scope) > MaxScopeLen:
		return fmt.Errorf("%w: scope length %d", ErrBadOp, len(op.Scope))
	case op.Key == "" || len(op.Key) > MaxKeyLen:
		return fmt.Errorf("%w: key length %d", ErrBadOp, len(op.Key))
	case op.Kind == OpDistinct && len(op.Member) > MaxKeyLen:
		return fmt.Errorf("%w: member length %d", ErrBadOp, len(op.Member))
	case op.Window <= 0:
		return fmt.Errorf("%w: window %v", ErrBadOp, op.Window)
	}
	return nil
}

// MemoryCountersConfig configures [MemoryCounters]. Zero fields mean the documented
// defaults.
type MemoryCountersConfig struct {
	// MaxKeys caps the keys tracked (counts and distinct sets together);
	// default DefaultMaxKeys. When full, recording a new key evicts one of
	// the least recently updated keys, so a flood of new sources costs
	// evictions, not memory.
	MaxKeys int
	// MaxDistinct caps the members remembered per distinct key; default
	// DefaultMaxDistinct, at most MaxMaxDistinct. Distinct counts are exact
	// up to MaxDistinct members within the window and saturate at
	// MaxDistinct above it, so keep rule thresholds at or below it.
	MaxDistinct int
}

// MemoryCounters is the in-process [Counters]: one instance's view of the
// counts, bounded in keys and in bytes per key.
//
// A counted key holds Buckets int32 sub-bucket counts and the times of its
// newest occurrences, up to ExactCount of them (8 bytes each, grown as they
// come): counts below ExactCount are exact, larger ones come from the
// sub-buckets (see [Buckets] for their error bound). An occurrence that
// arrives late counts what was recorded within the window ending at its
// own time, as the Redis counters do. A distinct key holds up to
// MaxDistinct (64-bit hash, last seen) pairs, 16 bytes each, and counts
// exactly within the window until it saturates. Counts saturate at
// math.MaxInt32 rather than wrap.
//
// It starts no goroutines; expired keys are reclaimed by eviction when the
// key cap is reached. It is safe for concurrent use.
type MemoryCounters struct {
	t           *table[memEntry]
	seed        maphash.Seed
	maxDistinct int
}

type memEntry struct {
	width  int64 // sub-bucket width in nanoseconds; 0 before the first count
	head   int64 // newest sub-bucket index recorded
	counts [Buckets]int32
	// recent holds the newest occurrence times (Unix ns), ascending, at
	// most ExactCount; dropped is the newest time dropped from it (when
	// hasDropped): a window reaching back to it may hold occurrences
	// recent no longer has.
	recent     []int64
	dropped    int64
	hasDropped bool
	members    []member
}

type member struct {
	h uint64
	t int64 // last seen, Unix nanoseconds
}

var _ Counters = (*MemoryCounters)(nil)

// NewMemoryCounters returns in-memory counters. It fails on a negative field
// or a MaxDistinct above MaxMaxDistinct.
func NewMemoryCounters(cfg MemoryCountersConfig) (*MemoryCounters, error) {
	switch {
	case cfg.MaxKeys < 0:
		return nil, fmt.Errorf("detect: MemoryConfig.MaxKeys %d is negative", cfg.MaxKeys)
	case cfg.MaxDistinct < 0 || cfg.MaxDistinct > MaxMaxDistinct:
		return nil, fmt.Errorf("detect: MemoryConfig.MaxDistinct %d is outside [0, %d]", cfg.MaxDistinct, MaxMaxDistinct)
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.MaxDistinct == 0 {
		cfg.MaxDistinct = DefaultMaxDistinct
	}
	return &MemoryCounters{
		t:           newTable[memEntry](cfg.MaxKeys),
		seed:        maphash.MakeSeed(),
		maxDistinct: cfg.MaxDistinct,
	}, nil
}

// Do implements [Counters]. It fails only on an invalid op (ErrBadOp), in
// which case no op is recorded.
func (c *MemoryCounters) Do(_ context.Context, now time.Time, ops []Op) error {
	for i := range ops {
		if err := ops[i].Validate(); err != nil {
			return err
		}
	}
	ns := now.UnixNano()
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case OpCount:
			c.t.updateHash(c.t.hash(op.Scope, op.Key), ns, func(e *memEntry, _ bool) bool {
				op.Count = e.incr(ns, op.Window)
				return true
			})
		case OpDistinct:
			h := maphash.String(c.seed, op.Member)
			c.t.updateHash(c.t.hash(op.Scope, op.Key), ns, func(e *memEntry, _ bool) bool {
				op.Count = e.addDistinct(h, ns, op.Window, c.maxDistinct)
				return true
			})
		}
	}
	return nil
}

// Len returns the number of keys tracked; never more than the configured
// MaxKeys.
func (c *MemoryCounters) Len() int { return c.t.len() }

// Evictions returns how many keys were evicted to respect MaxKeys.
func (c *MemoryCounters) Evictions() int64 { return c.t.evictions.Load() }

// MaxKeys returns the key cap in effect (MemoryConfig.MaxKeys rounded down
// to a multiple of the shard count).
func (c *MemoryCounters) MaxKeys() int { return c.t.capacity() }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ring(i int64) int {
	r := i % Buckets
	if r < 0 {
		r += Buckets
	}
	return int(r)
}

// incr adds one occurrence at ns and returns how many occurred within
// window of it: exactly while fewer than ExactCount are remembered,
// otherwise at least ExactCount or the sub-bucket count.
func (e *memEntry) incr(ns int64, window time.Duration) int64 {
	approx := e.incrBuckets(ns, window)
	exact, ok := e.remember(ns, int64(window))
	if ok {
		return exact
	}
	return max(exact, approx)
}

// remember records ns among the newest occurrence times and returns how
// many remembered occurrences fall within the window ending at ns, (ns -
// window, ns], and whether that count is exact: false when the window may
// also hold occurrences no longer remembered. Occurrences recorded earlier
// but later in time than ns are not counted: a late event answers at its
// own time.
func (e *memEntry) remember(ns, window int64) (int64, bool) {
	// i: after every remembered time at or before ns.
	i := sort.Search(len(e.recent), func(k int) bool { return e.recent[k] > ns })
	switch {
	case len(e.recent) < ExactCount:
		e.recent = slices.Insert(e.recent, i, ns)
	case i == 0: // older than every remembered time: not kept
		e.forget(ns)
		return 1, false
	default: // the oldest remembered time makes room
		e.forget(e.recent[0])
		copy(e.recent, e.recent[1:i])
		i--
		e.recent[i] = ns
	}
	lo := ns - window
	first := sort.Search(i, func(k int) bool { return e.recent[k] > lo })
	return int64(i - first + 1), !e.hasDropped || e.dropped <= lo
}

// forget records that the occurrence at ns is no longer remembered. Every
// forgotten time is at most the oldest remembered one.
func (e *memEntry) forget(ns int64) {
	if !e.hasDropped || ns > e.dropped {
		e.dropped, e.hasDropped = ns, true
	}
}

// incrBuckets adds one occurrence at ns to the sub-buckets and returns the
// count of the last Buckets sub-buckets ending at ns's sub-bucket.
func (e *memEntry) incrBuckets(ns int64, window time.Duration) int64 {
	w := max(int64(window)/Buckets, 1)
	b := floorDiv(ns, w)
	if e.width != w {
		e.width, e.head, e.counts = w, b, [Buckets]int32{}
		e.recent, e.dropped, e.hasDropped = e.recent[:0], 0, false
	}
	if b > e.head {
		if b-e.head >= Buckets {
			e.counts = [Buckets]int32{}
		} else {
			for i := e.head + 1; i <= b; i++ {
				e.counts[ring(i)] = 0
			}
		}
		e.head = b
	}
	if b > e.head-Buckets && e.counts[ring(b)] < math.MaxInt32 {
		e.counts[ring(b)]++
	}
	lo := max(b, e.head) - Buckets + 1 // oldest live sub-bucket for both b and head
	hi := min(b, e.head)
	var n int64
	for i := max(lo, b-Buckets+1); i <= hi; i++ {
		n += int64(e.counts[ring(i)])
	}
	return n
}

// addDistinct records member hash h at ns and returns how many distinct
// members were seen within the window ending at ns, h included. Members
// seen only after ns (recorded by events that arrived before this late one)
// are not counted, as OpCount and the Redis counters do not count them: a late
// or backdated event must not join occurrences up to a window apart.
func (e *memEntry) addDistinct(h uint64, ns int64, window time.Duration, maxMembers int) int64 {
	cut := ns - int64(window)
	found := false
	oldest := -1
	var n int64
	for i := range e.members {
		m := &e.members[i]
		if m.h == h {
			found = true
			n++ // seen now, whenever it was seen before
			if ns > m.t {
				m.t = ns
			}
		} else if m.t > cut && m.t <= ns {
			n++
		}
		if oldest < 0 || m.t < e.members[oldest].t {
			oldest = i
		}
	}
	if found {
		return n
	}
	switch {
	case oldest >= 0 && e.members[oldest].t <= cut: // reuse an expired member's place
		e.members[oldest] = member{h, ns}
		n++
	case len(e.members) < maxMembers:
		if len(e.members) == cap(e.members) {
			grown := make([]member, len(e.members), min(max(2*cap(e.members), 2), maxMembers))
			copy(grown, e.members)
			e.members = grown
		}
		e.members = append(e.members, member{h, ns})
		n++
	default: // saturated: every remembered member is live
		if ns > e.members[oldest].t {
			e.members[oldest] = member{h, ns}
		}
	}
	return n
}
