package secmon

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
)

// EventType names what happened. The constants below are the vocabulary the
// built-in detection rules and reports understand; hosts may log their own
// types as long as they pass [EventType.Valid].
type EventType string

// Event types understood by the built-in rules and reports.
const (
	EventLoginSuccess   EventType = "login_success"
	EventLoginFailure   EventType = "login_failure"
	EventLogout         EventType = "logout"
	EventPasswordChange EventType = "password_change"
	EventMFAFailure     EventType = "mfa_failure"
	EventRoleChange     EventType = "role_change"
	EventSessionRevoked EventType = "session_revoked"
	EventSessionAnomaly EventType = "session_anomaly"
	EventUploadAccepted EventType = "upload_accepted"
	EventUploadBlocked  EventType = "upload_blocked"
	EventRateLimited    EventType = "rate_limited"
	EventAccessDenied   EventType = "access_denied"
	EventExport         EventType = "export"
	EventPageView       EventType = "page_view"
	EventIPBlocked      EventType = "ip_blocked"     // a Block was decided (any scope; metadata names scope, origin, level and who)
	EventBlockLifted    EventType = "block_lifted"   // a Block was lifted before it ended
	EventAccessBlocked  EventType = "access_blocked" // a request was refused because of a Block (counted, one event per subject and window)
	EventAdminAction    EventType = "admin_action"   // an operator acted through an admin surface (metadata names the action and who)
)

// MaxEventTypeLen is the longest accepted EventType.
const MaxEventTypeLen = 64

// Valid reports whether t is a non-empty snake_case identifier of at most
// MaxEventTypeLen bytes: lower-case ASCII letters, digits and '_', starting
// with a letter.
func (t EventType) Valid() bool {
	if len(t) == 0 || len(t) > MaxEventTypeLen || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Severity ranks events, findings, alerts and threats. The zero value is
// SeverityInfo. Severities order naturally: SeverityHigh > SeverityLow.
type Severity uint8

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// String returns the lower-case name ("info" … "critical"), or
// "severity(N)" for an out-of-range value.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// Valid reports whether s is one of the five defined severities.
func (s Severity) Valid() bool { return int(s) < len(severityNames) }

// MarshalText implements encoding.TextMarshaler. An invalid severity is an
// error rather than a made-up name.
func (s Severity) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("secmon: invalid severity %d", uint8(s))
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the names
// returned by String, case-insensitively.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity parses a severity name case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(n, name) {
			return Severity(i), nil
		}
	}
	if len(name) > 32 {
		name = name[:32] + "…"
	}
	return 0, fmt.Errorf("secmon: unknown severity %q", name)
}

// Geo is where an IP address is, as a GeoResolver saw it. The zero value means
// unknown.
type Geo struct {
	Country    string  // ISO 3166-1 alpha-2, upper case
	Region     string  // first subdivision name or code
	City       string  //
	Latitude   float64 //
	Longitude  float64 //
	AccuracyKM int     // accuracy radius in kilometres; 0 when unknown
}

// IsZero reports whether g carries no information.
func (g Geo) IsZero() bool { return g == Geo{} }

// HasLocation reports whether g has coordinates worth computing distances from.
func (g Geo) HasLocation() bool { return g.Latitude != 0 || g.Longitude != 0 }

// Event is one security-relevant thing that happened. Hosts fill what they
// know; the Monitor stamps ID and Time when they are zero.
type Event struct {
	ID          uuid.UUID     // time-ordered (UUIDv7); stamped by the Monitor when zero
	Time        time.Time     // when it happened; stamped by the Monitor when zero
	Type        EventType     // required
	Severity    Severity      //
	UserID      string        // subject account, if any
	SessionID   string        //
	OrgID       string        //
	IP          netip.Addr    // client address (see ClientIP); rewritten by the PrivacyPolicy
	UserAgent   string        // capped by the PrivacyPolicy
	Fingerprint string        // device fingerprint from NewRequestInfo (a keyed hash, never raw headers)
	Geo         Geo           //
	Duration    time.Duration // how long the operation took (for uploads: validation time)
	Metadata    map[string]string
}

// Field length limits applied by Event.Validate.
const (
	MaxIDLen        = 256  // UserID, SessionID, OrgID
	MaxUserAgentLen = 512  // UserAgent (longer values are cut by the PrivacyPolicy)
	MaxMetadataKeys = 20   // keys in Metadata after the PrivacyPolicy
	MaxMetadataLen  = 1024 // bytes in one Metadata value after the PrivacyPolicy
)

// Validate reports the first problem that makes e unfit to store: a missing or
// malformed Type, an invalid Severity, an identifier that is too long or
// holds control characters, or a negative Duration. It does not judge
// Metadata, which the PrivacyPolicy filters rather than rejects.
func (e *Event) Validate() error {
	if e.Type == "" {
		return &FieldError{Field: "Type", Reason: "is required"}
	}
	if !e.Type.Valid() {
		return &FieldError{Field: "Type", Reason: "must be a snake_case identifier of at most 64 bytes"}
	}
	if !e.Severity.Valid() {
		return &FieldError{Field: "Severity", Reason: "is out of range"}
	}
	if e.Duration < 0 {
		return &FieldError{Field: "Duration", Reason: "is negative"}
	}
	for _, f := range [...]struct{ name, v string }{{"UserID", e.UserID}, {"SessionID", e.SessionID}, {"OrgID", e.OrgID}} {
		if err := checkIdentifier(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

func checkIdentifier(field, v string) error {
	if len(v) > MaxIDLen {
		return &FieldError{Field: field, Reason: fmt.Sprintf("is longer than %d bytes", MaxIDLen)}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return &FieldError{Field: field, Reason: "holds control characters"}
		}
	}
	return nil
}

// NewID returns a new time-ordered identifier (UUIDv7), so rows arrive in
// index order and inserts stay append-only.
func NewID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil { // only when the system random source fails
		return uuid.New()
	}
	return id
}

// SessionBeat is one heartbeat of a signed-in session. The Monitor coalesces
// beats by SessionID: the newest Time wins.
type SessionBeat struct {
	SessionID   string // required
	UserID      string // required
	OrgID       string
	IP          netip.Addr
	UserAgent   string
	Fingerprint string
	Geo         Geo
	Time        time.Time // stamped by the Monitor when zero
	// StartedAt is the earliest beat this one stands for; zero means Time
	// (a value after Time counts as Time). The Monitor sets it when it
	// coalesces several beats of a session before one flush, so the
	// stored Session.StartedAt stays at the first beat; a host may set it
	// to the session's sign-in time.
	StartedAt time.Time
}

// Start returns when the beat says its session started: StartedAt when it
// is set and not after Time, else Time.
func (b *SessionBeat) Start() time.Time {
	if !b.StartedAt.IsZero() && b.StartedAt.Before(b.Time) {
		return b.StartedAt
	}
	return b.Time
}

// Session is a stored session as a SessionStore returns it.
type Session struct {
	SessionID   string
	UserID      string
	OrgID       string
	IP          netip.Addr
	UserAgent   string
	Fingerprint string
	Geo         Geo
	StartedAt   time.Time // first beat seen
	LastSeen    time.Time // newest beat seen; never moves backwards
	RevokedAt   time.Time // zero while the session is live
}

// Revoked reports whether the session has been revoked.
func (s Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// Activity is one user action from an allowlist (see Config.AllowedActions).
type Activity struct {
	ID        uuid.UUID // stamped by the Monitor when zero
	Time      time.Time // stamped by the Monitor when zero
	UserID    string    // required
	SessionID string
	OrgID     string
	Action    string // must be in the Monitor's allowlist
	Resource  string // what the action touched, e.g. "report:42"
	Metadata  map[string]string
}

// AlertStatus is the life-cycle state of an Alert.
type AlertStatus string

// Alert states. Only open alerts deduplicate: a new finding for the same
// (rule, subject) after the alert was acknowledged or resolved opens a new one.
const (
	AlertOpen         AlertStatus = "open"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertResolved     AlertStatus = "resolved"
)

// Valid reports whether s is one of the three defined states.
func (s AlertStatus) Valid() bool {
	return s == AlertOpen || s == AlertAcknowledged || s == AlertResolved
}

// ActionKind is the response a rule suggests. secmon never acts on it: the
// host decides.
type ActionKind string

// Suggested responses.
const (
	ActionNotify ActionKind = "notify"  // tell a human
	ActionStepUp ActionKind = "step_up" // ask for a second factor or re-authentication
	ActionBlock  ActionKind = "block"   // refuse the subject for Action.Duration
)

// Action is a suggested response with its duration (for ActionBlock).
type Action struct {
	Kind     ActionKind
	Duration time.Duration
}

// RuleName is the stable name of a detection rule, as carried in
// Finding.Rule and Alert.Rule, e.g. "brute_force_ip". The detect package
// declares the names of its built-in rules (detect.RuleBruteForceIP …);
// a host's own rules choose their own, in lower snake_case.
type RuleName string

// Source is an IP group a finding names as acting against its subject, with
// how many of the counted events came from it.
type Source struct {
	Group netip.Prefix // an IPGroup: an IPv4 /32, an IPv6 /64 (a 6to4 /48)
	Count int64        // events from the group the rule counted; at least 1
}

// MaxFindingSources is the most Sources a built-in rule puts in a Finding:
// the groups with the most events, most first.
const MaxFindingSources = 10

// Finding is what a Detector reports for one event: a rule crossed its
// threshold for a subject (an IP group, an account, a session …).
//
// Sources names the IP groups to act on: for a subject that is itself an IP
// group, that group; for an account-level finding (a brute force on one
// account, a distributed attack), the groups that attacked it, most active
// first. An active response (package guard) blocks these groups, never the
// account unless its policy says so.
type Finding struct {
	Rule     RuleName // stable rule name, e.g. "brute_force_ip"
	Subject  string   // what the rule is about, e.g. "ip:203.0.113.7/32"
	Severity Severity
	Summary  string            // one human line, no secrets
	Evidence map[string]string // counts, windows, sample values
	Action   Action            // suggested response
	Time     time.Time         // time of the event that triggered it
	Sources  []Source          // IP groups to act on, most active first; at most MaxFindingSources from the built-in rules
}

// Alert is a deduplicated Finding: while it is open, further findings for the
// same (Rule, Subject) raise Count and LastSeen instead of opening a new alert.
type Alert struct {
	ID        uuid.UUID
	Rule      RuleName
	Subject   string
	Severity  Severity // highest seen
	Status    AlertStatus
	Count     int64 // findings merged into this alert (in UpsertAlerts: how many to add)
	FirstSeen time.Time
	LastSeen  time.Time
	Summary   string
	Evidence  map[string]string
	Action    Action
}

// Degradation says how a RateLimiter reached a Decision when its backing
// store was unavailable.
type Degradation string

// Degradations. The empty value means the limiter answered normally.
const (
	NotDegraded        Degradation = ""
	DegradedFailOpen   Degradation = "fail_open"   // allowed without consulting the store
	DegradedFailClosed Degradation = "fail_closed" // denied without consulting the store
	DegradedLocal      Degradation = "local"       // answered by a local in-memory limiter
	DegradedKeyCap     Degradation = "key_cap"     // denied: the limiter holds its maximum number of keys and none may be evicted
)

// Decision is a RateLimiter's answer for one key.
type Decision struct {
	Allowed    bool
	Limit      int           // requests allowed per period (the burst)
	Remaining  int           // requests left right now
	RetryAfter time.Duration // when denied: how long until one request is allowed
	ResetAfter time.Duration // how long until the bucket is full again
	Degraded   Degradation   // non-empty when the backing store could not be asked
}

// Upload is a file a user sent.
type Upload struct {
	Name         string // the client's file name; only its extension is used
	DeclaredType string // the client's Content-Type, e.g. "image/png"
	Data         []byte
}

// ThreatCode is a stable snake_case identifier of a reason an upload is
// dangerous, as carried in Threat.Code: one of the Threat* constants.
type ThreatCode string

// Stable threat codes carried in Threat.Code.
const (
	ThreatSizeExceeded     ThreatCode = "size_exceeded"
	ThreatTypeMismatch     ThreatCode = "type_mismatch"
	ThreatDisallowedType   ThreatCode = "disallowed_type"
	ThreatTrailingData     ThreatCode = "trailing_data"
	ThreatEmbeddedArchive  ThreatCode = "embedded_archive"
	ThreatHTMLContent      ThreatCode = "html_content"
	ThreatScriptInMetadata ThreatCode = "script_in_metadata"
	ThreatPixelBomb        ThreatCode = "pixel_bomb"
	ThreatCorrupt          ThreatCode = "corrupt"
	ThreatPolyglot         ThreatCode = "polyglot"

	ThreatScriptInImageData    ThreatCode = "script_in_image_data"  // executable code stored literally in pixel data
	ThreatMetadataExfiltration ThreatCode = "metadata_exfiltration" // metadata that makes a converter read a local file
	ThreatMalformedMetadata    ThreatCode = "malformed_metadata"    // metadata that does not parse, removed by sanitising
	ThreatTrailingPadding      ThreatCode = "trailing_padding"      // a few inert bytes after the end, cut by sanitising
	ThreatUnsupportedEncoding  ThreatCode = "unsupported_encoding"  // valid, but the decoder cannot read it
)

// Threat is one reason an upload is dangerous.
type Threat struct {
	Code     ThreatCode // one of the Threat* constants
	Severity Severity
	Detail   string // human detail; never contains the file's bytes verbatim beyond a short, escaped excerpt
}

// StageTiming is how long one validation stage took.
type StageTiming struct {
	Stage    string // "size", "magic", "structure", "metadata", "sanitize", "total"
	Duration time.Duration
}

// Verdict is an UploadValidator's answer.
type Verdict struct {
	// Allowed is true when the upload may be stored. Threats may then still
	// list low-severity problems that Sanitized repairs (malformed metadata,
	// inert trailing bytes): store Sanitized, not the original.
	Allowed      bool
	DetectedType string // MIME type found from the bytes, e.g. "image/png"; empty when unknown
	Threats      []Threat
	Sanitized    []byte // the file with metadata stripped and trailing data cut, when sanitising is on
	Timings      []StageTiming
}

// Summary is the security summary over a time range.
type Summary struct {
	From, To       time.Time
	Events         int64
	ByType         map[EventType]int64
	BySeverity     map[Severity]int64
	Uploads        int64         // upload_accepted + upload_blocked
	ThreatsBlocked int64         // upload_blocked
	AvgValidation  time.Duration // mean Duration of upload events
	LoginFailures  int64
	AlertsOpened   int64 // alerts whose FirstSeen falls in the range
}

// HourBucket is one hour of the hourly breakdown.
type HourBucket struct {
	Start          time.Time // truncated to the hour, UTC
	Events         int64
	LoginFailures  int64
	UploadsBlocked int64
	HighSeverity   int64 // events of SeverityHigh or above
}

// Query limits.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 10000
)

// EventQuery selects events. Zero fields do not filter. Results are newest
// first, at most Limit (default DefaultQueryLimit, capped at MaxQueryLimit).
type EventQuery struct {
	From, To    time.Time // From inclusive, To exclusive
	Types       []EventType
	UserID      string
	SessionID   string
	OrgID       string
	IP          netip.Prefix // events whose IP is inside this prefix
	MinSeverity Severity
	Before      EventCursor // only events after this position in newest-first order: the cursor for the next page
	Limit       int
}

// SessionQuery selects sessions for SessionStore.ActiveSessions. Zero fields
// do not filter; revoked sessions are never returned.
type SessionQuery struct {
	UserID string
	Since  time.Time // LastSeen at or after
	Limit  int
}

// ActivityQuery selects activity rows, newest first.
type ActivityQuery struct {
	From, To time.Time
	UserID   string
	Action   string
	Limit    int
}

// AlertQuery selects alerts, most recently seen first.
type AlertQuery struct {
	Status  AlertStatus // empty: every status
	Rule    RuleName    // empty: every rule
	Subject string
	Since   time.Time // LastSeen at or after
	// MinSeverity keeps alerts of at least this severity; zero keeps all.
	MinSeverity Severity
	Limit       int
}

// RetentionPolicy says how long rows are kept. A zero field means its default;
// a negative field means keep forever.
type RetentionPolicy struct {
	Events   time.Duration // default 90 days; 24 * time.Hour keeps one day for debugging
	Sessions time.Duration // revoked sessions, and sessions idle this long; default 30 days
	Activity time.Duration // default 90 days
	Alerts   time.Duration // resolved alerts; default 365 days
	// Blocks is how long a block is kept after it ended (expired or was
	// lifted), as the history escalation reads: a subject blocked again
	// within it gets a longer block. Blocks in force, and blocks without an
	// end that were never lifted, are never purged. Default 30 days.
	Blocks time.Duration
}

// Default retention periods.
const (
	DefaultEventRetention    = 90 * 24 * time.Hour
	DefaultSessionRetention  = 30 * 24 * time.Hour
	DefaultActivityRetention = 90 * 24 * time.Hour
	DefaultAlertRetention    = 365 * 24 * time.Hour
	DefaultBlockRetention    = 30 * 24 * time.Hour
)

// WithDefaults returns p with zero fields replaced by the defaults.
func (p RetentionPolicy) WithDefaults() RetentionPolicy {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&p.Events, DefaultEventRetention)
	def(&p.Sessions, DefaultSessionRetention)
	def(&p.Activity, DefaultActivityRetention)
	def(&p.Alerts, DefaultAlertRetention)
	def(&p.Blocks, DefaultBlockRetention)
	return p
}

// PurgeResult counts what a Purge removed.
type PurgeResult struct {
	Events            int64
	Sessions          int64
	Activities        int64
	Alerts            int64
	Blocks            int64 // ended blocks past RetentionPolicy.Blocks
	PartitionsDropped int
}

// MaintenanceResult is what one Maintainer.Maintain call did.
type MaintenanceResult struct {
	Skipped           bool // another instance held the maintenance lock
	PartitionsCreated int
	Purged            PurgeResult
}
