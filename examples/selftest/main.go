// Command selftest runs secmon's core security checks against the library
// and prints one line per check:
//
//	✅ upload-hostile-blocked: PASSED (41ms)
//	❌ heartbeat-rate-limit: FAILED - 3rd heartbeat in a minute was allowed
//	⏭️  pg-rls-authenticated: SKIPPED - SECMON_DATABASE_URL not set
//
// followed by a count line. It exits 1 when any check failed and 0 otherwise.
//
//	go run ./examples/selftest
//
// The checks cover the hostile and benign upload corpus, the heartbeat and
// login rate limits (with a spoofed X-Forwarded-For), detection of a
// brute-force replay and of an attacker rotating through one IPv6 /64, alert
// deduplication in the Monitor, metadata redaction, the IP privacy modes,
// and the active response: a brute force blocked by the guard's middleware,
// the allowlist winning over blocks and lists, a spoofed X-Forwarded-For
// that neither hides a blocked client nor blocks an innocent one,
// escalation of repeat offenders and a reputation list with a bad line.
//
// With SECMON_DATABASE_URL set (a postgres:// URL) it also migrates a
// throwaway schema there (a random secmon_selftest_ name, dropped at the end),
// checks that the client roles anon and authenticated can neither read nor
// write the security log, and runs the row-level security auditor on that
// schema and on a deliberately broken table, and checks that a block
// decided by one guard is enforced, and lifted, by another on the same
// schema (as two instances of a service). The roles service_role, anon and
// authenticated are created (NOLOGIN) when missing, and the connecting role
// must be allowed to SET ROLE to anon and authenticated (a superuser, or a
// member of both, as Supabase's postgres role is).
//
// With SECMON_REDIS_ADDR set (host:port) it also checks that two instances
// share the heartbeat limit and see one brute force together through Redis,
// under a random key prefix whose keys it deletes at the end.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// DatabaseURLVar names the variable holding the PostgreSQL URL.
const DatabaseURLVar = "SECMON_DATABASE_URL"

// checkTimeout bounds one check.
const checkTimeout = 2 * time.Minute

func main() {
	os.Exit(run(context.Background(), os.Stdout, os.Getenv))
}

// check is one self-test. run returns nil when the check passed, a
// *skipError when it could not run, and any other error (its message is the
// reason printed) when it failed.
type check struct {
	name string
	run  func(ctx context.Context, s *suite) error
}

// suite is what the checks share: the environment and, for the PostgreSQL
// checks, the connection and the throwaway schema.
type suite struct {
	env      func(string) string
	pg       *pgState // nil until the first PostgreSQL check opens it
	pgErr    error    // why opening failed, reported by every later PostgreSQL check
	cleanups []func()
}

type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

func skip(reason string) error { return &skipError{reason} }

// run executes the default checks and returns the exit status.
func run(ctx context.Context, stdout io.Writer, env func(string) string) int {
	return runChecks(ctx, stdout, &suite{env: env}, defaultChecks())
}

// defaultChecks is every check, in the order they run.
func defaultChecks() []check {
	return slices.Concat(memoryChecks(), postgresChecks(), redisChecks())
}

// runChecks runs checks in order on s, prints a line for each and the
// counts, runs s's cleanups, and returns 1 when any check failed.
func runChecks(ctx context.Context, stdout io.Writer, s *suite, checks []check) int {
	defer s.close()
	var passed, failed, skipped int
	for _, c := range checks {
		start := time.Now()
		err := runOne(ctx, s, c)
		took := time.Since(start)
		var sk *skipError
		switch {
		case err == nil:
			passed++
			fmt.Fprintf(stdout, "✅ %s: PASSED (%dms)\n", c.name, took.Milliseconds())
		case errors.As(err, &sk):
			skipped++
			fmt.Fprintf(stdout, "⏭️  %s: SKIPPED - %s\n", c.name, oneLine(sk.reason))
		default:
			failed++
			fmt.Fprintf(stdout, "❌ %s: FAILED - %s\n", c.name, oneLine(err.Error()))
		}
	}
	fmt.Fprintf(stdout, "\n%d checks: %d passed, %d failed, %d skipped\n", len(checks), passed, failed, skipped)
	if failed > 0 {
		return 1
	}
	return 0
}

// runOne runs c with its own deadline, turning a panic into a failure.
func runOne(ctx context.Context, s *suite, c check) (err error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.run(ctx, s)
}

// close runs the cleanups in reverse order, once.
func (s *suite) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// oneLine keeps a reason on one output line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "; ")
}
