package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/ratelimit"
)

// FailPolicy chooses how a Redis limiter answers when Redis cannot: the
// connection failed, the per-call Timeout or the caller's deadline passed, or
// Redis returned an error.
type FailPolicy int

// Fail policies. The zero value is FailLocal.
const (
	// FailLocal answers from a local ratelimit.Memory limiter with the
	// same Policy, so each instance still limits on its own (Degraded ==
	// secmon.DegradedLocal).
	FailLocal FailPolicy = iota
	// FailOpen allows the request (Degraded == secmon.DegradedFailOpen).
	// Remaining is 0 since nothing is known; ratelimit.Middleware omits
	// the RateLimit header for such a decision.
	FailOpen
	// FailClosed denies the request (Degraded == secmon.DegradedFailClosed),
	// with RetryAfter set to the policy's refill interval.
	FailClosed
)

// String returns "local", "open" or "closed".
func (p FailPolicy) String() string {
	switch p {
	case FailLocal:
		return "local"
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	}
	return "FailPolicy(" + strconv.Itoa(int(p)) + ")"
}

// DefaultTimeout is the default Config.Timeout.
const DefaultTimeout = 100 * time.Millisecond

// Config configures a Redis limiter. Zero fields mean the documented
// defaults; only ratelimit.Policy is required.
type Config struct {
	// Policy is the rate every key gets. Required.
	Policy ratelimit.Policy
	// KeyPrefix starts every Redis key. Default "secmon:rl:<Policy.Name>:".
	KeyPrefix string
	// HashTag wraps the caller's key in braces (prefix + "{" + key + "}")
	// so that Redis Cluster places it by the key alone. Keys holding '{'
	// or '}' then place by the first braced part, which is still correct,
	// only less evenly spread. With HashTag, KeyPrefix must not hold braces
	// (they would place every key in one slot); NewRedis rejects it.
	HashTag bool
	// Timeout bounds each Allow call on top of the caller's deadline.
	// Default DefaultTimeout; negative means only the caller's
	// deadline applies. go-redis honours context deadlines on the socket
	// only when the client's options set ContextTimeoutEnabled: true;
	// without it a dead server holds the call for the client's
	// ReadTimeout (3 seconds by default) before the FailPolicy answers.
	Timeout time.Duration
	// OnFailure chooses the answer when Redis cannot give one. Default
	// FailLocal.
	OnFailure FailPolicy
	// Local is the limiter FailLocal answers from. Nil means a ratelimit.Memory
	// limiter with ratelimit.Policy, Clock and MaxKeyLen and default limits.
	Local *ratelimit.Memory
	// Clock is used only by the default Local limiter; Redis decisions
	// use the Redis server's clock. Nil means the system clock.
	Clock secmon.Clock
	// MaxKeyLen is the longest key Allow accepts. Default ratelimit.DefaultMaxKeyLen.
	MaxKeyLen int
	// Logger receives one warning when Redis starts failing and one
	// message when it answers again. Nil means silent.
	Logger *slog.Logger
}

// Limiter is a per-key limiter whose state lives in Redis, so several
// instances share one limit. It implements secmon.RateLimiter with the same
// token-bucket semantics as ratelimit.Memory.
//
// Each decision is one EVALSHA of a Lua script (GCRA, falling back to EVAL
// when the server has not cached the script) that reads the server's clock
// with TIME, so the clocks of the instances do not matter. Because the
// script calls TIME before writing, it relies on script effects replication,
// the default since Redis 5 and the only mode since Redis 7. A key lives as
// long as its bucket takes to refill (PX), so idle keys vanish on their own.
//
// When Redis cannot answer, Allow answers per the FailPolicy with a nil
// error and a Decision whose Degraded field says how it was reached. Redis
// does not own the client: closing it is the caller's business. It starts
// no goroutine. All methods are safe for concurrent use.
type Limiter struct {
	client    redis.UniversalClient
	policy    ratelimit.Policy
	prefix    string
	hashTag   bool
	timeout   time.Duration
	onFailure FailPolicy
	local     *ratelimit.Memory
	maxKeyLen int
	log       *slog.Logger
	args      []any // script arguments: emission interval and fill time in µs
	burst     int
	retry     time.Duration // RetryAfter for FailClosed

	failing  atomic.Bool
	degraded atomic.Uint64
}

var _ secmon.RateLimiter = (*Limiter)(nil)

// gcraScript decides one request for KEYS[1]. ARGV[1] is the emission
// interval and ARGV[2] the time an empty bucket takes to fill, both in
// microseconds. It returns {allowed, remaining, retry_after_us, reset_after_us}.
// A stored arrival time beyond now+fill (the server's clock stepped back)
// counts as an empty bucket, as in ratelimit.Memory.decide.
var gcraScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local fill = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat == nil or tat < now then tat = now end
if tat > now + fill then tat = now + fill end
local nxt = tat + interval
local allow_at = nxt - fill
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, nxt - now}
`)

// NewRedis returns a Redis limiter over client, or an error matching
// secmon.ErrInvalid when cfg is invalid. It does not contact Redis.
func New(client redis.UniversalClient, cfg Config) (*Limiter, error) {
	if client == nil {
		return nil, &secmon.FieldError{Field: "client", Reason: "is nil"}
	}
	p, err := cfg.Policy.WithDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.MaxKeyLen < 0 {
		return nil, &secmon.FieldError{Field: "MaxKeyLen", Reason: "is negative"}
	}
	if cfg.HashTag && strings.ContainsAny(cfg.KeyPrefix, "{}") {
		return nil, &secmon.FieldError{Field: "KeyPrefix", Reason: "must not hold '{' or '}' when HashTag is set"}
	}
	if cfg.OnFailure < FailLocal || cfg.OnFailure > FailClosed {
		return nil, &secmon.FieldError{Field: "OnFailure", Reason: "is not a FailPolicy"}
	}
	r := &Limiter{
		client:    client,
		policy:    p,
		prefix:    cfg.KeyPrefix,
		hashTag:   cfg.HashTag,
		timeout:   cfg.Timeout,
		onFailure: cfg.OnFailure,
		local:     cfg.Local,
		maxKeyLen: cfg.MaxKeyLen,
		log:       cfg.Logger,
		// The script counts in microseconds; an interval that is not a
		// whole number of them rounds up, so Redis is never more generous
		// than the ratelimit.Policy.
		args: []any{
			strconv.FormatInt(ceilMicros(p.Interval()), 10),
			strconv.FormatInt(ceilMicros(p.Interval())*int64(p.Burst), 10),
		},
		burst: p.Burst,
		retry: p.Interval(),
	}
	if r.prefix == "" {
		r.prefix = "secmon:rl:" + p.Name + ":"
	}
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	if r.maxKeyLen == 0 {
		r.maxKeyLen = ratelimit.DefaultMaxKeyLen
	}
	if r.onFailure == FailLocal && r.local == nil {
		r.local, err = ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: p, Clock: cfg.Clock, MaxKeyLen: r.maxKeyLen})
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Policy returns the limiter's policy with defaults filled in.
func (r *Limiter) Policy() ratelimit.Policy { return r.policy }

// ceilMicros is d in whole microseconds, rounded up.
func ceilMicros(d time.Duration) int64 {
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}

// Allow takes one token from key's bucket in one round trip to Redis. The
// call ends by the earlier of ctx's deadline and the configured Timeout;
// when Redis cannot answer in time, the FailPolicy answers (see Redis). The
// error is ratelimit.ErrKeyTooLong for a key longer than MaxKeyLen and nil otherwise.
func (r *Limiter) Allow(ctx context.Context, key string) (secmon.Decision, error) {
	if len(key) > r.maxKeyLen {
		return secmon.Decision{Limit: r.burst}, ratelimit.ErrKeyTooLong
	}
	if r.timeout > 0 {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > r.timeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, r.timeout)
			defer cancel()
		}
	}
	var rk string
	if r.hashTag {
		rk = r.prefix + "{" + key + "}"
	} else {
		rk = r.prefix + key
	}
	res, err := gcraScript.Run(ctx, r.client, []string{rk}, r.args...).Int64Slice()
	if err == nil && len(res) != 4 {
		err = fmt.Errorf("ratelimit: unexpected script reply of %d values", len(res))
	}
	if err != nil {
		return r.degrade(ctx, key, err)
	}
	if r.failing.Load() && r.failing.CompareAndSwap(true, false) && r.log != nil {
		r.log.LogAttrs(ctx, slog.LevelInfo, "ratelimit: redis answers again", slog.String("policy", r.policy.Name))
	}
	return secmon.Decision{
		Allowed:    res[0] == 1,
		Limit:      r.burst,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		ResetAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
}

// degrade answers per the FailPolicy after Redis failed with err.
//
// A caller that cancelled its context (a client that went away) says
// nothing about Redis, so it is counted but neither marks Redis failing nor
// logs; a passed deadline does, since Redis did not answer in time.
func (r *Limiter) degrade(ctx context.Context, key string, err error) (secmon.Decision, error) {
	r.degraded.Add(1)
	cancelled := errors.Is(ctx.Err(), context.Canceled)
	if !cancelled && !r.failing.Load() && r.failing.CompareAndSwap(false, true) && r.log != nil {
		r.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn, "ratelimit: redis unavailable, answering by fail policy",
			slog.String("policy", r.policy.Name), slog.String("on_failure", r.onFailure.String()), slog.Any("error", err))
	}
	switch r.onFailure {
	case FailOpen:
		return secmon.Decision{Allowed: true, Limit: r.burst, Degraded: secmon.DegradedFailOpen}, nil
	case FailClosed:
		return secmon.Decision{Limit: r.burst, RetryAfter: r.retry, ResetAfter: r.retry, Degraded: secmon.DegradedFailClosed}, nil
	}
	d, lerr := r.local.Allow(ctx, key)
	if lerr != nil {
		return d, lerr
	}
	d.Degraded = secmon.DegradedLocal
	return d, nil
}

// Stats counts a Redis limiter's failures.
type Stats struct {
	Degraded uint64 // decisions the FailPolicy made because Redis could not answer
	Failing  bool   // the most recent call to Redis failed (a caller's own cancellation does not count)
}

// Stats returns current counters.
func (r *Limiter) Stats() Stats {
	return Stats{Degraded: r.degraded.Load(), Failing: r.failing.Load()}
}
