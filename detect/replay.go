package detect

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/secmon-go/secmon"
)

// Replay feeds events, in order, through d and returns every finding. Each
// event keeps its own Time, so an [Engine] judges the stream exactly as it
// would have live, however fast it is replayed; streams recorded from
// production or written by hand (see ReadEvents) become regression tests for
// rules, as CrowdSec's hubtest does for scenarios.
//
// Replay stops early only when ctx is done. Errors from d do not stop it:
// they are joined, each with the index of its event, and returned with the
// findings.
func Replay(ctx context.Context, d secmon.Detector, events []secmon.Event) ([]secmon.Finding, error) {
	var (
		out  []secmon.Finding
		errs []error
	)
	for i := range events {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		fs, err := d.Observe(ctx, events[i])
		out = append(out, fs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("event %d: %w", i, err))
		}
	}
	return out, errors.Join(errs...)
}

// Limits of ReadEvents.
const (
	DefaultMaxEvents = 100_000  // events ReadEvents returns when max ≤ 0
	MaxEventLine     = 64 << 10 // longest line ReadEvents accepts, in bytes
)

// ErrTooManyEvents is returned by ReadEvents when the input holds more than
// max events.
var ErrTooManyEvents = errors.New("detect: too many events")

// eventLine is the JSON-lines form of one event.
type eventLine struct {
	Time        time.Time         `json:"time"`
	Type        secmon.EventType  `json:"type"`
	Severity    *secmon.Severity  `json:"severity,omitempty"`
	UserID      string            `json:"user_id,omitempty"`
	SessionID   string            `json:"session_id,omitempty"`
	OrgID       string            `json:"org_id,omitempty"`
	IP          string            `json:"ip,omitempty"`
	UserAgent   string            `json:"user_agent,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Geo         *geoLine          `json:"geo,omitempty"`
	DurationMS  float64           `json:"duration_ms,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

type geoLine struct {
	Country    string  `json:"country,omitempty"`
	Region     string  `json:"region,omitempty"`
	City       string  `json:"city,omitempty"`
	Latitude   float64 `json:"lat,omitempty"`
	Longitude  float64 `json:"lon,omitempty"`
	AccuracyKM int     `json:"accuracy_km,omitempty"`
}

var (
	minEventTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEventTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ReadEvents reads a JSON-lines event stream: one JSON object per line,
// blank lines and lines starting with '#' ignored. The fields are
//
//	time (RFC 3339, required), type (required), severity ("info" … "critical"),
//	user_id, session_id, org_id, ip, user_agent, fingerprint,
//	geo {country, region, city, lat, lon, accuracy_km}, duration_ms, metadata {string: string}
//
// Unknown fields are an error, so a misspelt field does not silently change
// a test. Each event must pass secmon.Event.Validate, have a time between
// 1970 and 2200, at most secmon.MaxMetadataKeys metadata keys of at most
// secmon.MaxMetadataLen bytes, and a line must fit in MaxEventLine bytes.
// At most max events are read (DefaultMaxEvents when max ≤ 0); more is
// ErrTooManyEvents. Errors name the line.
func ReadEvents(r io.Reader, max int) ([]secmon.Event, error) {
	if max <= 0 {
		max = DefaultMaxEvents
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxEventLine)
	var out []secmon.Event
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		if len(out) == max {
			return nil, fmt.Errorf("%w: line %d: more than %d", ErrTooManyEvents, line, max)
		}
		e, err := parseEventLine(b)
		if err != nil {
			return nil, fmt.Errorf("detect: events line %d: %w", line, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("detect: events line %d: longer than %d bytes", line+1, MaxEventLine)
		}
		return nil, fmt.Errorf("detect: reading events: %w", err)
	}
	return out, nil
}

func parseEventLine(b []byte) (secmon.Event, error) {
	var l eventLine
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return secmon.Event{}, err
	}
	if dec.More() {
		return secmon.Event{}, errors.New("more than one JSON value")
	}
	if l.Time.IsZero() {
		return secmon.Event{}, errors.New("time is required")
	}
	if l.Time.Before(minEventTime) || !l.Time.Before(maxEventTime) {
		return secmon.Event{}, errors.New("time is outside 1970–2200")
	}
	e := secmon.Event{
		Time:        l.Time,
		Type:        l.Type,
		UserID:      l.UserID,
		SessionID:   l.SessionID,
		OrgID:       l.OrgID,
		UserAgent:   l.UserAgent,
		Fingerprint: l.Fingerprint,
		Metadata:    l.Metadata,
	}
	if l.Severity != nil {
		e.Severity = *l.Severity
	}
	if l.IP != "" {
		ip, err := netip.ParseAddr(l.IP)
		if err != nil {
			return secmon.Event{}, fmt.Errorf("ip: %w", err)
		}
		e.IP = ip
	}
	if l.Geo != nil {
		if l.Geo.Latitude < -90 || l.Geo.Latitude > 90 || l.Geo.Longitude < -180 || l.Geo.Longitude > 180 {
			return secmon.Event{}, errors.New("geo coordinates out of range")
		}
		if l.Geo.AccuracyKM < 0 {
			return secmon.Event{}, errors.New("geo accuracy_km is negative")
		}
		e.Geo = secmon.Geo(*l.Geo)
	}
	if l.DurationMS < 0 || l.DurationMS > float64(24*time.Hour/time.Millisecond) {
		return secmon.Event{}, errors.New("duration_ms is outside [0, 1 day]")
	}
	e.Duration = time.Duration(l.DurationMS * float64(time.Millisecond))
	if len(e.UserAgent) > secmon.MaxUserAgentLen {
		return secmon.Event{}, fmt.Errorf("user_agent is longer than %d bytes", secmon.MaxUserAgentLen)
	}
	if len(e.Fingerprint) > secmon.MaxIDLen {
		return secmon.Event{}, fmt.Errorf("fingerprint is longer than %d bytes", secmon.MaxIDLen)
	}
	if len(e.Metadata) > secmon.MaxMetadataKeys {
		return secmon.Event{}, fmt.Errorf("metadata has more than %d keys", secmon.MaxMetadataKeys)
	}
	for _, v := range e.Metadata {
		if len(v) > secmon.MaxMetadataLen {
			return secmon.Event{}, fmt.Errorf("a metadata value is longer than %d bytes", secmon.MaxMetadataLen)
		}
	}
	if err := e.Validate(); err != nil {
		return secmon.Event{}, err
	}
	return e, nil
}
