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
// [Redis] keeps the same buckets in Redis so several instances share one
// limit: one Lua script (GCRA on the Redis server's clock) per decision. When
// Redis cannot answer in time, a [FailPolicy] chooses between allowing,
// denying and answering from a local Memory limiter, and the Decision's
// Degraded field says which happened. Create the go-redis client with
// ContextTimeoutEnabled: true so deadlines bound the socket wait.
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
package ratelimit
