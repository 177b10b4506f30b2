package secmon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// DefaultAllowedActions is the activity allowlist used when
// Config.AllowedActions is empty: eleven actions covering sign-in and
// sign-out, page views, exports and downloads, user and role management,
// settings and API keys.
var DefaultAllowedActions = []string{
	"login", "logout", "page_view", "export_data", "download_report",
	"user_invite", "user_remove", "role_change", "settings_change",
	"api_key_create", "api_key_revoke",
}

// Defaults applied by New to zero Config fields.
const (
	DefaultBatchSize          = 500
	DefaultFlushInterval      = time.Second
	DefaultQueueCapacity      = 10000
	DefaultSuppressWindow     = 15 * time.Minute
	DefaultMaxPendingSessions = 100000
	DefaultSessionTrackSize   = 100000
	DefaultAlertCapacity      = 10000
	DefaultNotifyQueue        = 1024
	DefaultNotifyTimeout      = 10 * time.Second
	DefaultWriteTimeout       = 30 * time.Second
	DefaultMinBackoff         = 100 * time.Millisecond
	DefaultMaxBackoff         = 30 * time.Second
	DefaultGeoBudget          = 50 * time.Millisecond
	DefaultGeoCacheSize       = 10000
	DefaultMaintenanceTimeout = 5 * time.Minute
	DefaultDetectQueue        = 10000
)

// maxCapacity bounds every queue, map and cache size a Config may ask for.
const maxCapacity = 10_000_000

// MaxFindingRules bounds the rules Stats.FindingsByRule counts by name, so
// a Detector that puts request data in its rule names cannot grow it
// without bound; findings of further rules count under OtherRules.
const MaxFindingRules = 256

// OtherRules is the key of Stats.FindingsByRule under which findings of
// rules beyond the first MaxFindingRules are counted. No rule is named so:
// rule names are lower snake_case.
const OtherRules RuleName = "_other"

// ErrRateLimited is matched (errors.Is) by the *RateLimitedError that
// TrackActivity returns when Config.ActivityLimiter denies the user.
var ErrRateLimited = errors.New("secmon: rate limited")

// RateLimitedError is returned when a RateLimiter denied the call. It matches
// ErrRateLimited with errors.Is; RetryAfter says when to try again (an HTTP
// handler sends it as Retry-After).
type RateLimitedError struct {
	RetryAfter time.Duration
	Decision   Decision
}

// Error says the call was rate limited and when to retry.
func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("secmon: rate limited; retry after %s", e.RetryAfter)
}

// Unwrap returns ErrRateLimited.
func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// MaintenanceConfig configures the Monitor's optional maintenance loop.
type MaintenanceConfig struct {
	// Interval between runs. Zero (the default) turns the loop off;
	// RunMaintenance still works on demand.
	Interval time.Duration
	// Retention is the policy passed to the store; zero fields mean the
	// RetentionPolicy defaults.
	Retention RetentionPolicy
	// Timeout bounds one run; default DefaultMaintenanceTimeout.
	Timeout time.Duration
}

// Config configures a Monitor. Zero fields mean the documented defaults; a
// negative size or duration, an empty action name or an invalid Privacy
// policy makes New return an error.
type Config struct {
	// Store persists events, sessions, activity and alerts. Required.
	Store Store
	// Detector, when set, sees every event after the privacy policy. Its
	// errors and panics are contained and counted in Stats.DetectorErrors;
	// the event is queued for writing regardless. It must not call the
	// Monitor's Log, Heartbeat or TrackActivity.
	//
	// An in-memory Detector runs inline in Log, on the caller's goroutine,
	// with the caller's context detached from its cancellation. A Detector
	// that implements BlockingDetector and reports ObserveBlocks() true (or
	// any Detector when AsyncDetection is set) runs instead on the Monitor's
	// detection worker, one event at a time in Log's order, so that Log
	// never waits on its I/O. There it gets a context of the Monitor's own,
	// carrying none of the caller's values and cancelled only when Close's
	// context ends before the detection queue is drained; it must honour it.
	// Its findings go through the same deduplication as inline ones.
	Detector Detector
	// AsyncDetection runs the Detector on the detection worker even when it
	// does not report that it blocks: for a Detector that waits on I/O
	// without implementing BlockingDetector, or to keep its cost off Log.
	// It has no effect without a Detector.
	AsyncDetection bool
	// DetectQueue bounds the events waiting for the detection worker;
	// default DefaultDetectQueue. It is allocated by New only when the
	// worker runs: on 64-bit platforms 256 bytes per slot (about 2.5 MB for
	// the default), plus what the values point to. When it is full, Log
	// still queues the event for writing and returns nil, but the Detector
	// never sees it: the event is counted in Stats.DetectDropped and the
	// drops are logged at most once a second.
	DetectQueue int
	// Notifiers receive each newly opened alert (Count 1), one call at a
	// time from the Monitor's notifier goroutine, each bounded by
	// NotifyTimeout. A failing, panicking or slow Notifier is counted and
	// logged and never delays Log; when the notify queue is full the alert is
	// written but not notified (Stats.NotifyDropped). The Alert's ID is the
	// one its first write carries; a store that already held an open alert
	// for the same (rule, subject), say from before a restart, merges into
	// that one and keeps its own ID.
	Notifiers []Notifier
	// FindingHandlers are told of every valid finding the Detector reports
	// (a rule and a subject set, a valid severity), before deduplication,
	// on the goroutine that observed the event: Log's caller for an
	// in-memory Detector, the detection worker otherwise. They must not
	// block or do I/O (see FindingHandler); a panic is contained and
	// counted in Stats.DetectorErrors. An active response such as
	// guard.Guard goes here.
	FindingHandlers []FindingHandler
	// Privacy is applied to every event, beat and activity before anything
	// else sees it. Nil means the PrivacyPolicy defaults.
	Privacy *PrivacyPolicy
	// Geo, when set, fills Event.Geo for events that have none. Log only
	// consults an in-memory cache (GeoCacheSize entries, keyed by the
	// address as the caller gave it, before the privacy policy); addresses
	// missing from it are resolved by the flusher just before the batch is
	// first written, spending at most GeoBudget per batch, and cached for
	// later events. The resolver must honour its context. So the Detector
	// sees Geo for every event from an address after the first.
	Geo GeoResolver
	// GeoBudget bounds the time the flusher spends resolving addresses for
	// one batch; default DefaultGeoBudget.
	GeoBudget time.Duration
	// GeoCacheSize bounds the geo cache; default DefaultGeoCacheSize. When it
	// is full an arbitrary entry is evicted.
	GeoCacheSize int
	// BatchSize is the most events or activities written in one store call;
	// a queue reaching it (or half of QueueCapacity, if smaller) wakes the
	// flusher. Default DefaultBatchSize.
	BatchSize int
	// FlushInterval is how often pending data is written; default
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// QueueCapacity bounds the queued events and, separately, the queued
	// activities. A full queue makes Log or TrackActivity return
	// ErrQueueFull. Both queues are allocated by New: on 64-bit platforms
	// 280 bytes per event slot and 128 per activity slot (about 4 MB for
	// the default), plus what the values point to. Default
	// DefaultQueueCapacity.
	QueueCapacity int
	// MaxPendingSessions bounds the distinct sessions waiting for the next
	// flush or being written by the current one; a beat for another session
	// beyond it returns ErrQueueFull.
	// Default DefaultMaxPendingSessions. Each remembered session costs
	// about 300 bytes plus its strings.
	MaxPendingSessions int
	// SessionTrackSize bounds the sessions remembered between flushes (their
	// newest beat, IP group and user agent, for coalescing and the anomaly
	// check). When full, a new session evicts an arbitrary one that is not
	// waiting or being written; that session's next beat starts afresh.
	// Those sessions are never evicted, so at most SessionTrackSize +
	// MaxPendingSessions are held. Default DefaultSessionTrackSize.
	SessionTrackSize int
	// SuppressWindow: findings for the same (rule, subject) arriving within
	// this window of the previous one merge into the open alert instead of
	// opening (and notifying) a new one. Default DefaultSuppressWindow.
	SuppressWindow time.Duration
	// AlertCapacity bounds the alerts tracked in memory; default
	// DefaultAlertCapacity. A finding that would exceed it is counted in
	// Stats.AlertsDropped and logged.
	AlertCapacity int
	// NotifyQueue bounds alerts waiting for the notifier worker; default
	// DefaultNotifyQueue. Overflow is counted in Stats.NotifyDropped.
	NotifyQueue int
	// NotifyTimeout bounds one Notifier call; default DefaultNotifyTimeout.
	NotifyTimeout time.Duration
	// AllowedActions is the TrackActivity allowlist; empty means
	// DefaultAllowedActions.
	AllowedActions []string
	// ActivityLimiter, when set, is asked Allow(ctx, "activity:"+userID)
	// for every TrackActivity call. A limiter error lets the activity
	// through (fail open) and is counted in Stats.ActivityLimiterErrors.
	// The call runs on the caller's goroutine: give it an in-memory
	// limiter (ratelimit.Memory) so TrackActivity never waits on the
	// network, and enforce fleet-wide limits with a Redis limiter in the
	// HTTP middleware in front of the handler instead.
	ActivityLimiter RateLimiter
	// WriteTimeout bounds one store call made by the background flusher;
	// default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries after a failed store write; defaults DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Maintenance configures the optional maintenance loop.
	Maintenance MaintenanceConfig
	// Clock tells the time. Event, beat and activity times, alert windows
	// and retry backoff all read it. Nil means the system clock, read through
	// the monotonic clock from a wall-clock base taken at most a second
	// earlier (a third of time.Now's cost on some virtual machines; the wall
	// clock's own adjustments are picked up within a second).
	Clock Clock
	// Logger receives the Monitor's own diagnostics; nil means silent.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return errors.New("secmon: Config.Store is required")
	}
	type dur struct {
		name string
		v    *time.Duration
		def  time.Duration
	}
	for _, d := range []dur{
		{"GeoBudget", &c.GeoBudget, DefaultGeoBudget},
		{"FlushInterval", &c.FlushInterval, DefaultFlushInterval},
		{"SuppressWindow", &c.SuppressWindow, DefaultSuppressWindow},
		{"NotifyTimeout", &c.NotifyTimeout, DefaultNotifyTimeout},
		{"WriteTimeout", &c.WriteTimeout, DefaultWriteTimeout},
		{"MinBackoff", &c.MinBackoff, DefaultMinBackoff},
		{"MaxBackoff", &c.MaxBackoff, DefaultMaxBackoff},
		{"Maintenance.Timeout", &c.Maintenance.Timeout, DefaultMaintenanceTimeout},
	} {
		if *d.v < 0 {
			return fmt.Errorf("secmon: Config.%s is negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Maintenance.Interval < 0 {
		return errors.New("secmon: Config.Maintenance.Interval is negative")
	}
	if c.MinBackoff > c.MaxBackoff {
		return errors.New("secmon: Config.MinBackoff exceeds MaxBackoff")
	}
	type size struct {
		name string
		v    *int
		def  int
	}
	for _, s := range []size{
		{"GeoCacheSize", &c.GeoCacheSize, DefaultGeoCacheSize},
		{"BatchSize", &c.BatchSize, DefaultBatchSize},
		{"QueueCapacity", &c.QueueCapacity, DefaultQueueCapacity},
		{"MaxPendingSessions", &c.MaxPendingSessions, DefaultMaxPendingSessions},
		{"SessionTrackSize", &c.SessionTrackSize, DefaultSessionTrackSize},
		{"AlertCapacity", &c.AlertCapacity, DefaultAlertCapacity},
		{"NotifyQueue", &c.NotifyQueue, DefaultNotifyQueue},
		{"DetectQueue", &c.DetectQueue, DefaultDetectQueue},
	} {
		if *s.v < 0 {
			return fmt.Errorf("secmon: Config.%s is negative", s.name)
		}
		if *s.v > maxCapacity {
			return fmt.Errorf("secmon: Config.%s exceeds %d", s.name, maxCapacity)
		}
		if *s.v == 0 {
			*s.v = s.def
		}
	}
	for i, n := range c.Notifiers {
		if n == nil {
			return fmt.Errorf("secmon: Config.Notifiers[%d] is nil", i)
		}
	}
	for i, h := range c.FindingHandlers {
		if h == nil {
			return fmt.Errorf("secmon: Config.FindingHandlers[%d] is nil", i)
		}
	}
	if len(c.AllowedActions) == 0 {
		c.AllowedActions = DefaultAllowedActions
	}
	for _, a := range c.AllowedActions {
		if a == "" || len(a) > MaxEventTypeLen || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("secmon: Config.AllowedActions holds an invalid action %q", truncate(a, 32))
		}
	}
	if c.Privacy != nil {
		if err := c.Privacy.Validate(); err != nil {
			return fmt.Errorf("secmon: Config.Privacy: %w", err)
		}
	}
	if c.Clock == nil {
		c.Clock = newMonoClock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// monoClock is the system clock read as a wall-clock base plus the
// monotonic time elapsed since it, re-based every second. time.Since reads
// one clock where time.Now reads two.
type monoClock struct{ base atomic.Pointer[time.Time] }

func newMonoClock() *monoClock {
	c := &monoClock{}
	t := time.Now()
	c.base.Store(&t)
	return c
}

func (c *monoClock) Now() time.Time {
	b := c.base.Load()
	if d := time.Since(*b); d >= 0 && d < time.Second {
		return b.Add(d)
	}
	t := time.Now()
	c.base.Store(&t)
	return t
}

// newID returns a UUIDv7 (RFC 9562) whose timestamp is t's Unix
// milliseconds (clamped to the 48-bit range) and whose other 74 bits come
// from the runtime's ChaCha8 generator. Like NewID it is time-ordered and
// unique across instances, but it costs neither an entropy read from the
// system nor an allocation, which matters on Log's hot path.
func newID(t time.Time) uuid.UUID {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	} else if ms >= 1<<48 {
		ms = 1<<48 - 1
	}
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[0:8], uint64(ms)<<16|rand.Uint64()&0xffff)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64())
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Monitor is the pipeline between a host's handlers and its Store. Log,
// Heartbeat and TrackActivity validate, stamp and filter their input on the
// caller's goroutine and queue the result; they never do I/O themselves
// (apart from the host's ActivityLimiter, and an in-memory Detector's own
// work). An in-memory Detector runs inline in Log; a blocking one (see
// BlockingDetector and Config.AsyncDetection) gets a copy of each event
// through a bounded queue and runs on a detection worker goroutine. Findings
// from either become deduplicated alerts. A flusher goroutine writes the
// queues in batches, by size or every FlushInterval, retrying a failing
// store with capped exponential backoff while the queues hold; a notifier
// goroutine hands new alerts to the Notifiers and subscribers. Close lets
// the detection worker finish its queue, then flushes everything, the alerts
// its findings raised included, and stops all the goroutines.
//
// Writes are retried until the store accepts them, so every accepted event,
// activity and session reaches the store exactly once, unless the store
// rejects it as invalid or Close gives up first (the stores skip IDs
// already written, and a session upsert keeps the newest beat). An alert's Count is
// the exception: its increments are delivered at least once, so when
// UpsertAlerts applies a batch yet returns an error (a timeout after the
// commit, a connection lost before the reply) the retry adds the same
// increments again and the stored Count overcounts by them. It never
// undercounts.
//
// All methods are safe for concurrent use. A Monitor must be created with New.
type Monitor struct {
	cfg     Config
	store   Store
	clock   Clock
	log     *slog.Logger
	privacy *PrivacyPolicy
	allowed map[string]struct{}

	// closeMu: producers hold it for reading while they enqueue; Close takes
	// it for writing to flip closed, so nothing is queued after the final
	// drain.
	closeMu sync.RWMutex
	closed  bool

	events     chan queuedEvent
	activities chan Activity
	kick       chan struct{}
	kickAt     int // queue length that wakes the flusher: min(BatchSize, QueueCapacity/2)

	sessMu      sync.Mutex
	sessions    map[string]*sessionEntry
	pendingList []*sessionEntry // sessions with a beat to write
	spareList   []*sessionEntry // the previous pendingList, reused by flushSessions (flushSem)
	// sessHeld counts the sessions pending or being written: what
	// MaxPendingSessions bounds and eviction must spare.
	sessHeld int
	uaSeed   maphash.Seed

	alertMu  sync.Mutex
	alerts   map[alertKey]*alertState
	findings map[RuleName]uint64 // valid findings by rule, for Stats
	// lastSweep is when sweepAlertsLocked last ran (alertMu).
	lastSweep time.Time
	// reused by flushAlerts (flushSem)
	alertRows []Alert
	alertRefs []*alertState

	notifyCh chan Alert // newly opened alerts, for Notifiers and subscribers
	updateCh chan Alert // written alert updates, for subscribers only
	subCount atomic.Int32
	subMu    sync.Mutex
	subs     map[int]func(Alert)
	subNext  int
	subFns   []func(Alert) // reused by the notifier goroutine

	geoMu    sync.RWMutex
	geoCache map[netip.Addr]Geo

	// flushSem (capacity 1) serialises flushes; the fields below it belong
	// to whoever holds it. A channel rather than a mutex so that waiting for
	// it honours a context.
	flushSem       chan struct{}
	flushCtx       context.Context // background writes; cancelled when Close gives up
	flushCancel    context.CancelFunc
	heldEvents     []Event
	heldRaw        []netip.Addr // client addresses before the privacy policy, while a batch is enriched
	heldActivities []Activity
	sessionRows    []SessionBeat
	backoff        time.Duration
	retryAt        time.Time
	heldEventsN    atomic.Int64 // len(heldEvents), for Stats
	heldActsN      atomic.Int64 // len(heldActivities), for Stats

	// Detection worker, when the Detector runs off Log (detectCh non-nil).
	detectCh      chan Event
	detectDone    chan struct{}
	detectCtx     context.Context // the worker's Detector calls; cancelled when Close gives up
	detectCancel  context.CancelFunc
	detectQueued  atomic.Uint64 // events handed to the worker
	detectHandled atomic.Uint64 // events the worker finished or dropped
	detectWaiters atomic.Int32  // Flush calls waiting for the worker
	detectMu      sync.Mutex
	detectWake    chan struct{} // closed (and replaced) by the worker for waiting Flush calls
	dropLogAt     atomic.Int64  // clock time (ns) the last detection drop was logged
	dropLogged    atomic.Uint64 // DetectDropped as of that log line

	stop           chan struct{} // closed by Close to stop the goroutines
	flusherDone    chan struct{}
	notifierDone   chan struct{}
	maintainDone   chan struct{}
	closeOnce      sync.Once
	stopNotifier   chan struct{}
	stopNotifyOnce sync.Once
	bgCtx          context.Context // maintenance runs; cancelled by Close
	bgCancel       context.CancelFunc
	notifyCtx      context.Context // notifier calls; cancelled when Close gives up
	notifyCancel   context.CancelFunc

	st    counters
	drops privacyDrops // what the privacy policy removed or cut
}

type counters struct {
	eventsAccepted, eventsWritten, eventsFailed, queueFull, batches          atomic.Uint64
	lastFlush, maxFlush                                                      atomic.Int64
	detectorErrors, detectorPanics, detectDropped                            atomic.Uint64
	alertsOpened, alertsSuppressed, alertsDropped, alertsWritten, alertsFail atomic.Uint64
	notifyFailures, notifyDropped, notifications, subscriberDropped          atomic.Uint64
	eventsRejected, sessionsRejected, activitiesRejected, alertsRejected     atomic.Uint64
	eventsInvalid, beatsInvalid, activitiesInvalid                           atomic.Uint64
	beats, beatsCoalesced, sessionsWritten, sessionsFailed, anomalies        atomic.Uint64
	activitiesAccepted, activitiesWritten, activitiesFailed, activityDenied  atomic.Uint64
	activityLimiterErrors                                                    atomic.Uint64
	geoLookups, geoFailures                                                  atomic.Uint64
	maintenanceRuns, maintenanceErrors                                       atomic.Uint64
	lastErr                                                                  atomic.Pointer[errRecord]
}

type errRecord struct {
	msg string
	at  time.Time
}

// New returns a running Monitor. It starts the flusher and notifier
// goroutines, the detection worker when the Detector runs off Log, and the
// maintenance loop when configured; Close stops them.
func New(cfg Config) (*Monitor, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := &Monitor{
		cfg:          cfg,
		store:        cfg.Store,
		clock:        cfg.Clock,
		log:          cfg.Logger,
		privacy:      cfg.Privacy,
		allowed:      make(map[string]struct{}, len(cfg.AllowedActions)),
		events:       make(chan queuedEvent, cfg.QueueCapacity),
		activities:   make(chan Activity, cfg.QueueCapacity),
		kick:         make(chan struct{}, 1),
		flushSem:     make(chan struct{}, 1),
		sessions:     make(map[string]*sessionEntry),
		uaSeed:       maphash.MakeSeed(),
		alerts:       make(map[alertKey]*alertState),
		findings:     make(map[RuleName]uint64),
		notifyCh:     make(chan Alert, cfg.NotifyQueue),
		updateCh:     make(chan Alert, cfg.NotifyQueue),
		subs:         make(map[int]func(Alert)),
		stop:         make(chan struct{}),
		stopNotifier: make(chan struct{}),
		flusherDone:  make(chan struct{}),
		notifierDone: make(chan struct{}),
		maintainDone: make(chan struct{}),
	}
	for _, a := range cfg.AllowedActions {
		m.allowed[a] = struct{}{}
	}
	m.drops.log, m.drops.policy = cfg.Logger, cfg.Privacy
	m.kickAt = max(1, min(cfg.BatchSize, cfg.QueueCapacity/2))
	m.heldEvents = make([]Event, 0, cfg.BatchSize)
	m.heldActivities = make([]Activity, 0, cfg.BatchSize)
	m.bgCtx, m.bgCancel = context.WithCancel(context.Background())
	m.flushCtx, m.flushCancel = context.WithCancel(context.Background())
	m.notifyCtx, m.notifyCancel = context.WithCancel(context.Background())
	if cfg.Geo != nil {
		m.geoCache = make(map[netip.Addr]Geo)
		m.heldRaw = make([]netip.Addr, 0, cfg.BatchSize)
	}
	if d := cfg.Detector; d != nil {
		bd, ok := d.(BlockingDetector)
		if cfg.AsyncDetection || ok && bd.ObserveBlocks() {
			m.detectCh = make(chan Event, cfg.DetectQueue)
			m.detectDone = make(chan struct{})
			m.detectWake = make(chan struct{})
			m.detectCtx, m.detectCancel = context.WithCancel(context.Background())
			go m.runDetector()
		}
	}
	go m.runFlusher()
	go m.runNotifier()
	if cfg.Maintenance.Interval > 0 {
		go m.runMaintenance()
	} else {
		close(m.maintainDone)
	}
	return m, nil
}

var (
	_ Logger          = (*Monitor)(nil)
	_ AlertSubscriber = (*Monitor)(nil)
)

// Log validates e, stamps its ID and Time when zero, applies the privacy
// policy, fills Geo from the cache, runs the Detector (or hands a copy of
// the event to the detection worker) and queues the event for the next
// batch. It does no I/O: the event is written later by the flusher. An
// inline Detector gets ctx detached from its cancellation, so the event
// survives a cancelled request; Log never checks ctx.Err().
//
// Log returns a *FieldError (matching ErrInvalid) for an event that fails
// Event.Validate or whose Fingerprint is longer than MaxIDLen (counted in
// Stats.EventsInvalid),
// ErrQueueFull when the queue is full (the Detector has still seen the
// event, or it is in the detection queue), and ErrClosed after Close. A
// full detection queue is not an error (see Config.DetectQueue).
func (m *Monitor) Log(ctx context.Context, e Event) error {
	m.closeMu.RLock()
	defer m.closeMu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return m.logEvent(ctx, e)
}

// logEvent is Log without the closed check; the caller holds closeMu for
// reading.
func (m *Monitor) logEvent(ctx context.Context, e Event) error {
	if err := e.Validate(); err != nil {
		m.st.eventsInvalid.Add(1)
		return err
	}
	if err := checkIdentifier("Fingerprint", e.Fingerprint); err != nil {
		m.st.eventsInvalid.Add(1)
		return err
	}
	if e.Time.IsZero() {
		e.Time = m.clock.Now()
	}
	if e.ID == uuid.Nil {
		e.ID = newID(e.Time)
	}
	raw := e.IP
	m.privacy.applyEvent(&e, &m.drops)
	if m.geoCache != nil && e.Geo.IsZero() && raw.IsValid() {
		m.geoMu.RLock()
		g, ok := m.geoCache[raw]
		m.geoMu.RUnlock()
		if ok {
			e.Geo = g
		}
	}
	if m.detectCh != nil {
		m.enqueueDetect(ctx, &e)
	} else if m.cfg.Detector != nil {
		if ctx.Done() != nil {
			ctx = context.WithoutCancel(ctx)
		}
		m.detect(ctx, &e)
	}
	select {
	case m.events <- queuedEvent{Event: e, rawIP: raw}:
	default:
		m.st.queueFull.Add(1)
		m.setErr(ErrQueueFull)
		return ErrQueueFull
	}
	m.st.eventsAccepted.Add(1)
	if len(m.events) >= m.kickAt {
		m.wake()
	}
	return nil
}

func (m *Monitor) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// detect runs the Detector, containing its errors and panics, and raises
// its findings.
func (m *Monitor) detect(ctx context.Context, e *Event) {
	findings, err := m.observe(ctx, e)
	if err != nil {
		m.st.detectorErrors.Add(1)
		m.setErr(err)
		m.log.LogAttrs(ctx, slog.LevelWarn, "secmon: detector failed", slog.String("event_type", string(e.Type)), slog.Any("error", err))
	}
	if len(findings) > 0 {
		m.raise(findings, e.Time)
		if len(m.cfg.FindingHandlers) > 0 {
			m.handFindings(findings, e.Time)
		}
	}
}

// handFindings gives each valid finding to the FindingHandlers, its Time
// filled from the event when zero. A panicking handler is contained.
func (m *Monitor) handFindings(findings []Finding, at time.Time) {
	for _, f := range findings {
		if f.Rule == "" || f.Subject == "" || !f.Severity.Valid() {
			continue // raise counted it
		}
		if f.Time.IsZero() {
			f.Time = at
		}
		for _, h := range m.cfg.FindingHandlers {
			m.handOne(h, f)
		}
	}
}

func (m *Monitor) handOne(h FindingHandler, f Finding) {
	defer func() {
		if r := recover(); r != nil {
			m.st.detectorErrors.Add(1)
			m.setErr(fmt.Errorf("secmon: finding handler panicked: %v", r))
		}
	}()
	h.HandleFinding(f)
}

func (m *Monitor) observe(ctx context.Context, e *Event) (f []Finding, err error) {
	defer func() {
		if r := recover(); r != nil {
			m.st.detectorPanics.Add(1)
			f, err = nil, fmt.Errorf("secmon: detector panicked: %v", r)
		}
	}()
	return m.cfg.Detector.Observe(ctx, *e)
}

func (m *Monitor) setErr(err error) {
	m.st.lastErr.Store(&errRecord{msg: err.Error(), at: m.clock.Now()})
}

// queuedEvent is an event waiting for the flusher, with its client address
// as the caller gave it: geo lookups need the real address even when the
// privacy policy masks or hashes the stored one. The raw address stays in
// memory and never reaches the store.
type queuedEvent struct {
	Event
	rawIP netip.Addr
}

// Stats is a snapshot of the Monitor's counters. Counters only grow; the
// Pending fields are the current backlog.
type Stats struct {
	EventsAccepted   uint64        // events queued by Log (including session anomalies)
	EventsWritten    uint64        // events the store accepted
	EventsFailed     uint64        // InsertEvents calls that failed (their events are retried)
	EventsRejected   uint64        // events the store refused as invalid (dropped and logged, never retried)
	EventsInvalid    uint64        // Log calls refused with a *FieldError (nothing queued)
	QueueFull        uint64        // Log calls refused with ErrQueueFull
	Batches          uint64        // successful batch writes of any kind
	LastFlushLatency time.Duration // duration of the latest flush round that wrote or failed
	MaxFlushLatency  time.Duration // longest such round so far

	DetectorErrors uint64 // Detector calls that returned an error or panicked
	DetectorPanics uint64 // of which panicked
	// DetectDropped counts events the Detector never saw: the detection
	// queue was full, or Close's context ended before the worker reached
	// them. The events themselves were queued for writing as usual.
	DetectDropped uint64

	// FindingsByRule counts the valid findings (a rule and a subject set,
	// a valid severity) by rule, whether they opened an alert, merged into
	// one or were dropped. At most MaxFindingRules rules are counted by
	// name; findings of further rules count under OtherRules. It is a copy.
	FindingsByRule map[RuleName]uint64

	AlertsOpened     uint64 // findings that opened a new alert
	AlertsSuppressed uint64 // findings merged into an open alert
	AlertsDropped    uint64 // findings refused because AlertCapacity was reached
	AlertsWritten    uint64 // alert rows passed to a successful UpsertAlerts
	AlertsFailed     uint64 // UpsertAlerts calls that failed (retried)
	AlertsRejected   uint64 // alert rows the store refused as invalid (dropped and logged)
	Notifications    uint64 // successful Notifier calls
	NotifyFailures   uint64 // Notifier calls that failed, timed out or panicked
	NotifyDropped    uint64 // alerts not notified because the notify queue was full
	// SubscriberDropped counts alert updates not passed to subscribers
	// because the update queue was full.
	SubscriberDropped uint64

	HeartbeatsReceived  uint64 // beats accepted
	HeartbeatsInvalid   uint64 // Heartbeat calls refused with a *FieldError, e.g. no SessionID
	HeartbeatsCoalesced uint64 // beats merged into a session already pending
	SessionsWritten     uint64 // session rows passed to a successful UpsertSessions
	SessionsFailed      uint64 // UpsertSessions calls that failed (retried)
	SessionsRejected    uint64 // session rows the store refused as invalid (dropped and logged)
	SessionAnomalies    uint64 // session_anomaly events raised

	ActivitiesAccepted    uint64 // activities queued
	ActivitiesWritten     uint64 // activities the store accepted
	ActivitiesFailed      uint64 // InsertActivities calls that failed (retried)
	ActivitiesRejected    uint64 // activities the store refused as invalid (dropped and logged)
	ActivitiesInvalid     uint64 // TrackActivity calls refused with a *FieldError
	ActivityDenied        uint64 // activities refused by the allowlist or the limiter
	ActivityLimiterErrors uint64 // limiter errors (the activity was let through)

	// MetadataKeysDropped counts the metadata keys the privacy policy
	// removed from events and activities: not in the allowlist, or past
	// MaxMetadataKeys. DroppedKeys names the most dropped ones (at most
	// 32 names, most first; later names are summed under OtherKeys), and
	// each name is logged once at debug level, with the allowlisted key it
	// resembles (filename for file_name) when there is one.
	MetadataKeysDropped uint64
	DroppedKeys         []KeyCount
	// ValuesTruncated counts metadata values, activity resources and user
	// agents cut to their cap; TruncatedKeys names them like DroppedKeys
	// ("Resource" and "UserAgent" for those two).
	ValuesTruncated uint64
	TruncatedKeys   []KeyCount

	GeoLookups  uint64 // GeoResolver calls
	GeoFailures uint64 // GeoResolver calls that failed other than ErrNotFound

	MaintenanceRuns   uint64
	MaintenanceErrors uint64

	PendingEvents     int // queued or held for retry
	PendingSessions   int
	PendingActivities int
	PendingAlerts     int // alerts with changes not yet written
	PendingDetections int // events waiting for the detection worker

	LastError     string    // the most recent error, empty if none
	LastErrorTime time.Time // per Config.Clock
}

// Stats returns a snapshot of the counters. It is safe to call at any time,
// including after Close.
func (m *Monitor) Stats() Stats {
	s := &m.st
	out := Stats{
		EventsAccepted:        s.eventsAccepted.Load(),
		EventsWritten:         s.eventsWritten.Load(),
		EventsFailed:          s.eventsFailed.Load(),
		QueueFull:             s.queueFull.Load(),
		Batches:               s.batches.Load(),
		LastFlushLatency:      time.Duration(s.lastFlush.Load()),
		MaxFlushLatency:       time.Duration(s.maxFlush.Load()),
		DetectorErrors:        s.detectorErrors.Load(),
		DetectorPanics:        s.detectorPanics.Load(),
		DetectDropped:         s.detectDropped.Load(),
		AlertsOpened:          s.alertsOpened.Load(),
		AlertsSuppressed:      s.alertsSuppressed.Load(),
		AlertsDropped:         s.alertsDropped.Load(),
		AlertsWritten:         s.alertsWritten.Load(),
		AlertsFailed:          s.alertsFail.Load(),
		Notifications:         s.notifications.Load(),
		NotifyFailures:        s.notifyFailures.Load(),
		NotifyDropped:         s.notifyDropped.Load(),
		SubscriberDropped:     s.subscriberDropped.Load(),
		EventsRejected:        s.eventsRejected.Load(),
		AlertsRejected:        s.alertsRejected.Load(),
		SessionsRejected:      s.sessionsRejected.Load(),
		ActivitiesRejected:    s.activitiesRejected.Load(),
		HeartbeatsReceived:    s.beats.Load(),
		HeartbeatsInvalid:     s.beatsInvalid.Load(),
		EventsInvalid:         s.eventsInvalid.Load(),
		ActivitiesInvalid:     s.activitiesInvalid.Load(),
		HeartbeatsCoalesced:   s.beatsCoalesced.Load(),
		SessionsWritten:       s.sessionsWritten.Load(),
		SessionsFailed:        s.sessionsFailed.Load(),
		SessionAnomalies:      s.anomalies.Load(),
		ActivitiesAccepted:    s.activitiesAccepted.Load(),
		ActivitiesWritten:     s.activitiesWritten.Load(),
		ActivitiesFailed:      s.activitiesFailed.Load(),
		ActivityDenied:        s.activityDenied.Load(),
		ActivityLimiterErrors: s.activityLimiterErrors.Load(),
		MetadataKeysDropped:   m.drops.dropped.total.Load(),
		DroppedKeys:           m.drops.dropped.top(),
		ValuesTruncated:       m.drops.truncated.total.Load(),
		TruncatedKeys:         m.drops.truncated.top(),
		GeoLookups:            s.geoLookups.Load(),
		GeoFailures:           s.geoFailures.Load(),
		MaintenanceRuns:       s.maintenanceRuns.Load(),
		MaintenanceErrors:     s.maintenanceErrors.Load(),
	}
	if r := s.lastErr.Load(); r != nil {
		out.LastError, out.LastErrorTime = r.msg, r.at
	}
	m.alertMu.Lock()
	out.FindingsByRule = make(map[RuleName]uint64, len(m.findings))
	for r, n := range m.findings {
		out.FindingsByRule[r] = n
	}
	m.alertMu.Unlock()
	out.PendingEvents, out.PendingSessions, out.PendingActivities, out.PendingAlerts = m.pendingCounts()
	out.PendingDetections = len(m.detectCh)
	return out
}
