// Package testenv finds the real services secmon's tests run against.
//
// A test that needs PostgreSQL calls DatabaseURL(t); one that needs Redis
// calls RedisAddr(t). When the service's variable is unset or the service does
// not answer, the test skips with a one-line reason, unless
// SECMON_TEST_REQUIRE_SERVICES is set (as .ci/run does under CI), in which
// case it fails.
//
// # Skip summary
//
// Outside CI, go test ./... ends with one line that counts the tests that
// skipped for want of PostgreSQL or Redis and says how to run them. Every
// package whose tests use this package or sqlschematest runs them through
// M in its TestMain, and the package zztestsummary, printed last, adds the
// counts up with RunWithSummary; skips.go explains how.
package testenv

import (
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// Variable names.
const (
	DatabaseURLVar     = "SECMON_TEST_DATABASE_URL"
	RedisAddrVar       = "SECMON_TEST_REDIS_ADDR"
	RequireServicesVar = "SECMON_TEST_REQUIRE_SERVICES"
)

// DatabaseURL returns the PostgreSQL URL tests may use, or skips t.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	startRecord()
	raw := os.Getenv(DatabaseURLVar)
	if raw == "" {
		absent(t, postgres, DatabaseURLVar+" is not set; skipping PostgreSQL test")
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("%s is not a postgres:// URL with a host", DatabaseURLVar)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	if !answers(host) {
		absent(t, postgres, "PostgreSQL at "+host+" does not answer; skipping")
	}
	return raw
}

// RedisAddr returns the Redis host:port tests may use, or skips t.
func RedisAddr(t testing.TB) string {
	t.Helper()
	startRecord()
	addr := os.Getenv(RedisAddrVar)
	if addr == "" {
		absent(t, redisSvc, RedisAddrVar+" is not set; skipping Redis test")
		return ""
	}
	if !answers(addr) {
		absent(t, redisSvc, "Redis at "+addr+" does not answer; skipping")
	}
	return addr
}

func answers(hostport string) bool {
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Missing skips t for reason, a Redis tool the test needs and cannot find
// (redis-server, redis-cli), or fails it when SECMON_TEST_REQUIRE_SERVICES
// is set. The skip counts as one for want of Redis in the skip summary.
func Missing(t testing.TB, reason string) {
	t.Helper()
	startRecord()
	absent(t, redisSvc, reason)
}

func absent(t testing.TB, s service, reason string) {
	t.Helper()
	if os.Getenv(RequireServicesVar) != "" {
		t.Fatal(reason + " (required by " + RequireServicesVar + ")")
	}
	countSkip(s)
	t.Skip(reason)
}
