// Command httpserver is a complete net/http service wired to secmon the way
// a real host would wire it:
//
//   - POST /login (form fields user, password): a toy credential check that
//     logs login_success or login_failure and is limited per IP group;
//   - POST /logout;
//   - POST /api/session/heartbeat: coalesced session heartbeats, 2 per minute
//     per user;
//   - POST /api/activity/track (JSON {"action": …, "resource": …}):
//     allowlisted actions, 20 per minute per user;
//   - POST /api/upload (multipart field "file"): validated, sanitised bytes
//     kept, upload_accepted (with the threat codes the sanitiser repaired,
//     if any) or upload_blocked logged, 10 per minute per user;
//   - /admin/: the security dashboard (package dashboard), signed in with
//     HTTP Basic authentication: any user name, recorded as who acted, and
//     the admin token as the password (SECMON_VIEWER_TOKEN, when set, gives
//     read-only access);
//   - GET /admin/api/alerts, /admin/api/sessions, /admin/api/summary (the
//     24 hours ending with the current one, totals and hourly) and the
//     Server-Sent Events stream /admin/api/alerts/stream: the same data as
//     JSON, behind the admin token as a bearer token;
//   - GET /metrics: secmon's Prometheus metrics (the Monitor's counters,
//     rate-limit decisions by policy and outcome, upload verdicts and stage
//     latencies, the guard's checks, refusals, blocks, sync lag and lists;
//     see package telemetry), behind the same bearer token,
//     which a Prometheus scrape config sends as its authorization;
//   - GET /admin/api/blocks (?active=1, &scope=, &subject=, &limit=), POST
//     /admin/api/blocks (JSON {"ip"|"prefix"|"user", "reason", "by",
//     "duration_s"}), DELETE /admin/api/blocks/{id}?by= and GET
//     /admin/api/guard: the active response's blocks and counters, behind
//     the same token (the dashboard's Blocks page shows and changes the
//     same blocks).
//
// Every request passes the guard first: detection findings (5 failed
// logins from one address within 10 minutes, the attackers of one account,
// abusive uploads, …) become blocks enforced at once, refused with 403 and
// logged as access_blocked; the login handler also refuses a blocked
// account. The trusted proxies and loopback are never blocked;
// SECMON_ALLOWLIST adds networks (office, health checkers).
// SECMON_BLOCKLISTS=name=path[:observe],… loads reputation lists (FireHOL
// netsets, Spamhaus DROP, plain CIDR files) that the host's own job
// downloads; they are reloaded when the files change.
// SECMON_GUARD_DRY_RUN=1 logs what would be blocked and blocks nothing
// automatically.
//
// Run it with no services at all:
//
//	go run ./examples/httpserver -addr 127.0.0.1:8080
//
// SECMON_DATABASE_URL (a postgres:// URL) switches the store to PostgreSQL
// (the schema is migrated on start, the alert stream follows LISTEN, so it
// carries alerts from every instance, and a block decided on one instance is
// enforced on all of them within a second); SECMON_REDIS_ADDR switches rate limits,
// detection counters and sessions to Redis so several instances share them:
// one host:port for a single server, several separated by commas for the
// masters of a Redis Cluster (or one with SECMON_REDIS_CLUSTER=1).
// SECMON_REDIS_PREFIX sets the key prefix (default "secmon:"), SECMON_INSTANCE
// the instance's name in its logs (default host:pid).
// SECMON_FINGERPRINT_KEY (at least 16 bytes) keys the device fingerprints:
// every instance of a fleet needs the same one, or each fingerprints a device
// differently. Every event and activity carries the request's X-Request-ID
// (the caller's when well formed, else a fresh one, echoed in the response)
// as metadata "request_id".
// SECMON_ADMIN_TOKEN sets the admin token; without it a random one is
// printed at start. -users names a file of user:password lines that replaces
// the three demo accounts. SIGINT or SIGTERM shuts down cleanly: the server
// says it is shutting down and why, flushes every queued event, heartbeat,
// activity and alert, and then logs how many of each it wrote and how many
// it could not (unflushed).
//
// Three instances behind a load balancer, sharing PostgreSQL and a Redis
// Cluster:
//
//	export SECMON_DATABASE_URL=postgres://… SECMON_REDIS_ADDR=10.0.0.5:7000,10.0.0.6:7000,10.0.0.7:7000
//	export SECMON_FINGERPRINT_KEY=… SECMON_ADMIN_TOKEN=…
//	SECMON_INSTANCE=a go run ./examples/httpserver -addr :8081 &
//	SECMON_INSTANCE=b go run ./examples/httpserver -addr :8082 &
//	SECMON_INSTANCE=c go run ./examples/httpserver -addr :8083 &
//
// examples/httpserver/fleet_test.go runs exactly that on loopback and
// measures it (benchmarks/results/fleet.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/secmon-go/secmon"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	usersFile := flag.String("users", "", "file of user:password lines replacing the demo accounts")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := configFromEnv()
	if *usersFile != "" {
		users, err := loadUsers(*usersFile)
		if err != nil {
			logger.Error("httpserver: users", "err", err)
			os.Exit(2)
		}
		cfg.Users = users
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, cfg, logger, nil); err != nil {
		logger.Error("httpserver stopped", "err", err)
		os.Exit(1)
	}
}

// serve runs the service on addr until ctx is done, then shuts down: the
// HTTP server first (in-flight requests finish), then the Monitor (every
// queued event, heartbeat and alert is written). ready, when non-nil,
// receives the bound address once the listener is up.
func serve(ctx context.Context, addr string, cfg config, logger *slog.Logger, ready chan<- string) error {
	app, err := newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		app.close(context.Background())
		return err
	}
	srv := app.server()
	logger.Info("httpserver listening", "addr", ln.Addr().String(), "store", app.backend, "limits", app.limitsBackend)
	if cfg.AdminToken == "" {
		fmt.Fprintf(os.Stderr, "admin token: %s\n", app.adminToken)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err = <-errc:
		logger.Error("httpserver shutting down", "reason", "listener failed", "err", err)
	case <-ctx.Done():
		logger.Info("httpserver shutting down", "reason", context.Cause(ctx).Error())
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	serr := app.shutdown(shutdownCtx, srv)
	logStopped(logger, app.mon.Stats(), serr)
	if serr != nil && (err == nil || errors.Is(err, http.ErrServerClosed)) {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// logStopped says what the Monitor wrote to the store over the server's
// life, now that Close has flushed it, and what Close could not write.
func logStopped(logger *slog.Logger, st secmon.Stats, closeErr error) {
	unflushed := 0
	var ue *secmon.UnflushedError
	if errors.As(closeErr, &ue) {
		unflushed = ue.Events + ue.Sessions + ue.Activities + ue.Alerts
	}
	level := slog.LevelInfo
	if closeErr != nil {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.Uint64("events_written", st.EventsWritten),
		slog.Uint64("sessions_written", st.SessionsWritten),
		slog.Uint64("activities_written", st.ActivitiesWritten),
		slog.Uint64("alerts_written", st.AlertsWritten),
		slog.Int("unflushed", unflushed),
	}
	if closeErr != nil {
		attrs = append(attrs, slog.Any("err", closeErr))
	}
	logger.LogAttrs(context.Background(), level, "httpserver stopped", attrs...)
}

// server returns the HTTP server for the app's routes.
func (a *app) server() *http.Server {
	return &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return a.ctx },
	}
}

// shutdown stops srv and then the app: event streams end first so Shutdown
// does not wait on them, in-flight requests finish, and the Monitor flushes
// everything it queued.
func (a *app) shutdown(ctx context.Context, srv *http.Server) error {
	a.stopStreams()
	err := srv.Shutdown(ctx)
	if cerr := a.close(ctx); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
