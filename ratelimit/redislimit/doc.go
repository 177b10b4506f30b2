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
// Pass a *redis.ClusterClient (any redis.UniversalClient works). Every
// decision is one script over one key, so no command spans slots; Config.HashTag
// wraps the caller's key in braces so that Redis Cluster places each key by
// the caller's key alone, spreading the buckets over the masters. While a slot
// moves, go-redis follows MOVED and ASK (the script is sent again with EVAL
// when the new master has not cached it) and the bucket's state moves with
// its key, so decisions stay exact. While a master is down, keys on it are
// answered by the FailPolicy within the Timeout and keys on the other
// masters by Redis, provided the cluster runs with
// cluster-require-full-coverage no (with the default yes every master stops
// answering once one is marked failed) or has replicas to fail over to. A
// master that comes back without its data (no persistence, no replica) starts
// its keys' buckets full. The package's tests run the same conformance checks
// against a single server and a three-master cluster, and move slots and kill
// masters under traffic.
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
