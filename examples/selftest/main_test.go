package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/rediscounters"

	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema"
)

var (
	passedLine  = regexp.MustCompile(`^✅ ([a-z0-9-]+): PASSED \(\d+ms\)$`)
	failedLine  = regexp.MustCompile(`^❌ ([a-z0-9-]+): FAILED - (.+)$`)
	skippedLine = regexp.MustCompile(`^⏭️  ([a-z0-9-]+): SKIPPED - (.+)$`)
)

type result struct {
	passed, failed, skipped map[string]string // name → reason
	order                   []string
	summary                 string
}

// parse splits the output into check lines and the count line, failing t on
// anything else.
func parse(t *testing.T, out string) result {
	t.Helper()
	r := result{passed: map[string]string{}, failed: map[string]string{}, skipped: map[string]string{}}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 || lines[len(lines)-2] != "" {
		t.Fatalf("output does not end with a blank line and a count line:\n%s", out)
	}
	r.summary = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-2] {
		switch {
		case passedLine.MatchString(l):
			m := passedLine.FindStringSubmatch(l)
			r.passed[m[1]] = ""
			r.order = append(r.order, m[1])
		case failedLine.MatchString(l):
			m := failedLine.FindStringSubmatch(l)
			r.failed[m[1]] = m[2]
			r.order = append(r.order, m[1])
		case skippedLine.MatchString(l):
			m := skippedLine.FindStringSubmatch(l)
			r.skipped[m[1]] = m[2]
			r.order = append(r.order, m[1])
		default:
			t.Fatalf("malformed line %q in:\n%s", l, out)
		}
	}
	return r
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func checkNames(cs []check) []string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	return names
}

func TestRunWithoutDatabase(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	code := run(context.Background(), &out, envOf(nil))
	r := parse(t, out.String())
	if code != 0 {
		t.Errorf("exit status %d, want 0:\n%s", code, out.String())
	}
	if len(r.failed) != 0 {
		t.Errorf("failed checks: %v", r.failed)
	}
	if got, want := strings.Join(r.order, ","), strings.Join(checkNames(defaultChecks()), ","); got != want {
		t.Errorf("checks reported %s, want %s", got, want)
	}
	for _, c := range memoryChecks() {
		if _, ok := r.passed[c.name]; !ok {
			t.Errorf("%s did not pass", c.name)
		}
	}
	for _, c := range postgresChecks() {
		if reason, ok := r.skipped[c.name]; !ok || reason != DatabaseURLVar+" not set" {
			t.Errorf("%s: skipped=%v reason %q, want skipped because %s is not set", c.name, ok, reason, DatabaseURLVar)
		}
	}
	for _, c := range redisChecks() {
		if reason, ok := r.skipped[c.name]; !ok || reason != RedisAddrVar+" not set" {
			t.Errorf("%s: skipped=%v reason %q, want skipped because %s is not set", c.name, ok, reason, RedisAddrVar)
		}
	}
	want := fmt.Sprintf("%d checks: %d passed, 0 failed, %d skipped", len(defaultChecks()), len(memoryChecks()), len(postgresChecks())+len(redisChecks()))
	if r.summary != want {
		t.Errorf("count line %q, want %q", r.summary, want)
	}
}

// schemaExists reports whether the database holds schema.
func schemaExists(t *testing.T, pool *pgxpool.Pool, schema string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", schema).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func testPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestRunWithDatabase(t *testing.T) {
	t.Parallel()
	url := testenv.DatabaseURL(t)
	pool := testPool(t, url)

	var out bytes.Buffer
	s := &suite{env: envOf(map[string]string{DatabaseURLVar: url})}
	code := runChecks(context.Background(), &out, s, defaultChecks())
	r := parse(t, out.String())
	if code != 0 || len(r.failed) != 0 || len(r.skipped) != len(redisChecks()) {
		t.Fatalf("exit status %d, failed %v, skipped %v:\n%s", code, r.failed, r.skipped, out.String())
	}
	if len(r.passed) != len(memoryChecks())+len(postgresChecks()) {
		t.Errorf("%d checks passed, want %d", len(r.passed), len(memoryChecks())+len(postgresChecks()))
	}
	if s.pg == nil || !strings.HasPrefix(s.pg.schema, "secmon_selftest_") {
		t.Fatal("the run did not record its throwaway schema")
	}
	if schemaExists(t, pool, s.pg.schema) {
		t.Errorf("schema %s was left behind", s.pg.schema)
	}
}

func TestFailingCheckReported(t *testing.T) {
	t.Parallel()
	cleaned := false
	checks := []check{
		{"passes", func(context.Context, *suite) error { return nil }},
		{"broken", func(context.Context, *suite) error { return errors.New("3rd request\nwas allowed") }},
		{"panics", func(context.Context, *suite) error { panic("boom") }},
		{"needs-service", func(_ context.Context, s *suite) error {
			s.cleanups = append(s.cleanups, func() { cleaned = true })
			return skip("service absent")
		}},
		{"passes-after-failure", func(context.Context, *suite) error { return nil }},
	}
	var out bytes.Buffer
	code := runChecks(context.Background(), &out, &suite{env: envOf(nil)}, checks)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	r := parse(t, out.String())
	if got := r.failed["broken"]; got != "3rd request; was allowed" {
		t.Errorf("broken reported %q", got)
	}
	if got := r.failed["panics"]; got != "panic: boom" {
		t.Errorf("panics reported %q", got)
	}
	if got := r.skipped["needs-service"]; got != "service absent" {
		t.Errorf("needs-service reported %q", got)
	}
	for _, n := range []string{"passes", "passes-after-failure"} {
		if _, ok := r.passed[n]; !ok {
			t.Errorf("%s not reported passed:\n%s", n, out.String())
		}
	}
	if want := "5 checks: 2 passed, 2 failed, 1 skipped"; r.summary != want {
		t.Errorf("count line %q, want %q", r.summary, want)
	}
	if !cleaned {
		t.Error("cleanup not run")
	}
}

// TestRLSCheckDetectsExposure runs the client-role check against the service
// role, which may read everything: the check must fail, proving it can.
func TestRLSCheckDetectsExposure(t *testing.T) {
	t.Parallel()
	url := testenv.DatabaseURL(t)
	s := &suite{env: envOf(map[string]string{DatabaseURLVar: url})}
	defer s.close()
	ctx := context.Background()
	if err := checkPGMigrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := checkPGClientRole(ctx, s, "authenticated"); err != nil {
		t.Fatalf("authenticated: %v", err)
	}
	err := checkPGClientRole(ctx, s, sqlschema.DefaultServiceRole)
	if err == nil || !strings.Contains(err.Error(), "read 1 rows of security_events") {
		t.Errorf("service role check = %v, want it to report the rows it read", err)
	}
	// Open the log to authenticated the careless way: the check must notice.
	q := s.pg.schema
	if _, err := s.pg.pool.Exec(ctx, "GRANT USAGE ON SCHEMA "+q+" TO authenticated; "+
		"GRANT SELECT, INSERT ON "+q+".security_events TO authenticated; "+
		"ALTER TABLE "+q+".security_events NO FORCE ROW LEVEL SECURITY; "+
		"ALTER TABLE "+q+".security_events DISABLE ROW LEVEL SECURITY"); err != nil {
		t.Fatal(err)
	}
	if err := checkPGClientRole(ctx, s, "authenticated"); err == nil {
		t.Error("authenticated check passed on a log opened to authenticated")
	}
	if err := checkPGAuditClean(ctx, s); err == nil || !strings.Contains(err.Error(), sqlschema.CodeRLSDisabled) {
		t.Errorf("audit of the opened schema = %v, want %s", err, sqlschema.CodeRLSDisabled)
	}
}

func TestPostgresSetupFailureFailsEveryPGCheck(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	// Nothing listens on port 1 of loopback.
	s := &suite{env: envOf(map[string]string{DatabaseURLVar: "postgres://nobody:s3cret-pw@127.0.0.1:1/x?connect_timeout=5"})}
	code := runChecks(context.Background(), &out, s, postgresChecks())
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	r := parse(t, out.String())
	if len(r.failed) != len(postgresChecks()) {
		t.Errorf("%d of %d PostgreSQL checks failed:\n%s", len(r.failed), len(postgresChecks()), out.String())
	}
	if strings.Contains(out.String(), "s3cret-pw") {
		t.Errorf("the password was printed:\n%s", out.String())
	}
}

func TestRunWithRedis(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	var out bytes.Buffer
	s := &suite{env: envOf(map[string]string{RedisAddrVar: addr})}
	code := runChecks(context.Background(), &out, s, redisChecks())
	r := parse(t, out.String())
	if code != 0 || len(r.passed) != len(redisChecks()) {
		t.Fatalf("exit status %d, failed %v, skipped %v:\n%s", code, r.failed, r.skipped, out.String())
	}
	// The prefixes' keys are gone.
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	keys, err := c.Keys(context.Background(), "secmon:selftest:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("keys left behind: %v", keys)
	}
}

// TestRedisDetectionNeedsSharing proves the shared-detection check can fail:
// with a key prefix per instance, neither engine reaches the threshold.
func TestRedisDetectionNeedsSharing(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	// Not the selftest prefix, which TestRunWithRedis checks is cleaned up.
	prefix := randomName("secmon:selftest-apart:") + ":"
	defer deleteKeys(c, prefix)
	var findings int
	for i := range 2 {
		counters, err := rediscounters.New(c, rediscounters.Config{Prefix: fmt.Sprintf("%sapart%d:", prefix, i)})
		if err != nil {
			t.Fatal(err)
		}
		eng, err := detect.New(detect.Config{Counters: counters, Rules: []detect.Rule{&detect.BruteForceIP{}}})
		if err != nil {
			t.Fatal(err)
		}
		events := loginFailures(5, time.Now().UTC().Add(-30*time.Second), 2*time.Second,
			func(int) netip.Addr { return netip.MustParseAddr("203.0.113.98") }, func(int) string { return "u" })
		for j, e := range events {
			if j%2 != i {
				continue
			}
			f, err := eng.Observe(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			findings += len(f)
		}
	}
	if findings != 0 {
		t.Errorf("%d findings from instances that share nothing, each seeing 2 or 3 of 5 failures", findings)
	}
}
