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
type table[V any] struct {
	seed      maphash.Seed
	shards    []tableShard[V]
	mask      uint64
	perShard  int
	evictions atomic.Int64
}

type tableShard[V any] struct {
	mu sync.Mutex
	m  map[string]slot[V]
	_  [40]byte // keep shards on separate cache lines
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
		t.shards[i].m = make(map[string]slot[V])
	}
	return t
}

// cap returns the most entries the table holds.
func (t *table[V]) capacity() int { return t.perShard * len(t.shards) }

// update calls fn with a pointer to key's value (the zero value and
// found=false when key is absent) under the shard's lock and stores the
// result, marking it touched at now. When fn returns false the key is
// removed instead. fn must not call back into the table.
func (t *table[V]) update(key string, now int64, fn func(v *V, found bool) bool) {
	s := &t.shards[maphash.String(t.seed, key)&t.mask]
	s.mu.Lock()
	sl, found := s.m[key]
	if !fn(&sl.v, found) {
		if found {
			delete(s.m, key)
		}
		s.mu.Unlock()
		return
	}
	if !found && len(s.m) >= t.perShard {
		t.evictLocked(s)
	}
	if now > sl.touched {
		sl.touched = now
	}
	s.m[key] = sl
	s.mu.Unlock()
}

// get returns key's value without touching it.
func (t *table[V]) get(key string) (V, bool) {
	s := &t.shards[maphash.String(t.seed, key)&t.mask]
	s.mu.Lock()
	sl, ok := s.m[key]
	s.mu.Unlock()
	return sl.v, ok
}

func (t *table[V]) evictLocked(s *tableShard[V]) {
	var (
		victim string
		oldest int64
		n      int
	)
	for k, sl := range s.m { // map iteration starts at a random entry
		if n == 0 || sl.touched < oldest {
			victim, oldest = k, sl.touched
		}
		n++
		if n == evictSample {
			break
		}
	}
	if n > 0 {
		delete(s.m, victim)
		t.evictions.Add(1)
	}
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
