package detect

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// evictSample is how many entries a full shard looks at to choose the one
// to evict: the least recently touched of them goes (approximate LRU, as in
// Redis' allkeys-lru).
const evictSample = 8

// table is a sharded map from string keys to values of type V with a hard cap
// on the number of entries. When a shard is full, inserting a new key evicts
// the least recently touched of evictSample entries. It is safe for
// concurrent use.
//
// Keys are stored as their 64-bit maphash under a seed drawn at random per
// table, not as strings: an entry costs the same whatever the key's length,
// and lookups compare integers. Two of n keys share an entry with probability
// about n²/2⁶⁵ (below 10⁻⁹ for a million keys), and since the seed is secret
// an attacker cannot choose keys that collide.
type table[V any] struct {
	seed      maphash.Seed
	shards    []tableShard[V]
	mask      uint64
	perShard  int
	evictions atomic.Int64
}

type tableShard[V any] struct {
	mu    sync.Mutex
	m     map[uint64]*slot[V]
	spare *slot[V] // a zeroed entry kept for the next new key
	_     [32]byte // keep shards on separate cache lines
}

type slot[V any] struct {
	touched int64 // caller's clock, Unix nanoseconds
	v       V
}

// newTable returns a table holding at most maxKeys entries (maxKeys ≥ 1).
func newTable[V any](maxKeys int) *table[V] {
	n := 64
	for n > 1 && maxKeys/n < 64 {
		n /= 2
	}
	t := &table[V]{
		seed:     maphash.MakeSeed(),
		shards:   make([]tableShard[V], n),
		mask:     uint64(n - 1),
		perShard: max(1, maxKeys/n),
	}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*slot[V])
	}
	return t
}

// capacity returns the most entries the table holds.
func (t *table[V]) capacity() int { return t.perShard * len(t.shards) }

// hash returns the table's hash of the key made of parts joined by a zero
// byte.
func (t *table[V]) hash(parts ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	for i, p := range parts {
		if i > 0 {
			h.WriteByte(0)
		}
		h.WriteString(p)
	}
	return h.Sum64()
}

// update calls fn with a pointer to key's value (the zero value and
// found=false when key is absent) under the shard's lock and stores the
// result, marking it touched at now. When fn returns false the key is
// removed instead. fn must not call back into the table.
func (t *table[V]) update(key string, now int64, fn func(v *V, found bool) bool) {
	t.updateHash(maphash.String(t.seed, key), now, fn)
}

// updateHash is update for a key already hashed with t.hash.
func (t *table[V]) updateHash(key uint64, now int64, fn func(v *V, found bool) bool) {
	s := &t.shards[(key>>40)&t.mask]
	s.mu.Lock()
	sl, found := s.m[key]
	if !found {
		sl, s.spare = s.spare, nil
		if sl == nil {
			sl = new(slot[V])
		}
	}
	if !fn(&sl.v, found) {
		if found {
			delete(s.m, key)
		}
		*sl = slot[V]{}
		s.spare = sl
		s.mu.Unlock()
		return
	}
	if now > sl.touched {
		sl.touched = now
	}
	if !found {
		if len(s.m) >= t.perShard {
			s.spare = t.evictLocked(s) // its memory serves the next new key
		}
		s.m[key] = sl
	}
	s.mu.Unlock()
}

// get returns key's value without touching it.
func (t *table[V]) get(key string) (V, bool) {
	h := maphash.String(t.seed, key)
	s := &t.shards[(h>>40)&t.mask]
	s.mu.Lock()
	sl, ok := s.m[h]
	var v V
	if ok {
		v = sl.v
	}
	s.mu.Unlock()
	return v, ok
}

// evictLocked removes the least recently touched of a few sampled entries
// and returns it, zeroed, for reuse.
func (t *table[V]) evictLocked(s *tableShard[V]) *slot[V] {
	var (
		victim uint64
		vs     *slot[V]
		n      int
	)
	for k, sl := range s.m { // map iteration starts at a random entry
		if vs == nil || sl.touched < vs.touched {
			victim, vs = k, sl
		}
		n++
		if n == evictSample {
			break
		}
	}
	if vs == nil {
		return nil
	}
	delete(s.m, victim)
	t.evictions.Add(1)
	*vs = slot[V]{}
	return vs
}

// len returns the number of entries.
func (t *table[V]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
