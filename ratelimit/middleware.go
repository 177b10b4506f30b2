package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/secmon-go/secmon"
)

// Response header names the middleware writes. RateLimit and
// RateLimit-Policy follow draft-ietf-httpapi-ratelimit-headers (revisions 09
// to 11 share this syntax): both are Structured Field lists whose items are
// a quoted policy name with parameters, for example
//
//	RateLimit-Policy: "heartbeat";q=2;w=60
//	RateLimit: "heartbeat";r=0;t=30
const (
	HeaderRetryAfter      = "Retry-After"
	HeaderRateLimit       = "RateLimit"
	HeaderRateLimitPolicy = "RateLimit-Policy"
)

// Canonical forms of the header names, so setting them does not allocate.
var (
	canonRetryAfter      = http.CanonicalHeaderKey(HeaderRetryAfter)
	canonRateLimit       = http.CanonicalHeaderKey(HeaderRateLimit)
	canonRateLimitPolicy = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
)

// KeyFunc names the bucket a request draws from. It returns ErrNoKey (or
// another error) when the request carries nothing to key on.
type KeyFunc func(r *http.Request) (string, error)

// KeyByIPGroup keys requests by the client's IP group: "ip:" followed by
// secmon.IPGroup(secmon.ClientIP(r, trusted)), so an IPv4 address counts
// alone and an IPv6 client counts with its /64. Forwarding headers are
// believed only from peers inside trusted; a client that sends its own
// X-Forwarded-For from an untrusted address is keyed by that address.
func KeyByIPGroup(trusted []netip.Prefix) KeyFunc {
	trusted = slices.Clone(trusted)
	return func(r *http.Request) (string, error) {
		g := secmon.IPGroup(secmon.ClientIP(r, trusted))
		if !g.IsValid() {
			return "", ErrNoKey
		}
		return "ip:" + g.String(), nil
	}
}

// KeyByUser keys requests by the authenticated user: "user:" followed by
// what userID returns, typically read from the host's authentication
// context. An empty user ID is ErrNoKey, so anonymous requests never share
// one bucket by accident: the default OnError answers them 401
// Unauthorized. Put the limiter behind authentication, or handle ErrNoKey
// in MiddlewareConfig.OnError.
func KeyByUser(userID func(r *http.Request) string) KeyFunc {
	return func(r *http.Request) (string, error) {
		id := userID(r)
		if id == "" {
			return "", ErrNoKey
		}
		return "user:" + id, nil
	}
}

// MiddlewareConfig configures Middleware. Zero fields mean the documented
// defaults.
type MiddlewareConfig struct {
	// KeyFunc names the bucket of each request. Nil means
	// KeyByIPGroup(nil): the IP group of the connecting peer.
	KeyFunc KeyFunc
	// Policy describes the limit in the RateLimit-Policy and RateLimit
	// headers. Zero (or invalid) means the limiter's own Policy when it has
	// one (see Policer); without either, RateLimit-Policy is omitted and
	// RateLimit names the policy "default".
	Policy Policy
	// OnDenied writes the response for a denied request, after the
	// Retry-After, RateLimit-Policy and RateLimit headers are set; it must
	// write the status, normally http.StatusTooManyRequests. It is also the
	// place to log a secmon.EventRateLimited event. Nil means a plain
	// "429 Too Many Requests".
	OnDenied func(w http.ResponseWriter, r *http.Request, d secmon.Decision)
	// OnError handles an error from KeyFunc or the limiter. It returns true
	// to let the request through unlimited, or writes a response and
	// returns false. Nil means DefaultOnError: 401 for ErrNoKey (an
	// anonymous request to a route keyed by user), 500 for anything else.
	// Set it to add a WWW-Authenticate challenge, redirect to a sign-in
	// page or answer differently.
	OnError func(w http.ResponseWriter, r *http.Request, err error) (pass bool)
	// Observer, when set, is told how each request was answered: the
	// policy's name ("default" without one), the Outcome and the
	// Decision's Degraded. It is called on the request's goroutine before
	// the response is written, so it must be fast and never block: a
	// counter, such as telemetry.Recorder's. Nil costs nothing.
	Observer Observer
}

// Outcome is how Middleware answered a request, as told to an Observer.
type Outcome uint8

// Outcomes.
const (
	OutcomeAllowed Outcome = iota // the limiter allowed it; the handler ran
	OutcomeDenied                 // the limiter denied it (429, or what OnDenied wrote)
	OutcomeNoKey                  // the KeyFunc found nothing to key on (ErrNoKey)
	OutcomeError                  // the KeyFunc or the limiter failed otherwise
	numOutcomes
)

// NumOutcomes is the number of Outcome values: they are 0 to NumOutcomes-1.
const NumOutcomes = int(numOutcomes)

var outcomeNames = [...]string{"allowed", "denied", "no_key", "error"}

// String returns the outcome's snake_case name: "allowed", "denied",
// "no_key" or "error".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Observer is told how Middleware answered each request; see
// MiddlewareConfig.Observer.
type Observer interface {
	ObserveRateLimit(policy string, outcome Outcome, degraded secmon.Degradation)
}

// Middleware limits requests to the wrapped handler with l. Every answered
// request gets RateLimit-Policy and RateLimit headers; a denied one gets 429
// (or what OnDenied writes) with Retry-After in whole seconds, rounded up
// and at least 1. Header values are computed from the Decision and the
// Policy only; nothing from the request is echoed. A nil l makes every
// request an error for OnError.
func Middleware(l secmon.RateLimiter, opts MiddlewareConfig) func(http.Handler) http.Handler {
	keyFunc := opts.KeyFunc
	if keyFunc == nil {
		keyFunc = KeyByIPGroup(nil)
	}
	if l == nil {
		l = secmon.RateLimiterFunc(func(context.Context, string) (secmon.Decision, error) {
			return secmon.Decision{}, errNoLimiter
		})
	}
	p, err := opts.Policy.WithDefaults()
	if err != nil {
		p = Policy{}
		if pl, ok := l.(Policer); ok {
			p, err = pl.Policy().WithDefaults()
		}
	}
	name, policyHeader, policyName := `"default"`, "", "default"
	if err == nil {
		name = `"` + p.Name + `"`
		policyHeader = formatPolicy(p)
		policyName = p.Name
	}
	obs := opts.Observer
	onDenied := opts.OnDenied
	if onDenied == nil {
		onDenied = func(w http.ResponseWriter, _ *http.Request, _ secmon.Decision) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte("Too Many Requests\n"))
		}
	}
	onError := opts.OnError
	if onError == nil {
		onError = DefaultOnError
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, err := keyFunc(r)
			var d secmon.Decision
			if err == nil {
				d, err = l.Allow(r.Context(), key)
			}
			if err != nil {
				if obs != nil {
					o := OutcomeError
					if errors.Is(err, ErrNoKey) {
						o = OutcomeNoKey
					}
					obs.ObserveRateLimit(policyName, o, d.Degraded)
				}
				if onError(w, r, err) {
					next.ServeHTTP(w, r)
				}
				return
			}
			h := w.Header()
			if policyHeader != "" {
				h[canonRateLimitPolicy] = []string{policyHeader}
			}
			if d.Degraded != secmon.DegradedFailOpen {
				h[canonRateLimit] = []string{formatRateLimit(name, d)}
			}
			if !d.Allowed {
				if obs != nil {
					obs.ObserveRateLimit(policyName, OutcomeDenied, d.Degraded)
				}
				h[canonRetryAfter] = []string{strconv.FormatInt(max(ceilSeconds(d.RetryAfter), 1), 10)}
				onDenied(w, r, d)
				return
			}
			if obs != nil {
				obs.ObserveRateLimit(policyName, OutcomeAllowed, d.Degraded)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// DefaultOnError is the middleware's answer to a KeyFunc or limiter error
// when MiddlewareConfig.OnError is nil. It refuses the request: 401
// Unauthorized for an error matching ErrNoKey (the request carries nothing
// to key on: no signed-in user for KeyByUser, or a peer address that is
// not an IP for KeyByIPGroup), 500 Internal Server Error otherwise. It never
// lets the request through unlimited, and the body names no detail of the
// error.
func DefaultOnError(w http.ResponseWriter, _ *http.Request, err error) (pass bool) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrNoKey) {
		code = http.StatusUnauthorized
	}
	http.Error(w, http.StatusText(code), code)
	return false
}

// formatPolicy renders p as a RateLimit-Policy item: quota q per window of
// w seconds. A period that is not a whole number of seconds is rounded up
// and the quota scaled down to match.
func formatPolicy(p Policy) string {
	w := max(ceilSeconds(p.Period), 1)
	q := int64(p.Limit)
	if time.Duration(w)*time.Second != p.Period {
		q = max(int64(float64(p.Limit)*float64(time.Duration(w)*time.Second)/float64(p.Period)), 1)
	}
	return `"` + p.Name + `";q=` + strconv.FormatInt(q, 10) + ";w=" + strconv.FormatInt(w, 10)
}

// formatRateLimit renders d as a RateLimit item: r is the remaining quota
// and t the seconds until a request is allowed again (when denied, at least
// 1 like Retry-After) or until the quota is whole again (when allowed).
func formatRateLimit(name string, d secmon.Decision) string {
	t := ceilSeconds(d.ResetAfter)
	if !d.Allowed {
		t = max(ceilSeconds(d.RetryAfter), 1)
	}
	var b [96]byte
	s := append(b[:0], name...)
	s = append(s, ";r="...)
	s = strconv.AppendInt(s, int64(max(d.Remaining, 0)), 10)
	s = append(s, ";t="...)
	s = strconv.AppendInt(s, t, 10)
	return string(s)
}

// ceilSeconds is d in whole seconds, rounded up; negative durations are 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// errNoLimiter is what OnError sees when Middleware was given a nil limiter.
var errNoLimiter = errors.New("ratelimit: Middleware has no limiter")
