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
// per event on a single Redis.
//
// # Redis Cluster
//
// A key is Prefix + scope + ":{" + counted key + "}:" + sub-bucket width +
// ":" + sub-bucket index. The braces are a hash tag: every sub-bucket of a
// counted key lies in one cluster slot, so the multi-key MGET and PFCOUNT
// never span slots, while different counted keys spread over the cluster.
// Braces and '%' in the scope and the counted key are percent-encoded (a
// user name such as "}x" would otherwise leave an empty tag and scatter the
// sub-buckets), and a Prefix holding braces is refused, so the tag is always
// the one placed here. On a cluster the pipeline is split per master and sent
// to each concurrently: one round trip per master the event's keys live on.
// MOVED and ASK redirections (a slot being moved) are followed by go-redis;
// while a slot is half moved, Redis answers a read over sub-buckets on both
// sides with TRYAGAIN. Do sends again exactly the commands Redis refused
// without running them (TRYAGAIN, and MOVED or ASK beyond go-redis'
// MaxRedirects), so no occurrence is lost or counted twice, until the move
// completes or its Timeout ends.
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
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("rediscounters: Config.Prefix %q holds a brace, which would decide the cluster slot of every key", cfg.Prefix)
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

// plan is one op's commands. A command Redis Cluster refused without running
// it (MOVED or ASK beyond go-redis' own redirections, TRYAGAIN while a slot
// is half moved) is sent again by resend.
type plan struct {
	kind   detect.OpKind
	keys   []string // the op's sub-bucket keys, newest first
	member string
	ttl    time.Duration

	setNX   *redis.BoolCmd  // detect.OpCount: SET NX PX of the newest sub-bucket
	incr    *redis.IntCmd   // INCR of it
	older   *redis.SliceCmd // MGET of the older sub-buckets (nil with one bucket)
	pfAdd   *redis.IntCmd   // detect.OpDistinct: PFADD to the newest sub-bucket
	pExpire *redis.BoolCmd  // PEXPIRE of it
	pfCount *redis.IntCmd   // PFCOUNT over all sub-buckets
}

// queue adds the op's commands to pipe.
func (p *plan) queue(ctx context.Context, pipe redis.Pipeliner) {
	switch p.kind {
	case detect.OpCount:
		// SET NX PX creates the sub-bucket with its expiry and INCR keeps
		// it: whichever prefix of the pipeline Redis executes (a write cut
		// by a timeout), no count key lives forever.
		p.setNX = pipe.SetNX(ctx, p.keys[0], 0, p.ttl)
		p.incr = pipe.Incr(ctx, p.keys[0])
		if len(p.keys) > 1 {
			p.older = pipe.MGet(ctx, p.keys[1:]...)
		}
	case detect.OpDistinct:
		p.pfAdd = pipe.PFAdd(ctx, p.keys[0], p.member)
		p.pExpire = pipe.PExpire(ctx, p.keys[0], p.ttl)
		p.pfCount = pipe.PFCount(ctx, p.keys...)
	}
}

// resend sends again, one at a time and in order, the op's commands that
// were refused unrun. Each goes alone rather than in a pipeline: go-redis
// re-sends a whole per-node batch when its first command is refused with
// TRYAGAIN, which would run again the writes behind a refused read.
// It reports whether any command is still refused.
func (p *plan) resend(ctx context.Context, c redis.UniversalClient) (again bool, err error) {
	redo := func(cmd redis.Cmder) bool { return cmd != nil && refused(cmd.Err()) }
	check := func(cmd redis.Cmder) error {
		if e := cmd.Err(); e != nil && !errors.Is(e, redis.Nil) {
			if refused(e) {
				again = true
				return nil
			}
			return e
		}
		return nil
	}
	switch p.kind {
	case detect.OpCount:
		if redo(p.setNX) {
			p.setNX = c.SetNX(ctx, p.keys[0], 0, p.ttl)
			if err := check(p.setNX); err != nil || again {
				return again, err
			}
		}
		if redo(p.incr) {
			p.incr = c.Incr(ctx, p.keys[0])
			if err := check(p.incr); err != nil || again {
				return again, err
			}
		}
		if redo(p.older) {
			p.older = c.MGet(ctx, p.keys[1:]...)
			return again, check(p.older)
		}
	case detect.OpDistinct:
		if redo(p.pfAdd) {
			p.pfAdd = c.PFAdd(ctx, p.keys[0], p.member)
			if err := check(p.pfAdd); err != nil || again {
				return again, err
			}
		}
		if redo(p.pExpire) {
			p.pExpire = c.PExpire(ctx, p.keys[0], p.ttl)
			if err := check(p.pExpire); err != nil || again {
				return again, err
			}
		}
		if redo(p.pfCount) {
			p.pfCount = c.PFCount(ctx, p.keys...)
			return again, check(p.pfCount)
		}
	}
	return false, nil
}

// count is the op's result once its commands succeeded.
func (p *plan) count(key string) (int64, error) {
	if p.kind == detect.OpDistinct {
		return p.pfCount.Val(), nil
	}
	n := p.incr.Val()
	if p.older != nil {
		for _, v := range p.older.Val() {
			s, ok := v.(string)
			if !ok {
				continue // missing sub-bucket
			}
			k, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("rediscounters: redis counters: sub-bucket of %q holds a non-integer", key)
			}
			n += k
		}
	}
	return n, nil
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
	for i := range ops {
		op := &ops[i]
		w := max(int64(op.Window)/c.buckets, 1)
		plans[i] = plan{
			kind:   op.Kind,
			keys:   bucketKeys(c.prefix, op.Scope, op.Key, w, floorDiv(ns, w), int(c.buckets)),
			member: op.Member,
			ttl:    time.Duration(w*(c.buckets+2)) + time.Millisecond,
		}
		plans[i].queue(ctx, pipe)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil && allRefused(cmds) {
		err = c.retryRefused(ctx, plans)
	}
	if err != nil {
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
		n, err := plans[i].count(ops[i].Key)
		if err != nil {
			return err
		}
		ops[i].Count = n
	}
	return nil
}

// bucketKeys returns the keys of n sub-buckets of width w (ns) of one
// counted key, newest (index b) first. Everything before the hash tag is
// brace-free (the prefix by New's check, the scope by escaping) and the tag
// is the escaped key, never empty, so Redis Cluster places every sub-bucket
// by the key alone. Escaping is injective: distinct (scope, key) pairs never
// share a Redis key.
func bucketKeys(prefix, scope, key string, w, b int64, n int) []string {
	base := prefix + escapeKey(scope) + ":{" + escapeKey(key) + "}:" + strconv.FormatInt(w, 36) + ":"
	keys := make([]string, n)
	var sb strings.Builder
	for j := range keys {
		sb.Reset()
		sb.Grow(len(base) + 13)
		sb.WriteString(base)
		sb.WriteString(strconv.FormatInt(b-int64(j), 36))
		keys[j] = sb.String()
	}
	return keys
}

// escapeKey percent-encodes '%', '{' and '}' in s; other bytes pass
// unchanged, so ordinary keys read the same in Redis as in the rules.
func escapeKey(s string) string {
	if !strings.ContainsAny(s, "%{}") {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			sb.WriteString("%25")
		case '{':
			sb.WriteString("%7B")
		case '}':
			sb.WriteString("%7D")
		default:
			sb.WriteByte(s[i])
		}
	}
	return sb.String()
}

// refused reports whether err is a Redis Cluster refusal of a command it
// did not run: MOVED or ASK (the slot is elsewhere; go-redis follows these
// itself, up to its MaxRedirects, so one reaches here only while a slot
// moves several times in a row) or TRYAGAIN (a multi-key command over a slot
// being moved whose keys are partly on each side).
func refused(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.HasPrefix(s, "TRYAGAIN") || strings.HasPrefix(s, "MOVED ") || strings.HasPrefix(s, "ASK ")
}

// allRefused reports whether every failed command of the pipeline was
// refused unrun, so sending those again neither loses nor repeats a write.
func allRefused(cmds []redis.Cmder) bool {
	failed := false
	for _, cmd := range cmds {
		err := cmd.Err()
		if err == nil || errors.Is(err, redis.Nil) {
			continue
		}
		if !refused(err) {
			return false
		}
		failed = true
	}
	return failed
}

// retryRefused sends the refused commands again, with a short growing
// pause, until all are answered, one fails otherwise, or ctx ends. A slot
// move takes milliseconds; ctx carries the counters' Timeout.
func (c *Counters) retryRefused(ctx context.Context, plans []plan) error {
	pause := 2 * time.Millisecond
	for {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
		pending := false
		for i := range plans {
			again, err := plans[i].resend(ctx, c.client)
			if err != nil {
				return err
			}
			pending = pending || again
		}
		if !pending {
			return nil
		}
	}
}

// floorDiv is a/b rounded towards negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
