package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisClient returns a client for the test Redis and a key prefix of the
// test's own ("secmon:test:<scope>:<random>:"), or skips t like RedisAddr.
// When t ends, every key under the prefix is deleted and the client closed,
// so tests share one server without seeing each other's keys.
func RedisClient(t testing.TB, scope string) (*redis.Client, string) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: RedisAddr(t), ContextTimeoutEnabled: true})
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "secmon:test:" + scope + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
		client.Close()
	})
	if err := client.Ping(context.Background()).Err(); err != nil {
		absent(t, redisSvc, "Redis does not answer PING: "+err.Error())
	}
	return client, prefix
}
