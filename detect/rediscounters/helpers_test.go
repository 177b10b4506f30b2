package rediscounters

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/internal/rediscluster"
	"github.com/secmon-go/secmon/internal/testenv"
)

func TestMain(m *testing.M) { rediscluster.VerifyMain(testenv.M(m)) }

// backend is one kind of Redis the conformance tests run against: the
// shared single server, or a three-master cluster the package starts.
type backend struct {
	// client is a client of the test's own; prefix a key prefix of its
	// own, so tests share a server without seeing each other's keys.
	client redis.UniversalClient
	prefix string
	// another returns a second client of the same Redis, as a second
	// instance of a service would have.
	another func(t testing.TB) redis.UniversalClient
}

// scan returns every key matching pattern, on every master of a cluster.
func (b backend) scan(t testing.TB, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	each := func(c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return iter.Err()
	}
	var err error
	if cc, ok := b.client.(*redis.ClusterClient); ok {
		var mu = make(chan struct{}, 1)
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu <- struct{}{}
			defer func() { <-mu }()
			return each(c)
		})
	} else {
		err = each(b.client)
	}
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// onBackends runs f as parallel subtests "single" and "cluster". Each
// skips on its own when its Redis is missing.
func onBackends(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		client, prefix := redisSetup(t)
		f(t, backend{client: client, prefix: prefix, another: func(t testing.TB) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: client.Options().Addr, ContextTimeoutEnabled: true})
			t.Cleanup(func() { c.Close() })
			return c
		}})
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c := rediscluster.Shared(t)
		f(t, backend{client: c.Client(t), prefix: randomPrefix(), another: func(t testing.TB) redis.UniversalClient { return c.Client(t) }})
	})
}

// randomPrefix is a key prefix no other test uses; the shared cluster is
// thrown away with the test binary, so its keys need no cleanup.
func randomPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "secmon:test:detect:" + hex.EncodeToString(b[:]) + ":"
}

// redisSetup returns a client of the shared test Redis and a key prefix of
// the test's own, whose keys are deleted when the test ends.
func redisSetup(t testing.TB) (*redis.Client, string) {
	t.Helper()
	return testenv.RedisClient(t, "detect")
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func event(at time.Duration, typ secmon.EventType, ip, user string) secmon.Event {
	e := secmon.Event{Time: t0.Add(at), Type: typ, UserID: user}
	if ip != "" {
		e.IP = netip.MustParseAddr(ip)
	}
	return e
}

func newEngine(t testing.TB, cfg detect.Config) *detect.Engine {
	t.Helper()
	e, err := detect.New(cfg)
	if err != nil {
		t.Fatalf("detect.New: %v", err)
	}
	return e
}

// benchEvents returns n failed logins from IPv4 and IPv6 sources against
// 5,000 accounts, 50 ms apart.
func benchEvents(n int) []secmon.Event {
	out := make([]secmon.Event, n)
	for i := range out {
		ip := netip.AddrFrom4([4]byte{198, 51, byte(i / 7 % 4), byte(i / 3 % 250)})
		if i%2 == 1 {
			ip = netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::%x", i%1000, i))
		}
		out[i] = secmon.Event{Time: t0.Add(time.Duration(i) * 50 * time.Millisecond), Type: secmon.EventLoginFailure, IP: ip, UserID: fmt.Sprint("user", i%5000)}
	}
	return out
}
