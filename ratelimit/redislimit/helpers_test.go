package redislimit

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon/internal/rediscluster"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/ratelimit"
)

func TestMain(m *testing.M) { rediscluster.VerifyMain(testenv.M(m)) }

// backend is one kind of Redis the conformance tests run against: the
// shared single server, or a three-master cluster the package starts.
type backend struct {
	// client is a client of the test's own; prefix a key prefix of its
	// own (deleted at the end on the shared server; the cluster is thrown
	// away with the test binary).
	client redis.UniversalClient
	prefix string
	// another returns a second client of the same Redis, as a second
	// instance of a service would have.
	another func(t testing.TB) redis.UniversalClient
}

// onBackends runs f as parallel subtests "single" and "cluster". Each
// skips on its own when its Redis is missing.
func onBackends(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		addr := testenv.RedisAddr(t)
		c := newRedisClient(t, addr)
		prefix := testPrefix(t)
		cleanupKeys(t, c, prefix)
		f(t, backend{client: c, prefix: prefix, another: func(t testing.TB) redis.UniversalClient { return newRedisClient(t, addr) }})
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		cl := rediscluster.Shared(t)
		f(t, backend{client: cl.Client(t), prefix: testPrefix(t), another: func(t testing.TB) redis.UniversalClient { return cl.Client(t) }})
	})
}

func newMemory(t testing.TB, cfg ratelimit.MemoryConfig) *ratelimit.Memory {
	t.Helper()
	m, err := ratelimit.NewMemory(cfg)
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	return m
}
