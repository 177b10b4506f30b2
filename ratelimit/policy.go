package ratelimit

import (
	"errors"
	"fmt"
	"time"

	"github.com/secmon-go/secmon"
)

// Policy is a rate: Limit requests per Period, with bursts of up to Burst
// requests. It is a token bucket in the sense of golang.org/x/time/rate: the
// bucket holds Burst tokens, starts full, and refills at Limit/Period tokens
// per unit of time; each request takes one token.
//
// Policy is a plain value; copy it and change fields to define your own.
type Policy struct {
	// Name identifies the policy in the RateLimit-Policy and RateLimit
	// response headers and in Redis keys. At most MaxPolicyNameLen bytes of
	// ASCII letters, digits, '-', '_' and '.'; empty means "default".
	Name string
	// Limit is how many requests are allowed per Period. Required (≥ 1).
	Limit int
	// Period is the window Limit applies to. Required (> 0).
	Period time.Duration
	// Burst is the bucket size: how many requests may arrive at once after
	// an idle spell. Zero means Limit.
	Burst int
}

// MaxPolicyNameLen is the longest accepted Policy.Name.
const MaxPolicyNameLen = 64

// Ready policies matching the limits the security-monitoring audit asks for.
// Each is per key; the key function of the middleware decides what a key is
// (a user, an IP group, …).
var (
	// Heartbeat allows 2 session heartbeats per minute per user.
	Heartbeat = Policy{Name: "heartbeat", Limit: 2, Period: time.Minute}
	// Activity allows 20 activity-tracking calls per minute per user.
	Activity = Policy{Name: "activity", Limit: 20, Period: time.Minute}
	// Login allows 10 login attempts per minute per IP group (an IPv4
	// address or an IPv6 /64, see secmon.IPGroup): enough for a shared
	// office NAT, far too few for password spraying.
	Login = Policy{Name: "login", Limit: 10, Period: time.Minute}
	// Upload allows 10 upload attempts per minute per user.
	Upload = Policy{Name: "upload", Limit: 10, Period: time.Minute}
)

// errPolicy reports an invalid Policy; it matches secmon.ErrInvalid.
func errPolicy(field, reason string) error {
	return &secmon.FieldError{Field: "Policy." + field, Reason: reason}
}

// WithDefaults validates p and returns it with its defaults filled in
// (Name "default", Burst Limit). The error matches secmon.ErrInvalid. Limiter
// implementations outside this package call it to accept the same policies
// as Memory.
func (p Policy) WithDefaults() (Policy, error) {
	if p.Name == "" {
		p.Name = "default"
	}
	if len(p.Name) > MaxPolicyNameLen {
		return p, errPolicy("Name", fmt.Sprintf("is longer than %d bytes", MaxPolicyNameLen))
	}
	for i := 0; i < len(p.Name); i++ {
		if !nameByte(p.Name[i]) {
			return p, errPolicy("Name", "may hold only ASCII letters, digits, '-', '_' and '.'")
		}
	}
	if p.Limit < 1 {
		return p, errPolicy("Limit", "must be at least 1")
	}
	if p.Period <= 0 {
		return p, errPolicy("Period", "must be positive")
	}
	if p.Burst < 0 {
		return p, errPolicy("Burst", "must not be negative")
	}
	if p.Burst == 0 {
		p.Burst = p.Limit
	}
	if p.Period/time.Duration(p.Limit) < time.Microsecond {
		return p, errPolicy("Limit", "is too high for Period: one request per microsecond at most")
	}
	// Burst × interval must fit in an int64 of nanoseconds with room to add "now".
	if time.Duration(p.Burst) > (1<<61)/p.Interval() {
		return p, errPolicy("Burst", "times the refill interval overflows")
	}
	return p, nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// Interval is the emission interval: the time one token takes to refill.
func (p Policy) Interval() time.Duration { return p.Period / time.Duration(p.Limit) }

// Fill is the time an empty bucket takes to become full: Burst × Interval.
func (p Policy) Fill() time.Duration { return p.Interval() * time.Duration(p.Burst) }

// Errors callers branch on.
var (
	// ErrKeyTooLong is returned by Allow for a key longer than the
	// configured MaxKeyLen. It matches secmon.ErrInvalid.
	ErrKeyTooLong = fmt.Errorf("ratelimit: key too long: %w", secmon.ErrInvalid)
	// ErrNoKey is returned by a KeyFunc that finds nothing to key the
	// request on (no user, no usable client address).
	ErrNoKey = errors.New("ratelimit: no key for request")
)

// Policer is implemented by limiters that know their Policy. The middleware
// uses it to fill the RateLimit-Policy header.
type Policer interface {
	Policy() Policy
}
