package detect

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/secmon-go/secmon"
)

// DefaultMaxTracked is the default number of users or sessions a stateful
// rule remembers. Past it, the least recently seen are forgotten first.
const DefaultMaxTracked = 100_000

// MaxRemember is the most values NewCountry and NewDevice remember per user.
const MaxRemember = 64

// The stateful rules (ImpossibleTravel, NewCountry, NewDevice,
// SessionHijack) keep their memory in this process even when the engine's
// Counters are shared through Redis: with several instances, route a user's
// logins and a session's requests to one instance, or accept that each
// instance judges the logins it sees.

// ImpossibleTravel finds successive logins of one user whose distance over
// elapsed time needs more than MaxSpeedKMH (rule "impossible_travel",
// subject "user:<id>", severity high, suggested action step_up).
//
// It reads Event.Geo of login_success events and skips logins without
// coordinates or with an accuracy radius above MaxAccuracyKM (an
// AccuracyKM of 0 means unknown and is taken as exact). Both accuracy radii
// are subtracted from the distance before judging, so imprecise data errs
// towards silence. It remembers the last usable login of at most MaxUsers
// users.
type ImpossibleTravel struct {
	MaxSpeedKMH   float64 // default 1000 km/h (faster than an airliner)
	MaxAccuracyKM int     // default 100 km
	MinDistanceKM float64 // hops shorter than this never fire; default 500 km
	MaxUsers      int     // default DefaultMaxTracked

	once sync.Once
	last *table[lastLogin]
}

type lastLogin struct {
	lat, lon float64
	acc      int32
	t        int64
	country  string
}

func (r *ImpossibleTravel) init() {
	r.once.Do(func() { r.last = newTable[lastLogin](orDefault(r.MaxUsers, DefaultMaxTracked)) })
}

// Name returns "impossible_travel".
func (r *ImpossibleTravel) Name() secmon.RuleName { return RuleImpossibleTravel }

// Validate rejects negative or non-finite fields.
func (r *ImpossibleTravel) Validate() error {
	switch {
	case r.MaxSpeedKMH < 0 || math.IsNaN(r.MaxSpeedKMH) || math.IsInf(r.MaxSpeedKMH, 0):
		return fmt.Errorf("MaxSpeedKMH %v is not a positive number", r.MaxSpeedKMH)
	case r.MinDistanceKM < 0 || math.IsNaN(r.MinDistanceKM) || math.IsInf(r.MinDistanceKM, 0):
		return fmt.Errorf("MinDistanceKM %v is not a positive number", r.MinDistanceKM)
	case r.MaxAccuracyKM < 0:
		return fmt.Errorf("MaxAccuracyKM %d is negative", r.MaxAccuracyKM)
	case r.MaxUsers < 0:
		return fmt.Errorf("MaxUsers %d is negative", r.MaxUsers)
	}
	return nil
}

// Cooldown is one hour per user.
func (r *ImpossibleTravel) Cooldown() time.Duration { return time.Hour }

// Plan needs no counters.
func (r *ImpossibleTravel) Plan(_ *Observation, ops []Op) []Op { return ops }

// Evaluate compares the login with the user's previous one.
func (r *ImpossibleTravel) Evaluate(_ context.Context, o *Observation, _ []Op) ([]secmon.Finding, error) {
	e := o.Event
	// The coordinate test is written so that NaN fails it: NaN compares
	// false with everything, and a NaN position would otherwise make every
	// distance NaN and every speed "too fast".
	if e.Type != secmon.EventLoginSuccess || o.User() == "" || !e.Geo.HasLocation() ||
		e.Geo.AccuracyKM < 0 || e.Geo.AccuracyKM > orDefault(r.MaxAccuracyKM, 100) ||
		!(math.Abs(e.Geo.Latitude) <= 90 && math.Abs(e.Geo.Longitude) <= 180) {
		return nil, nil
	}
	r.init()
	now := o.Now.UnixNano()
	cur := lastLogin{lat: e.Geo.Latitude, lon: e.Geo.Longitude, acc: int32(min(e.Geo.AccuracyKM, math.MaxInt32)), t: now, country: countryCode(e.Geo.Country)}
	var (
		prev  lastLogin
		found bool
	)
	r.last.update(o.User(), now, func(v *lastLogin, ok bool) bool {
		prev, found = *v, ok
		if !ok || now >= v.t {
			*v = cur
		}
		return true
	})
	if !found {
		return nil, nil
	}
	dist := haversineKM(prev.lat, prev.lon, cur.lat, cur.lon) - float64(prev.acc) - float64(cur.acc)
	if dist < orDefault(r.MinDistanceKM, 500) {
		return nil, nil
	}
	dt := time.Duration(now - prev.t)
	if dt < 0 {
		dt = -dt
	}
	speed := math.Inf(1)
	if dt > 0 {
		speed = dist / dt.Hours()
	}
	if speed <= orDefault(r.MaxSpeedKMH, 1000) {
		return nil, nil
	}
	speedText := "instant"
	if !math.IsInf(speed, 1) {
		speedText = strconv.FormatFloat(speed, 'f', 0, 64)
	}
	return []secmon.Finding{{
		Rule:     RuleImpossibleTravel,
		Subject:  SubjectUser + o.User(),
		Severity: secmon.SeverityHigh,
		Summary:  fmt.Sprintf("logins at least %.0f km apart within %v (%s km/h)", dist, dt, speedText),
		Evidence: map[string]string{
			"distance_km":  strconv.FormatFloat(dist, 'f', 0, 64),
			"elapsed":      dt.String(),
			"speed_kmh":    speedText,
			"from_country": prev.country,
			"to_country":   cur.country,
		},
		Action: secmon.Action{Kind: secmon.ActionStepUp},
	}}, nil
}

// countryCode is a Geo.Country as the rules compare and report it: trimmed,
// upper-cased, cleaned, at most 8 bytes (ISO 3166-1 codes have 2).
func countryCode(c string) string {
	return cleanValue(strings.ToUpper(strings.TrimSpace(c)), 8)
}

// haversineKM is the great-circle distance in kilometres.
func haversineKM(lat1, lon1, lat2, lon2 float64) float64 {
	const earthRadiusKM = 6371.0088
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKM * math.Asin(math.Sqrt(min(1, a)))
}

// recent remembers up to n hashed values per user.
type recent struct {
	once sync.Once
	seed maphash.Seed
	t    *table[[]uint64]
}

// seen records value for user and reports whether the user was known
// before, whether value was among its remembered values, and how many
// values were remembered before this one.
func (s *recent) seen(user, value string, now int64, maxUsers, remember int) (known, had bool, n int) {
	s.once.Do(func() {
		s.seed = maphash.MakeSeed()
		s.t = newTable[[]uint64](maxUsers)
	})
	h := maphash.String(s.seed, value)
	s.t.update(user, now, func(vs *[]uint64, found bool) bool {
		known, n = found, len(*vs)
		for i, v := range *vs {
			if v == h {
				had = true
				// move to the front so the least recently used is forgotten first
				copy((*vs)[1:i+1], (*vs)[:i])
				(*vs)[0] = h
				return true
			}
		}
		if len(*vs) < remember {
			*vs = append(*vs, 0)
		}
		copy((*vs)[1:], (*vs)[:len(*vs)-1])
		(*vs)[0] = h
		return true
	})
	return known, had, n
}

func checkRemember(remember, maxUsers int) error {
	switch {
	case remember < 0 || remember > MaxRemember:
		return fmt.Errorf("Remember %d is outside [0, %d]", remember, MaxRemember)
	case maxUsers < 0:
		return fmt.Errorf("MaxUsers %d is negative", maxUsers)
	}
	return nil
}

// NewCountry finds a login_success from a country the user has not logged in
// from recently (rule "new_country", subject "user:<id>", severity medium,
// suggested action notify). A user's first login is not new. It remembers
// the last Remember countries of at most MaxUsers users; a forgotten user's
// next login counts as a first login.
type NewCountry struct {
	Remember int // countries remembered per user; default 8, at most MaxRemember
	MaxUsers int // default DefaultMaxTracked

	state recent
}

// Name returns "new_country".
func (r *NewCountry) Name() secmon.RuleName { return RuleNewCountry }

// Validate rejects out-of-range fields.
func (r *NewCountry) Validate() error { return checkRemember(r.Remember, r.MaxUsers) }

// Cooldown is zero: every new country is reported.
func (r *NewCountry) Cooldown() time.Duration { return 0 }

// Plan needs no counters.
func (r *NewCountry) Plan(_ *Observation, ops []Op) []Op { return ops }

// Evaluate checks the login's country against the user's recent ones.
func (r *NewCountry) Evaluate(_ context.Context, o *Observation, _ []Op) ([]secmon.Finding, error) {
	e := o.Event
	if e.Type != secmon.EventLoginSuccess || o.User() == "" {
		return nil, nil
	}
	country := countryCode(e.Geo.Country)
	if country == "" {
		return nil, nil
	}
	known, had, n := r.state.seen(o.User(), country, o.Now.UnixNano(),
		orDefault(r.MaxUsers, DefaultMaxTracked), orDefault(r.Remember, 8))
	if !known || had {
		return nil, nil
	}
	return []secmon.Finding{{
		Rule:     RuleNewCountry,
		Subject:  SubjectUser + o.User(),
		Severity: secmon.SeverityMedium,
		Summary:  "login from a country not seen recently for this user: " + country,
		Evidence: map[string]string{"country": country, "known_countries": strconv.Itoa(n)},
		Action:   secmon.Action{Kind: secmon.ActionNotify},
	}}, nil
}

// NewDevice finds a login_success from a device fingerprint the user has not
// used recently (rule "new_device", subject "user:<id>", severity low,
// suggested action notify). A user's first login is not new. It remembers
// hashes of the last Remember fingerprints of at most MaxUsers users.
type NewDevice struct {
	Remember int // devices remembered per user; default 8, at most MaxRemember
	MaxUsers int // default DefaultMaxTracked

	state recent
}

// Name returns "new_device".
func (r *NewDevice) Name() secmon.RuleName { return RuleNewDevice }

// Validate rejects out-of-range fields.
func (r *NewDevice) Validate() error { return checkRemember(r.Remember, r.MaxUsers) }

// Cooldown is zero: every new device is reported.
func (r *NewDevice) Cooldown() time.Duration { return 0 }

// Plan needs no counters.
func (r *NewDevice) Plan(_ *Observation, ops []Op) []Op { return ops }

// Evaluate checks the login's fingerprint against the user's recent ones.
func (r *NewDevice) Evaluate(_ context.Context, o *Observation, _ []Op) ([]secmon.Finding, error) {
	e := o.Event
	if e.Type != secmon.EventLoginSuccess || o.User() == "" || e.Fingerprint == "" {
		return nil, nil
	}
	known, had, n := r.state.seen(o.User(), e.Fingerprint, o.Now.UnixNano(),
		orDefault(r.MaxUsers, DefaultMaxTracked), orDefault(r.Remember, 8))
	if !known || had {
		return nil, nil
	}
	return []secmon.Finding{{
		Rule:     RuleNewDevice,
		Subject:  SubjectUser + o.User(),
		Severity: secmon.SeverityLow,
		Summary:  "login from a device not seen recently for this user",
		Evidence: map[string]string{"known_devices": strconv.Itoa(n)},
		Action:   secmon.Action{Kind: secmon.ActionNotify},
	}}, nil
}

// SessionHijack finds a session whose IP group or user agent changes after
// it was first seen (rule "session_hijack", subject "session:<id>", severity
// high, critical when both change, suggested action step_up). It binds each
// session to the first IP group and user agent seen with its SessionID, on
// any event type; logout and session_revoked events forget the session. It
// remembers at most MaxSessions sessions.
//
// The subject carries the SessionID (trimmed, cleaned, at most
// MaxUserKeyLen bytes): log an opaque session identifier, never the bearer
// token itself, or the token reaches every alert and notifier.
type SessionHijack struct {
	IgnoreUserAgent bool          // judge the IP group only (for clients whose user agent drifts)
	MaxSessions     int           // default DefaultMaxTracked
	Repeat          time.Duration // least time between findings for one session; default 1 hour

	once  sync.Once
	seed  maphash.Seed
	binds *table[sessionBind]
}

type sessionBind struct {
	group netip.Prefix
	ua    uint64 // hash of the user agent; 0 when none seen
}

// Name returns "session_hijack".
func (r *SessionHijack) Name() secmon.RuleName { return RuleSessionHijack }

// Validate rejects negative fields.
func (r *SessionHijack) Validate() error {
	if r.MaxSessions < 0 || r.Repeat < 0 {
		return fmt.Errorf("MaxSessions %d or Repeat %v is negative", r.MaxSessions, r.Repeat)
	}
	return nil
}

// Cooldown is Repeat.
func (r *SessionHijack) Cooldown() time.Duration { return orDefault(r.Repeat, time.Hour) }

// Plan needs no counters.
func (r *SessionHijack) Plan(_ *Observation, ops []Op) []Op { return ops }

// Evaluate compares the event's IP group and user agent with the session's.
func (r *SessionHijack) Evaluate(_ context.Context, o *Observation, _ []Op) ([]secmon.Finding, error) {
	e := o.Event
	sid := cleanValue(strings.TrimSpace(e.SessionID), MaxUserKeyLen)
	if sid == "" {
		return nil, nil
	}
	r.once.Do(func() {
		r.seed = maphash.MakeSeed()
		r.binds = newTable[sessionBind](orDefault(r.MaxSessions, DefaultMaxTracked))
	})
	if e.Type == secmon.EventLogout || e.Type == secmon.EventSessionRevoked {
		r.binds.update(sid, 0, func(*sessionBind, bool) bool { return false })
		return nil, nil
	}
	var cur sessionBind
	if g, ok := sourceGroup(e.IP); ok {
		cur.group = g
	}
	if e.UserAgent != "" && !r.IgnoreUserAgent {
		cur.ua = maphash.String(r.seed, e.UserAgent) | 1
	}
	if !cur.group.IsValid() && cur.ua == 0 {
		return nil, nil
	}
	var ipChanged, uaChanged bool
	var prevGroup netip.Prefix
	r.binds.update(sid, o.Now.UnixNano(), func(b *sessionBind, found bool) bool {
		prevGroup = b.group
		ipChanged = found && b.group.IsValid() && cur.group.IsValid() && b.group != cur.group
		uaChanged = found && b.ua != 0 && cur.ua != 0 && b.ua != cur.ua
		if !b.group.IsValid() {
			b.group = cur.group
		}
		if b.ua == 0 {
			b.ua = cur.ua
		}
		return true
	})
	if !ipChanged && !uaChanged {
		return nil, nil
	}
	f := secmon.Finding{
		Rule:     RuleSessionHijack,
		Subject:  SubjectSession + sid,
		Severity: secmon.SeverityHigh,
		Evidence: map[string]string{},
		Action:   secmon.Action{Kind: secmon.ActionStepUp},
	}
	var changed []string
	if ipChanged {
		changed = append(changed, "ip_group")
		f.Evidence["previous_ip_group"] = prevGroup.String()
		f.Evidence["ip_group"] = cur.group.String()
	}
	if uaChanged {
		changed = append(changed, "user_agent")
	}
	if ipChanged && uaChanged {
		f.Severity = secmon.SeverityCritical
	}
	f.Evidence["changed"] = strings.Join(changed, ",")
	if u := o.User(); u != "" {
		f.Evidence["user"] = u
	}
	f.Summary = "session continued with a different " + strings.Join(changed, " and ")
	return []secmon.Finding{f}, nil
}

// PrivilegeEscalation reports role_change events (rule
// "privilege_escalation", subject "user:<id>", suggested action notify).
// Severity is medium for a change to an ordinary role, high for a change to
// one of PrivilegedRoles, and critical when a privileged role is granted by
// the user to themselves or by an unnamed actor (actor and user compared as
// user keys, so " Bob" granting to "bob" is a self-grant). A role_change
// without a UserID names no account and is ignored. Evidence carries the
// metadata keys actor_id, old_role and new_role (each cut to 64 bytes,
// control characters replaced); the Summary carries none of them.
type PrivilegeEscalation struct {
	// PrivilegedRoles are compared case-insensitively with new_role; nil
	// means "admin", "owner", "root", "superuser".
	PrivilegedRoles []string
}

var defaultPrivileged = []string{"admin", "owner", "root", "superuser"}

// Name returns "privilege_escalation".
func (r *PrivilegeEscalation) Name() secmon.RuleName { return RulePrivilegeEscalation }

// Cooldown is zero: every role change is reported.
func (r *PrivilegeEscalation) Cooldown() time.Duration { return 0 }

// Plan needs no counters.
func (r *PrivilegeEscalation) Plan(_ *Observation, ops []Op) []Op { return ops }

// Evaluate reports a role change.
func (r *PrivilegeEscalation) Evaluate(_ context.Context, o *Observation, _ []Op) ([]secmon.Finding, error) {
	e := o.Event
	user := o.User()
	if e.Type != secmon.EventRoleChange || user == "" {
		return nil, nil
	}
	actor := e.Metadata["actor_id"]
	newRole := e.Metadata["new_role"]
	roles := r.PrivilegedRoles
	if roles == nil {
		roles = defaultPrivileged
	}
	privileged := false
	for _, p := range roles {
		if strings.EqualFold(strings.TrimSpace(newRole), p) {
			privileged = true
			break
		}
	}
	f := secmon.Finding{
		Rule:     RulePrivilegeEscalation,
		Subject:  SubjectUser + o.User(),
		Severity: secmon.SeverityMedium,
		Summary:  "role changed for a user",
		Evidence: map[string]string{
			"actor_id": cleanValue(actor, 64),
			"old_role": cleanValue(e.Metadata["old_role"], 64),
			"new_role": cleanValue(newRole, 64),
		},
		Action: secmon.Action{Kind: secmon.ActionNotify},
	}
	if privileged {
		f.Severity = secmon.SeverityHigh
		f.Summary = "privileged role granted to a user"
		if a := userKey(actor, o.caseSensitive); a == "" || a == user {
			f.Severity = secmon.SeverityCritical
			f.Summary = "privileged role granted without a distinct actor"
		}
	}
	return []secmon.Finding{f}, nil
}

// cleanValue cuts s to at most n bytes on a rune boundary and replaces
// control characters (Cc), format characters (Cf: bidirectional overrides,
// zero-width joiners) and invalid UTF-8 with '?', so evidence and subjects
// stay printable, unambiguous and bounded. A clean value comes back as is,
// without allocating.
func cleanValue(s string, n int) string {
	if len(s) <= n {
		clean := true
		for _, r := range s {
			if unprintable(r) {
				clean = false
				break
			}
		}
		if clean {
			return s
		}
	}
	var b strings.Builder
	b.Grow(min(len(s), n))
	for _, r := range s {
		if unprintable(r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unprintable reports whether r must not appear in a cleaned value; r is
// utf8.RuneError for an invalid byte.
func unprintable(r rune) bool {
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}
