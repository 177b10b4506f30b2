package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/secmon-go/secmon/internal/rediscluster"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

func TestValidSessionID(t *testing.T) {
	for id, want := range map[string]bool{
		strings.Repeat("a", 32): true, "0123456789abcdef0123456789abcdef": true,
		"": false, strings.Repeat("a", 31): false, strings.Repeat("a", 33): false,
		strings.Repeat("A", 32): false, strings.Repeat("g", 32): false,
		"0123456789abcdef0123456789abcde\x00": false, "{session}:0123456789abcdef0123456": false,
	} {
		if got := validSessionID(id); got != want {
			t.Errorf("validSessionID(%q) = %v", id, got)
		}
	}
}

// A cookie is attacker's bytes: only IDs of the shape create gives are
// looked up, and looking one up never fails on its content.
func FuzzSessionLookup(f *testing.F) {
	s := newMemorySessions(10)
	id, _ := s.create(context.Background(), "alice")
	for _, seed := range []string{id, "", "x", strings.Repeat("f", 32), id + "0", strings.ToUpper(id)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		u, err := s.user(context.Background(), cookie)
		if err != nil {
			t.Fatal(err)
		}
		if (u != "") != (cookie == id) {
			t.Fatalf("cookie %q → user %q", cookie, u)
		}
	})
}

// Two instances sharing Redis share sessions: a login on one is honoured
// by the other, and a logout on the other ends it on both.
func sharedSessions(t *testing.T, redisAddr string) {
	dbURL := testenv.DatabaseURL(t)
	pool := sqlschematest.Pool(t)
	schema := sqlschematest.RandomName("secmon_sess")
	t.Cleanup(func() { sqlschematest.DropSchema(t, pool, schema) })
	cfg := config{DatabaseURL: dbURL, Schema: schema, RedisAddr: redisAddr, RedisPrefix: "secmon:test:" + schema + ":"}
	a, b := start(t, cfg), start(t, cfg)
	alice := newClient(t, a)
	if code := alice.login("alice", "correct horse battery staple"); code != http.StatusOK {
		t.Fatalf("login on a: %d", code)
	}
	onB := newClient(t, b)
	onB.http.Jar = alice.http.Jar
	onB.http.Jar.SetCookies(mustURL(t, b), alice.http.Jar.Cookies(mustURL(t, a)))
	if resp, _ := onB.post("/api/session/heartbeat", "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("heartbeat on b with a's session: %d", resp.StatusCode)
	}
	if resp, _ := onB.post("/logout", "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on b: %d", resp.StatusCode)
	}
	if resp, _ := alice.post("/api/session/heartbeat", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("heartbeat on a after the logout on b: %d", resp.StatusCode)
	}
}

func TestSharedSessionsRedis(t *testing.T) {
	t.Parallel()
	sharedSessions(t, testenv.RedisAddr(t))
}

func TestSharedSessionsRedisCluster(t *testing.T) {
	t.Parallel()
	sharedSessions(t, strings.Join(rediscluster.Shared(t).Addrs(), ","))
}
