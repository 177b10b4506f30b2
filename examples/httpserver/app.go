package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/rediscounters"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/notify"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/ratelimit/redislimit"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/store/pgstore"
	"github.com/secmon-go/secmon/telemetry"
	"github.com/secmon-go/secmon/upload"
)

// config is what the service reads from its environment.
type config struct {
	DatabaseURL string // SECMON_DATABASE_URL; empty: in-memory store
	Schema      string // SECMON_SCHEMA; default "secmon"
	// RedisAddr is SECMON_REDIS_ADDR: one host:port, or several separated
	// by commas (the seed masters of a Redis Cluster). Empty: in-memory
	// limits, counters and sessions.
	RedisAddr string
	// RedisCluster (SECMON_REDIS_CLUSTER=1) treats a single RedisAddr as a
	// seed of a Redis Cluster; several addresses always mean a cluster.
	RedisCluster bool
	RedisPrefix  string // SECMON_REDIS_PREFIX: key prefix for limits, counters and sessions; default "secmon:"
	Instance     string // SECMON_INSTANCE: this instance's name in its logs; default host:pid
	AdminToken   string // SECMON_ADMIN_TOKEN; empty: random, printed at start
	ViewerToken  string // SECMON_VIEWER_TOKEN; empty: no read-only dashboard access
	// FingerprintKey (SECMON_FINGERPRINT_KEY, at least 16 bytes) keys the
	// device fingerprints. Instances of one fleet share it, so one device
	// has one fingerprint whichever instance it reaches and across
	// restarts; empty means a random key per process.
	FingerprintKey string
	Trusted        []netip.Prefix // proxies whose X-Forwarded-For is believed (SECMON_TRUSTED_PROXIES, comma-separated)
	Allowlist      []netip.Prefix // addresses the guard never blocks (SECMON_ALLOWLIST, comma-separated), besides loopback and the trusted proxies
	BlockLists     []guard.ListConfig
	GuardDryRun    bool // SECMON_GUARD_DRY_RUN=1: log what would be blocked, block nothing automatically
	Users          map[string]string
}

func configFromEnv() config {
	cfg := config{
		DatabaseURL:    os.Getenv("SECMON_DATABASE_URL"),
		Schema:         os.Getenv("SECMON_SCHEMA"),
		RedisAddr:      os.Getenv("SECMON_REDIS_ADDR"),
		RedisCluster:   os.Getenv("SECMON_REDIS_CLUSTER") == "1",
		RedisPrefix:    os.Getenv("SECMON_REDIS_PREFIX"),
		Instance:       os.Getenv("SECMON_INSTANCE"),
		AdminToken:     os.Getenv("SECMON_ADMIN_TOKEN"),
		ViewerToken:    os.Getenv("SECMON_VIEWER_TOKEN"),
		FingerprintKey: os.Getenv("SECMON_FINGERPRINT_KEY"),
	}
	for _, p := range strings.Split(os.Getenv("SECMON_TRUSTED_PROXIES"), ",") {
		if pfx, err := netip.ParsePrefix(strings.TrimSpace(p)); err == nil {
			cfg.Trusted = append(cfg.Trusted, pfx)
		}
	}
	for _, p := range strings.Split(os.Getenv("SECMON_ALLOWLIST"), ",") {
		if pfx, err := netip.ParsePrefix(strings.TrimSpace(p)); err == nil {
			cfg.Allowlist = append(cfg.Allowlist, pfx)
		}
	}
	// SECMON_BLOCKLISTS: name=path[:observe],… — list files the host's own
	// job downloads; the guard reloads them when they change.
	for _, item := range strings.Split(os.Getenv("SECMON_BLOCKLISTS"), ",") {
		name, path, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		l := guard.ListConfig{Name: name, Path: path}
		if p, mode, ok := strings.Cut(path, ":"); ok && mode == "observe" {
			l.Path, l.Mode = p, guard.ListObserve
		}
		cfg.BlockLists = append(cfg.BlockLists, l)
	}
	cfg.GuardDryRun = os.Getenv("SECMON_GUARD_DRY_RUN") == "1"
	return cfg
}

// redisAddrs splits SECMON_REDIS_ADDR at commas, dropping empty parts.
func redisAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// demoUsers is the toy credential store: user → password.
var demoUsers = map[string]string{"alice": "correct horse battery staple", "bob": "hunter2hunter2", "admin": "admin-password-42"}

// app holds the service's parts.
type app struct {
	cfg           config
	logger        *slog.Logger
	backend       string
	limitsBackend string
	adminToken    string

	store        secmon.Store
	mon          *secmon.Monitor
	recorder     *telemetry.Recorder // rate-limit decisions and upload verdicts, for /metrics
	guard        *guard.Guard        // blocks what detection finds, enforced on every request
	enforcer     *guard.Enforcer     // the guard's request checks, for the login handler's account check
	validator    *upload.Validator
	tracker      *upload.Tracker // validation stage timings, for the dashboard
	dashboard    http.Handler
	limits       struct{ login, heartbeat, activity, upload secmon.RateLimiter }
	alertSrc     secmon.AlertSubscriber // the Monitor, or the store's LISTEN stream
	fingerprints *secmon.Fingerprinter
	sessions     sessionStore
	uploads      *uploadShelf

	ctx         context.Context // request base context; cancelled by stopStreams
	stopStreams context.CancelFunc
	closers     []func()
	closeOnce   sync.Once
	closeErr    error
}

func newApp(ctx context.Context, cfg config, logger *slog.Logger) (*app, error) {
	if cfg.Users == nil {
		cfg.Users = demoUsers
	}
	if cfg.Schema == "" {
		cfg.Schema = "secmon"
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "secmon:"
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		cfg.Instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	logger = logger.With("instance", cfg.Instance)
	a := &app{cfg: cfg, logger: logger, adminToken: cfg.AdminToken, sessions: newMemorySessions(100_000), uploads: newUploadShelf(256),
		recorder: telemetry.NewRecorder()}
	if a.adminToken == "" {
		a.adminToken = randomHex(16)
	}
	switch {
	case cfg.FingerprintKey == "":
		if cfg.RedisAddr != "" {
			logger.Warn("SECMON_FINGERPRINT_KEY is not set: each instance fingerprints devices with a key of its own")
		}
	case len(cfg.FingerprintKey) < secmon.MinIPHashKeyLen:
		return nil, fmt.Errorf("SECMON_FINGERPRINT_KEY is shorter than %d bytes", secmon.MinIPHashKeyLen)
	default:
		a.fingerprints = &secmon.Fingerprinter{Key: []byte(cfg.FingerprintKey)}
	}
	a.ctx, a.stopStreams = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			a.close(context.Background())
		}
	}()

	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	counters, err := a.openLimits(ctx)
	if err != nil {
		return nil, err
	}
	// The guard: findings become blocks (brute force on an address, the
	// attackers of an account, abusive uploads, …) enforced at once here
	// and, through the store, on every instance. The trusted proxies are
	// allowlisted: a proxy is never blocked for its clients' sins.
	a.guard, err = guard.New(guard.Config{
		Store:     a.store,
		Allowlist: append(append([]netip.Prefix(nil), cfg.Trusted...), cfg.Allowlist...),
		Lists:     cfg.BlockLists,
		DryRun:    cfg.GuardDryRun,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	a.enforcer = a.guard.Enforcer(guard.MiddlewareConfig{TrustedProxies: cfg.Trusted, UserID: a.currentUser})
	// Serve only once the blocks in force are loaded (bounded: a store
	// that does not answer must not keep the service down; the guard keeps
	// retrying).
	readyCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := a.guard.Ready(readyCtx); err != nil {
		logger.Warn("guard: blocks not loaded yet; serving, retrying in the background", "err", err)
	}
	cancel()
	rules := append(detect.Defaults(), a.guard.KnownBadSource())
	engine, err := detect.New(detect.Config{Rules: rules, Counters: counters, Logger: logger})
	if err != nil {
		return nil, err
	}
	if a.tracker, err = upload.NewTracker(upload.TrackerConfig{Logger: logger}); err != nil {
		return nil, err
	}
	if a.validator, err = upload.NewValidator(upload.Config{Logger: logger, Tracker: a.tracker}); err != nil {
		return nil, err
	}
	a.mon, err = secmon.New(secmon.Config{
		// The default metadata allowlist plus the request ID (see
		// HeaderRequestID).
		Privacy:         &secmon.PrivacyPolicy{MetadataKeys: append(slices.Clone(secmon.DefaultMetadataKeys), "request_id")},
		Store:           a.store,
		Detector:        engine,
		Notifiers:       []secmon.Notifier{notify.NewSlog(logger, notify.SlogConfig{})},
		FindingHandlers: []secmon.FindingHandler{a.guard},
		Logger:          logger,
		// One instance at a time creates partitions ahead and purges by the
		// default retention policy.
		Maintenance: secmon.MaintenanceConfig{Interval: time.Hour},
	})
	if err != nil {
		return nil, err
	}
	if a.alertSrc == nil {
		a.alertSrc = a.mon
	}
	a.guard.SetEvents(a.mon) // blocks, lifts and refusals go to the security log
	if a.dashboard, err = a.newDashboard(); err != nil {
		return nil, err
	}
	// Create today's and the coming days' partitions before the first event.
	if _, err := a.mon.RunMaintenance(ctx); err != nil {
		return nil, fmt.Errorf("maintenance: %w", err)
	}
	ok = true
	return a, nil
}

func (a *app) openStore(ctx context.Context) error {
	if a.cfg.DatabaseURL == "" {
		a.store, a.backend = memstore.New(), "memory"
		return nil
	}
	pool, err := pgxpool.New(ctx, a.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	a.closers = append(a.closers, pool.Close)
	if err := ensureServiceRole(ctx, pool); err != nil {
		return err
	}
	if _, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{Schema: a.cfg.Schema, Logger: a.logger}); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	st, err := pgstore.New(pool, pgstore.Config{Schema: a.cfg.Schema, Logger: a.logger})
	if err != nil {
		return err
	}
	a.store, a.backend, a.alertSrc = st, "postgres", st
	return nil
}

// ensureServiceRole creates the NOLOGIN role the schema's policies name, if
// it is missing. A production database would have it already.
func ensureServiceRole(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$`)
	if err != nil {
		return fmt.Errorf("create service_role: %w", err)
	}
	return nil
}

func (a *app) openLimits(ctx context.Context) (detect.Counters, error) {
	policies := []struct {
		dst *secmon.RateLimiter
		p   ratelimit.Policy
	}{
		{&a.limits.login, ratelimit.Login},
		{&a.limits.heartbeat, ratelimit.Heartbeat},
		{&a.limits.activity, ratelimit.Activity},
		{&a.limits.upload, ratelimit.Upload},
	}
	if a.cfg.RedisAddr == "" {
		a.limitsBackend = "memory"
		for _, pl := range policies {
			l, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: pl.p})
			if err != nil {
				return nil, err
			}
			*pl.dst = l
		}
		return nil, nil
	}
	// ContextTimeoutEnabled lets the limiters' and counters' deadlines
	// bound the socket wait, as their packages ask.
	var client redis.UniversalClient
	if addrs := redisAddrs(a.cfg.RedisAddr); len(addrs) > 1 || a.cfg.RedisCluster {
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
		a.limitsBackend = "redis-cluster"
	} else {
		client = redis.NewClient(&redis.Options{Addr: a.cfg.RedisAddr, ContextTimeoutEnabled: true})
		a.limitsBackend = "redis"
	}
	a.closers = append(a.closers, func() { _ = client.Close() })
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	a.sessions = &redisSessions{client: client, prefix: a.cfg.RedisPrefix}
	for _, pl := range policies {
		l, err := redislimit.New(client, redislimit.Config{
			Policy: pl.p, KeyPrefix: a.cfg.RedisPrefix + "rl:" + pl.p.Name + ":", Logger: a.logger,
		})
		if err != nil {
			return nil, err
		}
		*pl.dst = l
	}
	return rediscounters.New(client, rediscounters.Config{Prefix: a.cfg.RedisPrefix + "det:"})
}

// close flushes the Monitor and releases the store, pools and clients. It is
// idempotent.
func (a *app) close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		a.stopStreams()
		if c, ok := a.dashboard.(io.Closer); ok {
			_ = c.Close() // ends the dashboard's live streams and their loops
		}
		// The guard first: it writes its last blocks and logs its last
		// refusals into the Monitor, which then flushes everything.
		if a.guard != nil {
			if err := a.guard.Close(ctx); err != nil {
				a.closeErr = err
			}
		}
		if a.mon != nil {
			if err := a.mon.Close(ctx); err != nil && a.closeErr == nil {
				a.closeErr = err
			}
		}
		for i := len(a.closers) - 1; i >= 0; i-- {
			a.closers[i]()
		}
	})
	return a.closeErr
}

func (a *app) adminOK(header string) bool {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(a.adminToken)) == 1
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uploadShelf keeps the sanitised bytes of the last accepted uploads, as a
// real host would hand them to object storage.
type uploadShelf struct {
	mu    sync.Mutex
	max   int
	order []string
	files map[string][]byte
}

func newUploadShelf(max int) *uploadShelf {
	return &uploadShelf{max: max, files: map[string][]byte{}}
}

func (u *uploadShelf) put(data []byte) string {
	id := secmon.NewID().String()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.order) >= u.max {
		delete(u.files, u.order[0])
		u.order = u.order[1:]
	}
	u.order = append(u.order, id)
	u.files[id] = data
	return id
}

func (u *uploadShelf) get(id string) ([]byte, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	b, ok := u.files[id]
	return b, ok
}
