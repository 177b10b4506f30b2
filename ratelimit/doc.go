// Package ratelimit gives per-key rate limits that implement
// secmon.RateLimiter, and net/http middleware that applies them.
//
// # Limiters
//
// [Memory] keeps one token bucket per key in process memory, with the
// semantics of golang.org/x/time/rate (a bucket of Burst tokens that starts
// full and refills at Limit per Period). It is sharded, does not allocate
// for a known key, forgets keys whose bucket is full again, and caps the
// number of keys without ever evicting a limited one. Use it for a single
// instance, and in tests with a fake secmon.Clock or [Memory.AllowAt].
//
// The package ratelimit/redislimit keeps the same buckets in Redis so several
// instances share one limit. It lives in a package of its own so that a host
// limiting in memory does not link go-redis.
//
// # Policies
//
// [Heartbeat] (2 per minute per user), [Activity] (20 per minute per user),
// [Login] (10 per minute per IP group) and [Upload] (10 per minute per user)
// are the limits the security-monitoring audit asks for. A [Policy] is a
// plain value; hosts define their own the same way.
//
// # Middleware
//
// [Middleware] wraps an http.Handler. A [KeyFunc] names each request's
// bucket: [KeyByUser] for authenticated endpoints, [KeyByIPGroup] for
// anonymous ones such as login. Every answered request carries the
// RateLimit-Policy and RateLimit headers of the IETF httpapi draft; a denied
// one gets 429 with Retry-After, or whatever the OnDenied hook writes (the
// place to log a secmon.EventRateLimited event).
//
// # Limitations
//
// These follow from the design and are accepted rather than worked around:
//
//   - Memory stores a 64-bit hash, not the key: two keys whose hashes
//     collide share a bucket. The seed is random per limiter, so clients
//     cannot aim for a collision, and among a million keys the chance of any
//     is below 10⁻⁷.
//   - At its key cap Memory refuses new keys (Degraded ==
//     secmon.DegradedKeyCap) rather than evict a limited one, so a flood of
//     new keys can lock out other new keys until old buckets refill.
//   - A bucket is one arrival time, not a (tokens, last) pair, so when the
//     clock steps back (a Clock without a monotonic reading, or the Redis
//     server's TIME in redislimit) the token count cannot be kept as x/time/rate keeps
//     it: a bucket the step would leave more than empty counts as empty,
//     and the key waits at most one refill interval.
//   - A request with no key (no user for KeyByUser, or a peer address that
//     is not an IP, as on a Unix socket listener, for KeyByIPGroup) is
//     refused with 401 Unauthorized by [DefaultOnError], never let through
//     unlimited, unless OnError says otherwise; other key and limiter errors
//     are refused with 500.
//   - RateLimit-Policy states Limit per Period in whole seconds: a Period
//     that is not a whole number of seconds is rounded up and the quota
//     scaled to match, so the header is an approximation for such periods.
package ratelimit
