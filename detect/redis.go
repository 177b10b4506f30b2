package detect

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix is the key prefix RedisCounters uses by default.
const DefaultRedisPrefix = "secmon:detect:"

// MaxRedisBuckets is the most sub-buckets RedisConfig.Buckets accepts.
const MaxRedisBuckets = 60

// RedisConfig configures [RedisCounters]. Zero fields mean the documented
// defaults.
type RedisConfig struct {
	// Prefix starts every key; default DefaultRedisPrefix. Instances that
	// must see one another's counts use the same prefix.
	Prefix string
	// Buckets is how many sub-buckets a window is split into; default
	// Buckets (10), at most MaxRedisBuckets. More buckets make the window
	// edge sharper and each count read larger.
	Buckets int
}

// RedisCounters is a [Counters] kept in Redis, so several instances of a
// service count one attack together.
//
// A count is one Redis string per sub-bucket (INCR, then PEXPIRE so it
// outlives its window by two sub-buckets), read with MGET over the window's
// other sub-buckets; like MemoryCounters it never includes an occurrence
// older than the window and may miss the oldest sub-bucket's worth. A
// distinct count is one HyperLogLog per sub-bucket (PFADD, PEXPIRE) read
// with PFCOUNT over the window's sub-buckets, which merges them: exact for
// small sets in practice, about 0.81% standard error for large ones.
//
// Every op of one Do call goes out in one pipeline: one network round trip
// per event on a single Redis. Keys wrap the counted key in a hash tag, so
// all sub-buckets of a key share a cluster slot; on a Redis Cluster the
// pipeline is split per node and sent concurrently.
//
// Sub-bucket indexes come from the event time passed to Do, so instances
// agree on them as long as their events carry times; expiry uses Redis'
// clock. It is safe for concurrent use and holds no state of its own.
type RedisCounters struct {
	client  redis.UniversalClient
	prefix  string
	buckets int64
}

var _ Counters = (*RedisCounters)(nil)

// NewRedisCounters returns counters kept in client, which the caller owns
// and closes. It fails on a nil client or Buckets outside [0,
// MaxRedisBuckets].
func NewRedisCounters(client redis.UniversalClient, cfg RedisConfig) (*RedisCounters, error) {
	if client == nil {
		return nil, fmt.Errorf("detect: NewRedisCounters: nil client")
	}
	if cfg.Buckets < 0 || cfg.Buckets > MaxRedisBuckets {
		return nil, fmt.Errorf("detect: RedisConfig.Buckets %d is outside [0, %d]", cfg.Buckets, MaxRedisBuckets)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultRedisPrefix
	}
	if cfg.Buckets == 0 {
		cfg.Buckets = Buckets
	}
	return &RedisCounters{client: client, prefix: cfg.Prefix, buckets: int64(cfg.Buckets)}, nil
}

type redisPlan struct {
	cur   *redis.IntCmd   // INCR result (OpCount) or PFCOUNT result (OpDistinct)
	older *redis.SliceCmd // MGET of the older sub-buckets (OpCount)
}

// Do implements [Counters] with one pipelined round trip. It returns
// ErrBadOp for an invalid op (before contacting Redis) and Redis' error
// otherwise.
func (c *RedisCounters) Do(ctx context.Context, now time.Time, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	for i := range ops {
		if err := checkOp(&ops[i]); err != nil {
			return err
		}
	}
	ns := now.UnixNano()
	plans := make([]redisPlan, len(ops))
	pipe := c.client.Pipeline()
	var sb strings.Builder
	for i := range ops {
		op := &ops[i]
		w := max(int64(op.Window)/c.buckets, 1)
		b := floorDiv(ns, w)
		ttl := time.Duration(w*(c.buckets+2)) + time.Millisecond
		base := c.prefix + op.Scope + ":{" + op.Key + "}:" + strconv.FormatInt(w, 36) + ":"
		keys := make([]string, c.buckets)
		for j := range keys {
			sb.Reset()
			sb.WriteString(base)
			sb.WriteString(strconv.FormatInt(b-int64(j), 36))
			keys[j] = sb.String()
		}
		switch op.Kind {
		case OpCount:
			plans[i].cur = pipe.Incr(ctx, keys[0])
			pipe.PExpire(ctx, keys[0], ttl)
			if len(keys) > 1 {
				plans[i].older = pipe.MGet(ctx, keys[1:]...)
			}
		case OpDistinct:
			pipe.PFAdd(ctx, keys[0], op.Member)
			pipe.PExpire(ctx, keys[0], ttl)
			plans[i].cur = pipe.PFCount(ctx, keys...)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("detect: redis counters: %w", err)
	}
	for i := range ops {
		n := plans[i].cur.Val()
		if plans[i].older != nil {
			for _, v := range plans[i].older.Val() {
				s, ok := v.(string)
				if !ok {
					continue // missing sub-bucket
				}
				k, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return fmt.Errorf("detect: redis counters: sub-bucket of %q holds a non-integer", ops[i].Key)
				}
				n += k
			}
		}
		ops[i].Count = n
	}
	return nil
}
