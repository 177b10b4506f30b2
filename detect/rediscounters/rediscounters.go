package rediscounters

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// DefaultPrefix is the key prefix Counters uses by default.
const DefaultPrefix = "secmon:detect:"

// MaxBuckets is the most sub-buckets Config.Buckets accepts.
const MaxBuckets = 60

// Defaults of Config.Timeout and Config.Backoff.
const (
	DefaultTimeout = 250 * time.Millisecond
	DefaultBackoff = time.Second
)

// ErrUnavailable is returned (wrapped, with the failure that caused
// it) by Counters.Do while it backs off after a failure: Redis is not
// asked, so the event costs no wait, and the engine still runs the rules that
// need no counters.
var ErrUnavailable = errors.New("rediscounters: counters unavailable")

// Config configures [Counters]. Zero fields mean the documented
// defaults.
type Config struct {
	// Prefix starts every key; default DefaultPrefix. Instances that
	// must see one another's counts use the same prefix.
	Prefix string
	// Buckets is how many sub-buckets a window is split into; default
	// detect.Buckets (10), at most MaxBuckets. More buckets make the window
	// edge sharper and each count read larger.
	Buckets int
	// Timeout bounds each Do call on top of the caller's deadline; default
	// DefaultTimeout, negative means only the caller's deadline.
	// go-redis honours context deadlines on the socket only when the
	// client's options set ContextTimeoutEnabled: true; without it an
	// unresponsive server holds a call for the client's ReadTimeout (3
	// seconds by default).
	Timeout time.Duration
	// Backoff is how long Do stops asking Redis after a failed round trip:
	// meanwhile it returns ErrUnavailable at once, so an outage
	// costs one timeout per Backoff rather than one per event, and the
	// counting rules skip those events. Default DefaultBackoff;
	// negative means ask Redis on every call. Failures caused by the
	// caller's context do not start a back-off.
	Backoff time.Duration
	// Clock times the back-off; nil means the system clock. Counting uses
	// the event times passed to Do, never this clock.
	Clock secmon.Clock
}

// Counters is a [detect.Counters] kept in Redis, so several instances of a
// service count one attack together.
//
// A count is one Redis string per sub-bucket (created by SET NX PX so that
// it outlives its window by two sub-buckets, then INCR), read with MGET over
// the window's other sub-buckets; like detect.MemoryCounters it never includes an occurrence
// older than the window and may miss the oldest sub-bucket's worth. A
// distinct count is one HyperLogLog per sub-bucket (PFADD, PEXPIRE; should
// a write be cut between the two, the next member of that sub-bucket sets
// the expiry) read
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
// clock.
//
// When a round trip fails, Do returns the error and then, for
// Config.Backoff, returns ErrUnavailable without asking Redis.
// It is safe for concurrent use; its only state is that back-off.
type Counters struct {
	client  redis.UniversalClient
	prefix  string
	buckets int64
	timeout time.Duration
	backoff time.Duration
	clock   secmon.Clock

	downUntil atomic.Int64 // Clock time (Unix ns) before which Do does not ask Redis
	lastErr   atomic.Pointer[error]
}

var _ detect.Counters = (*Counters)(nil)

// New returns counters kept in client, which the caller owns
// and closes. It fails on a nil client or detect.Buckets outside [0,
// MaxBuckets].
func New(client redis.UniversalClient, cfg Config) (*Counters, error) {
	if client == nil {
		return nil, fmt.Errorf("rediscounters: New: nil client")
	}
	if cfg.Buckets < 0 || cfg.Buckets > MaxBuckets {
		return nil, fmt.Errorf("rediscounters: Config.Buckets %d is outside [0, %d]", cfg.Buckets, MaxBuckets)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Buckets == 0 {
		cfg.Buckets = detect.Buckets
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Clock == nil {
		cfg.Clock = secmon.SystemClock{}
	}
	return &Counters{
		client: client, prefix: cfg.Prefix, buckets: int64(cfg.Buckets),
		timeout: cfg.Timeout, backoff: cfg.Backoff, clock: cfg.Clock,
	}, nil
}

type plan struct {
	cur   *redis.IntCmd   // INCR result (detect.OpCount) or PFCOUNT result (detect.OpDistinct)
	older *redis.SliceCmd // MGET of the older sub-buckets (detect.OpCount)
}

// Do implements [detect.Counters] with one pipelined round trip. It returns
// detect.ErrBadOp for an invalid op (before contacting Redis), an error wrapping
// ErrUnavailable while backing off after a failure, and Redis'
// error otherwise.
func (c *Counters) Do(ctx context.Context, now time.Time, ops []detect.Op) error {
	if len(ops) == 0 {
		return nil
	}
	for i := range ops {
		if err := ops[i].Validate(); err != nil {
			return err
		}
	}
	if c.backoff > 0 {
		if until := c.downUntil.Load(); until != 0 && c.clock.Now().UnixNano() < until {
			if last := c.lastErr.Load(); last != nil {
				return fmt.Errorf("%w after: %w", ErrUnavailable, *last)
			}
			return ErrUnavailable
		}
	}
	parent := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	ns := now.UnixNano()
	plans := make([]plan, len(ops))
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
		case detect.OpCount:
			// SET NX PX creates the sub-bucket with its expiry and INCR
			// keeps it: whichever prefix of the pipeline Redis executes
			// (a write cut by a timeout), no count key lives forever.
			pipe.SetNX(ctx, keys[0], 0, ttl)
			plans[i].cur = pipe.Incr(ctx, keys[0])
			if len(keys) > 1 {
				plans[i].older = pipe.MGet(ctx, keys[1:]...)
			}
		case detect.OpDistinct:
			pipe.PFAdd(ctx, keys[0], op.Member)
			pipe.PExpire(ctx, keys[0], ttl)
			plans[i].cur = pipe.PFCount(ctx, keys...)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		err = fmt.Errorf("rediscounters: redis counters: %w", err)
		if c.backoff > 0 && parent.Err() == nil { // Redis' failure, not the caller's
			c.lastErr.Store(&err)
			c.downUntil.Store(c.clock.Now().Add(c.backoff).UnixNano())
		}
		return err
	}
	if c.backoff > 0 && c.downUntil.Load() != 0 {
		c.downUntil.Store(0)
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
					return fmt.Errorf("rediscounters: redis counters: sub-bucket of %q holds a non-integer", ops[i].Key)
				}
				n += k
			}
		}
		ops[i].Count = n
	}
	return nil
}

// floorDiv is a/b rounded towards negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
