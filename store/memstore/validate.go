package memstore

import (
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/querylimit"
)

// Size limits on stored rows. They match what the Monitor's PrivacyPolicy
// guarantees, so they only reject rows written past it; they keep one row
// from holding unbounded memory.
const (
	maxShortField = secmon.MaxIDLen       // IDs, rule, subject, action, fingerprint, geo names
	maxLongField  = secmon.MaxMetadataLen // summary, resource, map values
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("memstore: %w: "+format, append([]any{secmon.ErrInvalid}, args...)...)
}

func checkLen(field, v string, n int) error {
	if len(v) > n {
		return invalid("%s is longer than %d bytes", field, n)
	}
	return nil
}

func checkMap(field string, m map[string]string) error {
	if len(m) > secmon.MaxMetadataKeys {
		return invalid("%s has %d keys, more than %d", field, len(m), secmon.MaxMetadataKeys)
	}
	for k, v := range m {
		if len(k) > maxShortField {
			return invalid("%s has a key longer than %d bytes", field, maxShortField)
		}
		if len(v) > maxLongField {
			return invalid("%s has a value longer than %d bytes", field, maxLongField)
		}
	}
	return nil
}

func checkGeo(g secmon.Geo) error {
	for _, f := range [...]struct{ name, v string }{{"Geo.Country", g.Country}, {"Geo.Region", g.Region}, {"Geo.City", g.City}} {
		if err := checkLen(f.name, f.v, maxShortField); err != nil {
			return err
		}
	}
	return nil
}

func checkEvent(e *secmon.Event) error {
	if e.ID == uuid.Nil {
		return invalid("event ID is zero")
	}
	if e.Time.IsZero() {
		return invalid("event Time is zero")
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	if err := checkLen("UserAgent", e.UserAgent, secmon.MaxUserAgentLen); err != nil {
		return err
	}
	if err := checkLen("Fingerprint", e.Fingerprint, maxShortField); err != nil {
		return err
	}
	if err := checkGeo(e.Geo); err != nil {
		return err
	}
	return checkMap("Metadata", e.Metadata)
}

func checkActivity(a *secmon.Activity) error {
	switch {
	case a.ID == uuid.Nil:
		return invalid("activity ID is zero")
	case a.Time.IsZero():
		return invalid("activity Time is zero")
	case a.UserID == "":
		return invalid("activity UserID is empty")
	case a.Action == "":
		return invalid("activity Action is empty")
	}
	for _, f := range [...]struct{ name, v string }{{"UserID", a.UserID}, {"SessionID", a.SessionID}, {"OrgID", a.OrgID}, {"Action", a.Action}} {
		if err := checkLen(f.name, f.v, maxShortField); err != nil {
			return err
		}
	}
	if err := checkLen("Resource", a.Resource, maxLongField); err != nil {
		return err
	}
	return checkMap("Metadata", a.Metadata)
}

func checkBeat(b *secmon.SessionBeat) error {
	switch {
	case b.SessionID == "":
		return invalid("beat SessionID is empty")
	case b.UserID == "":
		return invalid("beat UserID is empty")
	case b.Time.IsZero():
		return invalid("beat Time is zero")
	}
	for _, f := range [...]struct{ name, v string }{{"SessionID", b.SessionID}, {"UserID", b.UserID}, {"OrgID", b.OrgID}, {"Fingerprint", b.Fingerprint}} {
		if err := checkLen(f.name, f.v, maxShortField); err != nil {
			return err
		}
	}
	if err := checkLen("UserAgent", b.UserAgent, secmon.MaxUserAgentLen); err != nil {
		return err
	}
	return checkGeo(b.Geo)
}

func checkAlert(a *secmon.Alert) error {
	switch {
	case a.Rule == "":
		return invalid("alert Rule is empty")
	case a.Subject == "":
		return invalid("alert Subject is empty")
	case a.LastSeen.IsZero():
		return invalid("alert LastSeen is zero")
	case !a.FirstSeen.IsZero() && a.FirstSeen.After(a.LastSeen):
		return invalid("alert FirstSeen is after LastSeen")
	case !a.Severity.Valid():
		return invalid("alert Severity %d is out of range", uint8(a.Severity))
	case a.Count < 0:
		return invalid("alert Count is negative")
	}
	for _, f := range [...]struct{ name, v string }{{"Rule", string(a.Rule)}, {"Subject", a.Subject}} {
		if err := checkLen(f.name, f.v, maxShortField); err != nil {
			return err
		}
	}
	if err := checkLen("Summary", a.Summary, maxLongField); err != nil {
		return err
	}
	return checkMap("Evidence", a.Evidence)
}

func checkRange(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return invalid("range ends (%s) before it starts (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// wall drops t's monotonic clock reading so that stored times compare by
// wall clock only, the way every other backend compares them.
func wall(t time.Time) time.Time { return t.Round(0) }

func clampLimit(n int) int { return querylimit.Clamp(n) }
