// Package redislimit is a per-key rate limiter whose buckets live in Redis,
// so several instances of a service share one limit. It implements
// secmon.RateLimiter with the token-bucket semantics of ratelimit.Memory and
// takes the same ratelimit.Policy values; ratelimit.Middleware applies it to
// net/http handlers.
//
// It is a package of its own so that a host that limits only in memory does
// not link go-redis.
//
//	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
//	limiter, err := redislimit.New(client, redislimit.Config{Policy: ratelimit.Login})
//
// # Decisions and outages
//
// Each decision is one EVALSHA of a Lua script (GCRA on the Redis server's
// clock, so the instances' clocks do not matter). When Redis cannot answer
// in time, a [FailPolicy] chooses between allowing, denying and answering
// from a local ratelimit.Memory limiter, and the Decision's Degraded field
// says which happened. Create the go-redis client with
// ContextTimeoutEnabled: true so deadlines bound the socket wait.
//
// # Redis Cluster
//
// Config.HashTag wraps the caller's key in braces so that Redis Cluster
// places each key by the caller's key alone; every decision touches one key,
// so no command spans slots.
//
// # Limitations
//
//   - ratelimit.Memory counts in nanoseconds and the script in microseconds;
//     Period/Limit is rounded up to the microsecond here, so Redis is never
//     looser than the Policy.
//   - With FailLocal each instance limits on its own while Redis is down,
//     so N instances together allow up to N times the limit.
//   - A caller that cancels its own context gets the FailPolicy's answer;
//     it counts in Stats.Degraded but does not mark Redis failing.
package redislimit
