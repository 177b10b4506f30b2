package secmon

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Logger records security events. Implementations must not block the caller
// on I/O: the Monitor queues the event and returns.
type Logger interface {
	Log(ctx context.Context, e Event) error
}

// LoggerFunc adapts a function to a Logger.
type LoggerFunc func(ctx context.Context, e Event) error

// Log calls f(ctx, e).
func (f LoggerFunc) Log(ctx context.Context, e Event) error { return f(ctx, e) }

// Detector evaluates detection rules against one event and reports what
// crossed a threshold. It keeps its state in memory (or a shared counter
// store) and never reads the event log.
type Detector interface {
	Observe(ctx context.Context, e Event) ([]Finding, error)
}

// BlockingDetector is an optional Detector capability. A Detector whose
// Observe may wait on I/O (counters in Redis, a remote service) reports it,
// and the Monitor then runs it on a worker goroutine instead of in Log.
type BlockingDetector interface {
	Detector
	// ObserveBlocks reports whether Observe may wait on I/O. The Monitor
	// asks once, in New.
	ObserveBlocks() bool
}

// DetectorFunc adapts a function to a Detector.
type DetectorFunc func(ctx context.Context, e Event) ([]Finding, error)

// Observe calls f(ctx, e).
func (f DetectorFunc) Observe(ctx context.Context, e Event) ([]Finding, error) { return f(ctx, e) }

// FindingHandler is told of every finding the Monitor's Detector reports,
// before alert deduplication: a repeat that merges into an open alert is
// handed over too. An active response (package guard) is one.
type FindingHandler interface {
	// HandleFinding receives one finding. It runs on the goroutine that
	// observed the event (Log's caller for an in-memory Detector) and must
	// not block or do I/O: hand the finding to a queue of your own. The
	// finding's Time is set, and its maps and slices must not be modified.
	HandleFinding(f Finding)
}

// FindingHandlerFunc adapts a function to a FindingHandler.
type FindingHandlerFunc func(f Finding)

// HandleFinding calls f(fd).
func (f FindingHandlerFunc) HandleFinding(fd Finding) { f(fd) }

// RateLimiter decides whether one more request for key may proceed.
type RateLimiter interface {
	Allow(ctx context.Context, key string) (Decision, error)
}

// RateLimiterFunc adapts a function to a RateLimiter.
type RateLimiterFunc func(ctx context.Context, key string) (Decision, error)

// Allow calls f(ctx, key).
func (f RateLimiterFunc) Allow(ctx context.Context, key string) (Decision, error) { return f(ctx, key) }

// UploadValidator judges a user upload. It denies what it cannot prove
// benign: an error means "could not judge" and the upload must be refused.
type UploadValidator interface {
	Validate(ctx context.Context, f Upload) (Verdict, error)
}

// Notifier delivers an alert to people or systems. The Monitor calls it off
// the logging path; a slow or failing Notifier never stalls Log.
type Notifier interface {
	Notify(ctx context.Context, a Alert) error
}

// NotifierFunc adapts a function to a Notifier.
type NotifierFunc func(ctx context.Context, a Alert) error

// Notify calls f(ctx, a).
func (f NotifierFunc) Notify(ctx context.Context, a Alert) error { return f(ctx, a) }

// GeoResolver finds where an IP address is. ErrNotFound means the address is
// not in its data.
type GeoResolver interface {
	Resolve(ctx context.Context, ip netip.Addr) (Geo, error)
}

// GeoResolverFunc adapts a function to a GeoResolver.
type GeoResolverFunc func(ctx context.Context, ip netip.Addr) (Geo, error)

// Resolve calls f(ctx, ip).
func (f GeoResolverFunc) Resolve(ctx context.Context, ip netip.Addr) (Geo, error) { return f(ctx, ip) }

// EventStore stores security events.
type EventStore interface {
	// InsertEvents stores a batch in one round trip where the backend allows.
	// Events with an ID already stored are skipped, so a retried batch never
	// duplicates rows.
	InsertEvents(ctx context.Context, events []Event) error
	// QueryEvents returns matching events, newest first.
	QueryEvents(ctx context.Context, q EventQuery) ([]Event, error)
}

// SessionStore keeps one row per session, updated by coalesced heartbeats.
type SessionStore interface {
	// UpsertSessions stores the newest beat of each session in one call.
	// LastSeen only moves forward; a revoked session stays revoked.
	UpsertSessions(ctx context.Context, beats []SessionBeat) error
	// ActiveSessions returns live (not revoked) sessions, most recent first.
	ActiveSessions(ctx context.Context, q SessionQuery) ([]Session, error)
	// RevokeSession marks a session revoked at the given time; ErrNotFound
	// when there is no such session.
	RevokeSession(ctx context.Context, sessionID string, at time.Time) error
}

// ActivityStore stores allowlisted user activity.
type ActivityStore interface {
	// InsertActivities stores a batch; rows with an ID already stored are skipped.
	InsertActivities(ctx context.Context, activities []Activity) error
	// Activities returns matching rows, newest first.
	Activities(ctx context.Context, q ActivityQuery) ([]Activity, error)
}

// AlertStore keeps deduplicated alerts.
type AlertStore interface {
	// UpsertAlerts merges each alert into the open alert with the same
	// (Rule, Subject): Count is added, LastSeen and Severity only grow,
	// Summary, Evidence and Action take the newer values, and the stored ID
	// and FirstSeen are kept. With no open alert for the pair, the alert is
	// inserted as given (status open).
	UpsertAlerts(ctx context.Context, alerts []Alert) error
	// Alerts returns matching alerts, most recently seen first.
	Alerts(ctx context.Context, q AlertQuery) ([]Alert, error)
	// SetAlertStatus moves an alert to a new status; ErrNotFound when the ID
	// is unknown.
	SetAlertStatus(ctx context.Context, id uuid.UUID, status AlertStatus) error
}

// ReportStore computes the security summary.
type ReportStore interface {
	// Summary aggregates events and alerts in [from, to).
	Summary(ctx context.Context, from, to time.Time) (Summary, error)
	// Hourly returns one bucket per hour in [from, to), oldest first,
	// including empty hours.
	Hourly(ctx context.Context, from, to time.Time) ([]HourBucket, error)
	// Top ranks the source IP groups and the accounts of the events in
	// q's range (see TopQuery).
	Top(ctx context.Context, q TopQuery) (TopReport, error)
}

// RetentionStore removes old and erased data.
type RetentionStore interface {
	// Purge removes rows older than the policy allows, as of now.
	Purge(ctx context.Context, p RetentionPolicy, now time.Time) (PurgeResult, error)
	// EraseUser removes every row about userID (events, sessions, activity,
	// alerts whose subject is the user, see AlertAboutUser, and blocks on
	// the user's account, see BlockOnUser) and returns how many rows went.
	// What stays is aggregate or about something else: alerts about other
	// subjects (an address, a session) whose counts include the user's
	// events, blocks on addresses and prefixes, counts that name nobody
	// (pgstore keeps hourly counts of events by type and severity, which
	// its Hourly reads), and reports computed from the rows that remain.
	//
	// An account block is removed even while it is in force: its subject
	// is the user ID erasure must remove, and the account it refuses is
	// being deleted (an attacker's addresses stay blocked by their own,
	// address-scoped blocks). A store that announces blocks
	// (BlockSubscriber) announces each removed block, so guards stop
	// enforcing it within a second. A host that must keep an account
	// refused, say under a legal hold, does not erase it yet.
	EraseUser(ctx context.Context, userID string) (int64, error)
	// ExportUser writes every row EraseUser would remove to w, one
	// ExportRecord a line (JSON), streaming: memory stays bounded however
	// many rows the user has. An error may leave a partial export on w.
	ExportUser(ctx context.Context, userID string, w io.Writer) error
}

// Store is everything the Monitor and the guard persist. Each role
// interface is usable alone.
type Store interface {
	EventStore
	SessionStore
	ActivityStore
	AlertStore
	ReportStore
	RetentionStore
	BlockStore
}

// Maintainer is an optional Store capability: periodic upkeep such as
// creating partitions ahead and purging by the retention policy. With several
// instances sharing a backend, only one does the work at a time; the others
// return MaintenanceResult{Skipped: true}.
type Maintainer interface {
	Maintain(ctx context.Context, now time.Time, p RetentionPolicy) (MaintenanceResult, error)
}

// AlertSubscriber is an optional capability of stores and monitors that
// announce alerts as they are opened or updated.
type AlertSubscriber interface {
	// SubscribeAlerts calls fn for each alert opened or updated until ctx is
	// done, then returns ctx's error. fn must not block for long.
	SubscribeAlerts(ctx context.Context, fn func(Alert)) error
}

// Clock tells the time. Tests pass a fake one; nil in a Config means the
// system clock.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Errors callers branch on.
var (
	ErrClosed           = errors.New("secmon: closed")
	ErrNotFound         = errors.New("secmon: not found")
	ErrQueueFull        = errors.New("secmon: queue full")
	ErrActionNotAllowed = errors.New("secmon: action not allowed")
	ErrInvalid          = errors.New("secmon: invalid input")
)

// FieldError reports a field that makes a value invalid. It matches
// ErrInvalid with errors.Is.
type FieldError struct {
	Field  string
	Reason string
}

// Error names the field and why it is invalid.
func (e *FieldError) Error() string { return "secmon: " + e.Field + " " + e.Reason }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }
