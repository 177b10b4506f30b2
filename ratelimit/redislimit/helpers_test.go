package redislimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon"
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

func mustAllow(t testing.TB, l secmon.RateLimiter, key string) secmon.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

type userKey struct{}

// withUser stands in for the host's authentication: it puts the user named
// by the test header into the request context.
func withUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		next.ServeHTTP(w, r)
	})
}

func userFromContext(r *http.Request) string {
	u, _ := r.Context().Value(userKey{}).(string)
	return u
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte("ok"))
})

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func userRequest(path, user string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, nil)
	r.Header.Set("X-Test-User", user)
	return r
}
