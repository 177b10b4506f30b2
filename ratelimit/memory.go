package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/secmon-go/secmon"
)

// Defaults of MemoryConfig.
const (
	DefaultMaxKeys   = 1 << 20
	DefaultMaxKeyLen = 512
	DefaultShards    = 64
	MinSweepInterval = 10 * time.Second
)

const (
	// capacitySweepSpacing is the least time between two sweeps one shard
	// runs because it is at its key cap, so a flood of new keys costs
	// amortised constant time per key.
	capacitySweepSpacing = time.Second
	// minKeysPerShard stops the default shard count from splitting a small
	// MaxKeys into shards too small to be useful.
	minKeysPerShard = 256
)

// MemoryConfig configures a Memory limiter. Zero fields mean the documented
// defaults; only Policy is required.
type MemoryConfig struct {
	// Policy is the rate every key gets. Required.
	Policy Policy
	// MaxKeys caps how many keys the limiter tracks at once. Default
	// DefaultMaxKeys (1,048,576). The cap is enforced per shard, each shard
	// holding MaxKeys/Shards keys, so the total never exceeds MaxKeys.
	MaxKeys int
	// MaxKeyLen is the longest key Allow accepts; longer keys get
	// ErrKeyTooLong. Keys are hashed, not stored, so this bounds the work
	// per call rather than memory. Default DefaultMaxKeyLen.
	MaxKeyLen int
	// Shards is the number of independently locked partitions, a power of
	// two. Default DefaultShards, halved while a shard would hold fewer
	// than 256 keys.
	Shards int
	// SweepInterval is how often each shard deletes the keys whose bucket
	// is full again (idle keys). The sweep runs inside the Allow call that
	// finds it due, so no goroutine is needed. Default: the time an empty
	// bucket takes to refill, and at least MinSweepInterval.
	SweepInterval time.Duration
	// Clock tells the time for Allow. Nil means the system clock.
	Clock secmon.Clock
}

// Memory is a per-key token-bucket limiter for one process. It implements
// secmon.RateLimiter.
//
// A bucket is one int64, the GCRA "theoretical arrival time", which carries
// the same information as the (tokens, last) pair of a
// golang.org/x/time/rate Limiter. Buckets live in open-addressing tables
// spread over power-of-two shards, each behind its own mutex, and are found
// by a 64-bit keyed hash of the key (hash/maphash with a random seed per
// limiter): the key itself is not stored, so a bucket costs 16 bytes of
// table (about 34 bytes a key with the table's slack) and Allow on a known
// key never allocates. Two distinct keys share a bucket only if
// their hashes collide, which among a million keys happens with probability
// below 10⁻⁷, and the secret per-process seed keeps clients from aiming for
// a collision.
//
// # Bounded memory
//
// A key whose bucket is full again is indistinguishable from a key never
// seen, so it may be deleted without changing any decision. Each shard
// deletes such keys every SweepInterval, during an Allow call; a sweep walks
// one shard's table, at most MaxKeys/Shards buckets (16,384 by default), and
// shrinks it when it has become sparse.
//
// When a shard holds its share of MaxKeys and a new key arrives, Memory first
// deletes the full buckets of that shard (at most once per second per shard,
// so a flood of new keys costs amortised constant time). If every key left is
// limited, it refuses the new key: the Decision is a denial with
// Degraded == secmon.DegradedKeyCap and RetryAfter set to when a slot may free
// up. Memory never evicts a key whose bucket is not full, so a flood of new
// keys cannot reset an attacker's limited key. The cost of this choice is
// that during such a flood new keys are refused until old ones refill.
//
// A Memory starts no goroutine and needs no Close. All methods are safe for
// concurrent use.
type Memory struct {
	policy    Policy
	interval  int64 // ns for one token
	fill      int64 // ns for an empty bucket to become full
	burst     int
	maxKeyLen int
	sweep     int64 // ns between idle sweeps of one shard
	clock     secmon.Clock
	epoch     time.Time
	seed      maphash.Seed
	mask      uint64
	shards    []shard
}

// shard is one locked partition: an open-addressing table of buckets keyed
// by hash, with linear probing. A slot whose hash is 0 is empty.
type shard struct {
	mu        sync.Mutex
	slots     []slot // length a power of two, or nil while empty
	n         int    // slots in use
	cap       int    // most keys this shard may hold
	minTAT    int64  // lower bound of every tat in use; MaxInt64 when empty
	nextSweep int64  // when the next idle sweep is due
	lastFull  int64  // when the last capacity sweep ran
	evicted   uint64
	refused   uint64
	_         [40]byte // 128 bytes: keep shards on separate cache lines
}

// slot is one bucket: the key's hash and its theoretical arrival time in
// nanoseconds since Memory.epoch.
type slot struct {
	h   uint64
	tat int64
}

// shardBits is how many low hash bits may select a shard; tables index
// with the bits above them.
const shardBits = 16

var _ secmon.RateLimiter = (*Memory)(nil)

// NewMemory returns a Memory limiter for cfg, or an error matching
// secmon.ErrInvalid when cfg is invalid.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	p, err := cfg.Policy.WithDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 || cfg.MaxKeyLen < 0 || cfg.Shards < 0 || cfg.SweepInterval < 0 {
		return nil, &secmon.FieldError{Field: "MemoryConfig", Reason: "has a negative field"}
	}
	maxKeys := cfg.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	maxKeyLen := cfg.MaxKeyLen
	if maxKeyLen == 0 {
		maxKeyLen = DefaultMaxKeyLen
	}
	shards := cfg.Shards
	switch {
	case shards == 0:
		shards = DefaultShards
		for shards > 1 && maxKeys/shards < minKeysPerShard {
			shards /= 2
		}
	case shards&(shards-1) != 0 || shards > 1<<shardBits:
		return nil, &secmon.FieldError{Field: "Shards", Reason: "must be a power of two no larger than 65536"}
	case shards > maxKeys:
		return nil, &secmon.FieldError{Field: "Shards", Reason: "must not exceed MaxKeys"}
	}
	sweep := cfg.SweepInterval
	if sweep == 0 {
		sweep = max(p.Fill(), MinSweepInterval)
	}
	// Times are clamped to ±2⁶¹ ns; a longer interval would overflow
	// n+sweep into a sweep at every call. 2⁶¹ ns is 73 years: never.
	sweep = min(sweep, 1<<61)
	m := &Memory{
		policy:    p,
		interval:  int64(p.Interval()),
		fill:      int64(p.Fill()),
		burst:     p.Burst,
		maxKeyLen: maxKeyLen,
		sweep:     int64(sweep),
		clock:     cfg.Clock,
		epoch:     time.Now(),
		seed:      maphash.MakeSeed(),
		mask:      uint64(shards - 1),
		shards:    make([]shard, shards),
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.cap = maxKeys / shards
		s.minTAT = math.MaxInt64
		s.nextSweep = math.MinInt64
		s.lastFull = -1 << 62 // n is clamped to ±2⁶¹, so n-lastFull cannot overflow
	}
	return m, nil
}

// Policy returns the limiter's policy with defaults filled in.
func (m *Memory) Policy() Policy { return m.policy }

// Allow takes one token from key's bucket at the Clock's current time. It
// never blocks and ignores ctx. The error is ErrKeyTooLong for a key longer
// than MaxKeyLen, and nil otherwise; a refused new key at the key cap is a
// denial, not an error (see Memory).
func (m *Memory) Allow(_ context.Context, key string) (secmon.Decision, error) {
	if m.clock == nil {
		// time.Since on a Time with a monotonic reading reads only the
		// monotonic clock: one clock read, immune to wall-clock steps.
		return m.allow(key, int64(time.Since(m.epoch)))
	}
	return m.AllowAt(key, m.clock.Now())
}

// AllowAt is Allow at the given time, for callers that already know it and
// for tests. Times may go backwards: a bucket never gains tokens by that,
// and one that the step would leave more than empty counts as empty, so
// after a step back of any length a key waits at most one refill interval.
func (m *Memory) AllowAt(key string, now time.Time) (secmon.Decision, error) {
	return m.allow(key, int64(now.Sub(m.epoch)))
}

// allow decides for key at n nanoseconds after m.epoch.
func (m *Memory) allow(key string, n int64) (secmon.Decision, error) {
	if len(key) > m.maxKeyLen {
		return secmon.Decision{Limit: m.burst}, ErrKeyTooLong
	}
	// Keep arithmetic far from overflow for absurd clocks.
	n = min(max(n, -1<<61), 1<<61)
	h := maphash.String(m.seed, key)
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	s := &m.shards[h&m.mask]
	s.mu.Lock()
	if n >= s.nextSweep {
		if n >= s.minTAT {
			s.sweepFull(n)
		}
		s.nextSweep = n + m.sweep
	}
	i, found := s.find(h)
	if found {
		tat, d := m.decide(s.slots[i].tat, n)
		s.slots[i].tat = tat
		s.minTAT = min(s.minTAT, tat) // lower after a clock step back
		s.mu.Unlock()
		return d, nil
	}
	if s.n >= s.cap {
		if n >= s.minTAT && n-s.lastFull >= int64(capacitySweepSpacing) {
			s.lastFull = n
			s.sweepFull(n)
		}
		if s.n >= s.cap {
			s.refused++
			wait := max(s.minTAT, s.lastFull+int64(capacitySweepSpacing)) - n
			s.mu.Unlock()
			wait = max(wait, 1)
			return secmon.Decision{
				Limit:      m.burst,
				RetryAfter: time.Duration(wait),
				ResetAfter: time.Duration(wait),
				Degraded:   secmon.DegradedKeyCap,
			}, nil
		}
		i, _ = s.find(h) // the sweep rebuilt the table
	}
	tat, d := m.decide(n, n) // a new bucket is full
	if (s.n+1)*4 > len(s.slots)*3 {
		s.rebuild(max(len(s.slots)*2, 8), n)
		i, _ = s.find(h)
	}
	s.slots[i] = slot{h: h, tat: tat}
	s.n++
	s.minTAT = min(s.minTAT, tat)
	s.mu.Unlock()
	return d, nil
}

// find returns the slot holding h, or the empty slot where h belongs.
// s.mu must be held.
func (s *shard) find(h uint64) (int, bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	mask := len(s.slots) - 1
	i := int(h>>shardBits) & mask
	for {
		switch s.slots[i].h {
		case h:
			return i, true
		case 0:
			return i, false
		}
		i = (i + 1) & mask
	}
}

// rebuild moves the buckets of s into a table of size slots, dropping
// those that are full at now. s.mu must be held.
func (s *shard) rebuild(size int, now int64) {
	old := s.slots
	s.slots, s.n = nil, 0
	if size > 0 {
		s.slots = make([]slot, size)
	}
	lo := int64(math.MaxInt64)
	for _, e := range old {
		if e.h == 0 {
			continue
		}
		if e.tat <= now {
			s.evicted++
			continue
		}
		i, _ := s.find(e.h)
		s.slots[i] = e
		s.n++
		lo = min(lo, e.tat)
	}
	s.minTAT = lo
}

// decide applies GCRA to a bucket whose theoretical arrival time is tat and
// returns the bucket's new tat with the Decision. A bucket is full when
// tat <= now and empty when tat >= now+fill. Going forward in time tat never
// exceeds now+fill; after the clock steps back it may, and clamping it there
// treats the bucket as empty, so a step back costs one interval's wait
// rather than the length of the step.
func (m *Memory) decide(tat, now int64) (int64, secmon.Decision) {
	tat = min(max(tat, now), now+m.fill)
	next := tat + m.interval
	allowAt := next - m.fill
	if now < allowAt {
		return tat, secmon.Decision{
			Limit:      m.burst,
			RetryAfter: time.Duration(allowAt - now),
			ResetAfter: time.Duration(tat - now),
		}
	}
	return next, secmon.Decision{
		Allowed:    true,
		Limit:      m.burst,
		Remaining:  int((now - allowAt) / m.interval),
		ResetAfter: time.Duration(next - now),
	}
}

// sweepFull deletes every bucket of s that is full at now, shrinking the
// table when it has become sparse, and recomputes minTAT exactly. s.mu must
// be held.
func (s *shard) sweepFull(now int64) {
	live, lo := 0, int64(math.MaxInt64)
	for _, e := range s.slots {
		if e.h != 0 && e.tat > now {
			live++
			lo = min(lo, e.tat)
		}
	}
	if live == s.n {
		s.minTAT = lo // nothing to delete
		return
	}
	size := 0
	if live > 0 {
		size = 8
		for live*4 > size*3 {
			size *= 2
		}
		// Keep the current size unless it is over four times too big, so
		// a steady population does not shrink and regrow at every sweep.
		if len(s.slots) <= size*4 {
			size = len(s.slots)
		}
	}
	s.rebuild(size, now)
}

// MemoryStats counts what a Memory limiter holds and has done.
type MemoryStats struct {
	Keys    int    // keys held now
	Evicted uint64 // keys deleted because their bucket was full again
	Refused uint64 // new keys denied at the key cap (Degraded == DegradedKeyCap)
}

// Stats returns current counters. It locks each shard in turn, so it is
// meant for monitoring, not for the request path.
func (m *Memory) Stats() MemoryStats {
	var st MemoryStats
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		st.Keys += s.n
		st.Evicted += s.evicted
		st.Refused += s.refused
		s.mu.Unlock()
	}
	return st
}

// String describes the limiter without revealing any key.
func (m *Memory) String() string {
	return fmt.Sprintf("ratelimit.Memory(%s: %d per %s, burst %d, %d shards)",
		m.policy.Name, m.policy.Limit, m.policy.Period, m.burst, len(m.shards))
}
