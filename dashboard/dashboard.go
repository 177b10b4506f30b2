package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/upload"
)

// Role is what an authorised person may do.
type Role uint8

// Roles. The zero Role is no role: a request authorised with it is refused.
const (
	// RoleViewer reads every page and the live stream.
	RoleViewer Role = iota + 1
	// RoleAdmin also acknowledges and resolves alerts, revokes sessions,
	// and adds and lifts blocks when a Guard is configured.
	RoleAdmin
)

// String returns "viewer", "admin", or "none".
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// AuthorizeFunc decides who sends a request and what they may do. It
// returns ok false to refuse the request (the dashboard then answers with
// Config.Unauthorized). who names the person in the audit events of their
// actions: at most secmon.MaxIDLen bytes, no control characters. It is
// called for every request, the live stream's included, and must be safe
// for concurrent use.
type AuthorizeFunc func(r *http.Request) (who string, role Role, ok bool)

// Store is what the dashboard reads and changes: events, sessions, alerts
// and reports. memstore and pgstore implement it, as does every
// secmon.Store.
type Store interface {
	secmon.EventStore
	secmon.SessionStore
	secmon.AlertStore
	secmon.ReportStore
}

// Guard is the active-response engine the Blocks page and the "block
// source" action drive. The guard package's *guard.Guard implements it.
type Guard interface {
	// Check returns the block in force for ip or userID (see secmon.Guard).
	Check(ip netip.Addr, userID string) (secmon.Block, bool)
	// Block decides b (Origin, Scope, Prefix or UserID, Reason, Until and
	// By filled in) and returns it as stored, with its ID, Subject and
	// Level.
	Block(ctx context.Context, b secmon.Block) (secmon.Block, error)
	// Lift ends the block id early in the name of by; secmon.ErrNotFound
	// when there is no such block.
	Lift(ctx context.Context, id uuid.UUID, by string) error
	// List returns matching blocks, newest first.
	List(ctx context.Context, q secmon.BlockQuery) ([]secmon.Block, error)
}

// StatsSource reports a Monitor's health; *secmon.Monitor implements it.
type StatsSource interface {
	Stats() secmon.Stats
}

// StageSource reports upload validation stage timings; *upload.Tracker
// implements it.
type StageSource interface {
	Snapshot() []upload.StageStats
}

// Defaults for zero Config fields.
const (
	DefaultTitle          = "secmon"
	DefaultLiveInterval   = 5 * time.Second
	DefaultMaxStreams     = 256
	DefaultStreamLifetime = 10 * time.Minute
	DefaultLiveLinger     = 10 * time.Second
	DefaultQueryTimeout   = 10 * time.Second
	DefaultPageSize       = 50
	// MinCSRFKeyLen is the shortest Config.CSRFKey accepted.
	MinCSRFKeyLen = 32
)

// Config configures the dashboard. Authorize and Store are required, and
// so is Logger unless ReadOnly is set; zero values elsewhere mean the
// documented defaults.
type Config struct {
	// Authorize identifies the person behind every request. Required: a
	// dashboard is never open by accident.
	Authorize AuthorizeFunc
	// Unauthorized answers requests Authorize refused, for instance with a
	// WWW-Authenticate challenge or a redirect to the host's sign-in page.
	// Default: 401 with a short text body.
	Unauthorized http.Handler
	// Store is read by every page and changed by the alert and session
	// actions. Required.
	Store Store
	// Logger records every admin action (secmon.EventAdminAction) and every
	// refused change (secmon.EventAccessDenied); give it the Monitor.
	// Required unless ReadOnly: an action that cannot be recorded is not
	// performed.
	Logger secmon.Logger
	// Alerts feeds the live stream. Default: Logger when it is a
	// secmon.AlertSubscriber (the Monitor, which announces the alerts it
	// raises), else Store when it is one (pgstore announces the alerts of
	// every instance through LISTEN). Without one, only the counters are
	// live.
	Alerts secmon.AlertSubscriber
	// Stats shows the Monitor's health on the Overview. Default: Logger
	// when it implements StatsSource.
	Stats StatsSource
	// Guard enables the Blocks page and the "block source" action.
	Guard Guard
	// Uploads shows validation stage timings on the Uploads page; give it
	// the *upload.Tracker the Validator reports to.
	Uploads StageSource
	// RevokeSession, when set, is called after the store marks a session
	// revoked, so the host ends it in its own session layer too (the store
	// only records the revocation).
	RevokeSession func(ctx context.Context, sessionID string) error
	// ReadOnly turns every action off, for every role.
	ReadOnly bool
	// CSRFKey signs the anti-forgery tokens of the forms: at least
	// MinCSRFKeyLen random bytes, shared by every instance behind one load
	// balancer. Nil means a random key per handler, so tokens are refused
	// after a restart or by another instance (the page is then reloaded).
	CSRFKey []byte
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client in the audit events (see secmon.ClientIP).
	TrustedProxies []netip.Prefix
	// Title is the name shown in the header; default DefaultTitle.
	Title string
	// Clock tells the time; nil means the system clock.
	Clock secmon.Clock
	// LiveInterval is how often the live counters are recomputed (once for
	// all connected browsers); default DefaultLiveInterval.
	LiveInterval time.Duration
	// MaxStreams bounds the live connections; more are refused with 503
	// and the browser retries. Default DefaultMaxStreams.
	MaxStreams int
	// StreamLifetime ends each live connection after this long; the
	// browser reconnects at once and is authorised again, so revoking a
	// person's access also ends their stream. Default
	// DefaultStreamLifetime.
	StreamLifetime time.Duration
	// LiveLinger keeps the live loops running this long after the last
	// browser disconnected, so a browser that reconnects (at the end of its
	// StreamLifetime, or after a network blip) is sent the alerts it
	// missed. Default DefaultLiveLinger; negative stops them at once.
	LiveLinger time.Duration
	// QueryTimeout bounds the store reads of one page; default
	// DefaultQueryTimeout.
	QueryTimeout time.Duration
	// ErrorLog receives store and rendering errors; nil discards them.
	// Pages show a generic message, never the error text.
	ErrorLog *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Authorize == nil {
		return errors.New("dashboard: Config.Authorize is required: a dashboard is never open by accident")
	}
	if c.Store == nil {
		return errors.New("dashboard: Config.Store is required")
	}
	if c.Logger == nil && !c.ReadOnly {
		return errors.New("dashboard: Config.Logger is required unless ReadOnly: every admin action is logged")
	}
	if c.CSRFKey != nil && len(c.CSRFKey) < MinCSRFKeyLen {
		return fmt.Errorf("dashboard: Config.CSRFKey is %d bytes, fewer than %d", len(c.CSRFKey), MinCSRFKeyLen)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"LiveInterval", &c.LiveInterval, DefaultLiveInterval},
		{"StreamLifetime", &c.StreamLifetime, DefaultStreamLifetime},
		{"QueryTimeout", &c.QueryTimeout, DefaultQueryTimeout},
	} {
		if *d.v < 0 {
			return fmt.Errorf("dashboard: Config.%s is negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.LiveLinger == 0 {
		c.LiveLinger = DefaultLiveLinger
	}
	switch {
	case c.MaxStreams < 0:
		return errors.New("dashboard: Config.MaxStreams is negative")
	case c.MaxStreams == 0:
		c.MaxStreams = DefaultMaxStreams
	}
	if c.Title == "" {
		c.Title = DefaultTitle
	}
	if len(c.Title) > 64 || strings.ContainsFunc(c.Title, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("dashboard: Config.Title is longer than 64 bytes or holds control characters")
	}
	if c.Clock == nil {
		c.Clock = secmon.SystemClock{}
	}
	if c.ErrorLog == nil {
		c.ErrorLog = slog.New(slog.DiscardHandler)
	}
	if c.Alerts == nil {
		if s, ok := c.Logger.(secmon.AlertSubscriber); ok {
			c.Alerts = s
		} else if s, ok := c.Store.(secmon.AlertSubscriber); ok {
			c.Alerts = s
		}
	}
	if c.Stats == nil {
		if s, ok := c.Logger.(StatsSource); ok {
			c.Stats = s
		}
	}
	return nil
}

// handler is the dashboard.
type handler struct {
	cfg    Config
	csrf   *csrfSigner
	cop    *http.CrossOriginProtection
	mux    *http.ServeMux
	hub    *hub
	render *renderer
}

// New returns the dashboard as one http.Handler. Mount it under any prefix
// with http.StripPrefix, for instance
//
//	mux.Handle("/admin/", http.StripPrefix("/admin", h))
//
// Every link it renders is relative, so it works under any prefix. New
// starts no goroutine: the live stream's one subscription runs while at
// least one browser is connected, and stops Config.LiveLinger after the
// last disconnects.
//
// The handler also implements io.Closer. Close ends the live streams and
// stops their loops at once, and refuses new streams; call it when the
// host shuts down (after http.Server.Shutdown has stopped taking requests,
// or before, since live streams never end by themselves).
func New(cfg Config) (http.Handler, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	csrf, err := newCSRFSigner(cfg.CSRFKey)
	if err != nil {
		return nil, err
	}
	r, err := newRenderer()
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, csrf: csrf, cop: http.NewCrossOriginProtection(), render: r}
	h.hub = newHub(h)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.overview)
	mux.HandleFunc("GET /alerts", h.alerts)
	mux.HandleFunc("POST /alerts", h.action(h.alertAction))
	mux.HandleFunc("GET /events", h.events)
	mux.HandleFunc("GET /sessions", h.sessions)
	mux.HandleFunc("POST /sessions", h.action(h.sessionAction))
	mux.HandleFunc("GET /uploads", h.uploads)
	if cfg.Guard != nil {
		mux.HandleFunc("GET /blocks", h.blocks)
		mux.HandleFunc("POST /blocks", h.action(h.blockAction))
	}
	mux.HandleFunc("GET /stream", h.stream)
	mux.HandleFunc("GET /static/{name}", h.static)
	mux.HandleFunc("/", h.notFound)
	h.mux = mux
	return h, nil
}

// ServeHTTP sets the security headers, authorises the request and routes it.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if !strings.HasPrefix(r.URL.Path, "/") { // mounted with StripPrefix("/admin/")
		r2 := *r
		u := *r.URL
		u.Path = "/" + u.Path
		u.RawPath = ""
		r2.URL = &u
		r = &r2
	}
	p, ok := h.authorize(r)
	if !ok {
		if h.cfg.Unauthorized != nil {
			h.cfg.Unauthorized.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("401 unauthorized\n"))
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
}

// contentSecurityPolicy forbids everything but the dashboard's own files:
// no inline script or style, no frames, no plugins, forms and connections
// to the same origin only, and DOM string sinks (innerHTML) refused by
// Trusted Types.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set("Cache-Control", "no-store")
}

// Close implements io.Closer: see New.
func (h *handler) Close() error {
	h.hub.close()
	return nil
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.page(w, r, http.StatusNotFound, "notfound", "Not found", nil)
}
