package rediscounters

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/detecttest"
	"github.com/secmon-go/secmon/internal/faulttest"
)

// stepClock is a Clock that moves only when told.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Every key the counting rules write lives under the prefix and expires:
// within the window plus two sub-buckets of its creation.
func TestRedisKeysHavePrefixAndTTL(t *testing.T) {
	onBackends(t, keysHavePrefixAndTTL)
}

func keysHavePrefixAndTTL(t *testing.T, b backend) {
	client, prefix := b.client, b.prefix
	marker := strings.ToLower(uuid.NewString()[:8])
	e := newEngine(t, detect.Config{Counters: newRedisCounters(t, client, prefix)})
	ctx := context.Background()
	// Event times near Redis' own clock, as live events are.
	now := time.Now()
	for i, typ := range []secmon.EventType{
		secmon.EventLoginFailure, secmon.EventExport, secmon.EventUploadBlocked,
		secmon.EventRateLimited, secmon.EventAccessDenied,
	} {
		ev := event(0, typ, "2001:db8:5::1", "Alice-"+marker)
		ev.Time = now.Add(time.Duration(i) * time.Second)
		if _, err := e.Observe(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(pattern string) []string { return b.scan(t, pattern) }
	// The user's keys carry its lower-cased name, and none is outside the
	// prefix.
	if keys := scan("*alice-" + marker + "*"); len(keys) != 4 {
		t.Errorf("user keys %q, want 4 (bf_user, da_user, exp_user, up_user; cs_ip holds it as a member)", keys)
	}
	keys := scan(prefix + "*")
	// login_failure: bf_ip, bf_user, cs_ip, da_user; export: exp_user;
	// upload: up_user, up_ip; rl_ip; ad_ip.
	scopes := map[string]bool{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			t.Errorf("key %q outside the prefix %q", k, prefix)
			continue
		}
		scope, _, _ := strings.Cut(rest, ":")
		scopes[scope] = true
		ttl, err := client.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		// The longest window is mass_export's hour: 12 sub-buckets of 6 min.
		if ttl <= 0 || ttl > 72*time.Minute+time.Second {
			t.Errorf("key %q: TTL %v", k, ttl)
		}
	}
	if len(scopes) != 9 {
		t.Errorf("keys of %d scopes (%v), want 9: %q", len(scopes), scopes, keys)
	}
}

// outageSetup returns an engine counting in the shared Redis through a
// proxy the test owns, the proxy, and the counters' back-off clock.
func outageSetup(t *testing.T) (*detect.Engine, *faulttest.Proxy, *stepClock, *roundTrips) {
	t.Helper()
	direct, prefix := redisSetup(t)
	px := faulttest.NewProxy(t, direct.Options().Addr)
	client := redis.NewClient(&redis.Options{
		Addr: px.Addr(), ContextTimeoutEnabled: true, DialTimeout: time.Second, MaxRetries: -1,
	})
	t.Cleanup(func() { client.Close() })
	hook := &roundTrips{}
	client.AddHook(hook)
	clock := &stepClock{now: t0}
	rc, err := New(client, Config{Prefix: prefix, Timeout: 200 * time.Millisecond, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return newEngine(t, detect.Config{Counters: rc}), px, clock, hook
}

// While Redis is down, Observe returns the counter error and the findings
// of the rules that need no counters; after one failure it stops asking
// Redis until the back-off ends, so a refused or silent server costs one
// wait per back-off, not one per event; when Redis is back the counts
// recorded before the outage are still there.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"refused", "silent"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e, px, clock, hook := outageSetup(t)
			ctx := context.Background()
			at := time.Duration(0)
			observe := func(ev secmon.Event) ([]secmon.Finding, error) {
				at += time.Second
				ev.Time = t0.Add(at)
				return e.Observe(ctx, ev)
			}
			// A session, and four failures from one /64 before the outage.
			page := event(0, secmon.EventPageView, "192.0.2.1", "bob")
			page.SessionID = "s1"
			if _, err := observe(page); err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				if _, err := observe(event(0, secmon.EventLoginFailure, fmt.Sprintf("2001:db8:9::%d", i+1), "")); err != nil {
					t.Fatal(err)
				}
			}

			if mode == "refused" {
				px.Cut()
			} else {
				px.Blackhole()
			}
			// A failed login in a hijacked session: the counters fail, the
			// session rule still reports.
			hijack := event(0, secmon.EventLoginFailure, "2001:db8:9::5", "bob")
			hijack.SessionID = "s1"
			fs, err := observe(hijack)
			if err == nil || errors.Is(err, ErrUnavailable) {
				t.Fatalf("first failure: err = %v", err)
			}
			if got := detecttest.Pairs(fs); len(got) != 1 || got[0] != "session_hijack session:s1" {
				t.Fatalf("first failure: findings %v", got)
			}
			asked := hook.pipelines.Load()
			// Within the back-off Redis is not asked; role changes are still
			// judged.
			for i := range 20 {
				role := event(0, secmon.EventRoleChange, "", fmt.Sprint("user", i))
				role.Metadata = map[string]string{"new_role": "admin", "actor_id": "boss"}
				fs, err := observe(role)
				if len(fs) != 1 || err != nil {
					t.Fatalf("role_change during the outage: %v, %v", fs, err)
				}
				fs, err = observe(event(0, secmon.EventLoginFailure, "2001:db8:9::6", "bob"))
				if !errors.Is(err, ErrUnavailable) || len(fs) != 0 {
					t.Fatalf("during the back-off: %v, %v", fs, err)
				}
			}
			if got := hook.pipelines.Load(); got != asked {
				t.Errorf("Redis was asked %d times during the back-off", got-asked)
			}
			st := e.Stats()
			if st.CounterErrors != 21 {
				t.Errorf("CounterErrors = %d, want 21", st.CounterErrors)
			}

			// Redis comes back; after the back-off the counts resume where
			// they were: four before the outage, so the next is the fifth,
			// which crosses the threshold (the rest are repeats).
			px.Restore()
			clock.Advance(DefaultBackoff)
			var found []secmon.Finding
			for i := range 6 {
				fs, err := observe(event(0, secmon.EventLoginFailure, fmt.Sprintf("2001:db8:9::%d", 10+i), ""))
				if err != nil {
					t.Fatalf("after the outage: %v", err)
				}
				for _, f := range fs {
					if f.Rule == detect.RuleBruteForceIP {
						found = append(found, f)
					}
				}
			}
			if len(found) != 1 || found[0].Evidence["count"] != "5" {
				t.Fatalf("after the outage: brute force findings %+v, want one at count 5", found)
			}
		})
	}
}

// A failure caused by the caller's own context does not start a back-off:
// the next caller asks Redis.
func TestRedisCallerCancelNoBackoff(t *testing.T) {
	t.Parallel()
	client, prefix := redisSetup(t)
	rc, err := New(client, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rc.Do(ctx, t0, []detect.Op{detect.CountOp("t", "k", time.Minute)}); err == nil {
		t.Fatal("cancelled context: no error")
	}
	ops := []detect.Op{detect.CountOp("t", "k", time.Minute)}
	if err := rc.Do(context.Background(), t0, ops); err != nil {
		t.Fatalf("after the caller's cancel: %v", err)
	}
}
