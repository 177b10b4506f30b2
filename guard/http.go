package guard

import (
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/secmon-go/secmon"
)

// HeaderRetryAfter is the header a 429 refusal carries.
const HeaderRetryAfter = "Retry-After"

var canonRetryAfter = http.CanonicalHeaderKey(HeaderRetryAfter)

// MiddlewareConfig configures how requests are checked and refused. Zero
// fields mean the documented defaults.
type MiddlewareConfig struct {
	// TrustedProxies are the host's reverse proxies: only from a peer
	// inside them is X-Forwarded-For (or Forwarded) believed, as
	// secmon.ClientIP reads it, so a client can neither escape a block nor
	// have someone else's address checked by sending its own header. A
	// request whose client address resolves to a trusted proxy itself (a
	// proxy's own health check) is never refused for its address.
	TrustedProxies []netip.Prefix
	// Forwarded reads the standard Forwarded header instead of
	// X-Forwarded-For (secmon.ClientIPForwarded).
	Forwarded bool
	// UserID, when set, names the request's account (from the host's
	// authentication), so a block on the account refuses it too. Login
	// handlers, which learn the account from the form, call
	// Enforcer.Refuse instead.
	UserID func(r *http.Request) string
	// TooManyRequests answers 429 with Retry-After (the seconds until the
	// block ends, when it ends) instead of 403 Forbidden.
	TooManyRequests bool
	// OnBlocked writes the response for a refused request, replacing the
	// default plain-text 403 (or 429). It must write the status. The block
	// is the one Check found; do not echo its details to the client.
	OnBlocked func(w http.ResponseWriter, r *http.Request, b secmon.Block)
}

// Enforcer refuses requests from blocked addresses and accounts, and logs
// the refusals as access_blocked events without flooding the log: the
// first refusal of a subject in Config.AccessWindow is logged at once, the
// next ones are counted into the event logged after the window. It is
// safe for concurrent use.
type Enforcer struct {
	g   *Guard
	cfg MiddlewareConfig
}

// Enforcer returns an Enforcer checking requests against g with cfg.
func (g *Guard) Enforcer(cfg MiddlewareConfig) *Enforcer {
	cfg.TrustedProxies = slices.Clone(cfg.TrustedProxies)
	return &Enforcer{g: g, cfg: cfg}
}

// Middleware returns net/http middleware that refuses requests from a
// blocked IP group or prefix (or a blocking list), or from a blocked
// account when cfg.UserID names it; see MiddlewareConfig. A passed request
// costs a client-address lookup and a Check: no lock, no allocation.
func (g *Guard) Middleware(cfg MiddlewareConfig) func(http.Handler) http.Handler {
	return g.Enforcer(cfg).Middleware
}

// Middleware wraps next: a refused request never reaches it.
func (e *Enforcer) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := ""
		if e.cfg.UserID != nil {
			user = e.cfg.UserID(r)
		}
		if e.Refuse(w, r, user) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Refuse checks the request's client address and userID (the account a
// login handler is about to check; empty for none). When either is
// blocked it writes the refusal (OnBlocked, 403 or 429), logs it and
// returns true: the handler must stop. Otherwise it writes nothing and
// returns false.
func (e *Enforcer) Refuse(w http.ResponseWriter, r *http.Request, userID string) bool {
	var ip netip.Addr
	if e.cfg.Forwarded {
		ip = secmon.ClientIPForwarded(r, e.cfg.TrustedProxies)
	} else {
		ip = secmon.ClientIP(r, e.cfg.TrustedProxies)
	}
	checkIP := ip
	if ip.IsValid() && len(e.cfg.TrustedProxies) > 0 && inPrefixes(e.cfg.TrustedProxies, ip) {
		checkIP = netip.Addr{} // a trusted proxy itself: allowlisted
	}
	b, blocked := e.g.Check(checkIP, userID)
	if !blocked {
		return false
	}
	e.g.noteRefusal(&b, ip, userID)
	if e.cfg.OnBlocked != nil {
		e.cfg.OnBlocked(w, r, b)
		return true
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if e.cfg.TooManyRequests {
		if !b.Until.IsZero() {
			if d := b.Until.Sub(e.g.clock.Now()); d > 0 {
				h[canonRetryAfter] = []string{strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)}
			}
		}
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("Too Many Requests\n"))
		return true
	}
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte("Forbidden\n"))
	return true
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// accessLog counts refusals per subject and window.
type accessLog struct {
	mu   sync.Mutex
	max  int
	subs map[string]*accessRec
}

type accessRec struct {
	block  secmon.Block
	ip     netip.Addr
	user   string
	start  time.Time // when the current window began (its first refusal was logged then)
	folded uint64    // refusals since, not yet logged
}

func (a *accessLog) init(max int) {
	a.max = max
	a.subs = make(map[string]*accessRec)
}

// accessKey is what refusals are counted by: the block's subject, and for
// a list match the client's IP group too (a list holds many networks).
func accessKey(b *secmon.Block, ip netip.Addr) string {
	if b.Origin == secmon.OriginList {
		return b.Subject + "|" + secmon.IPGroup(ip).String()
	}
	return b.Subject
}

// noteRefusal logs the first refusal of a subject in a window at once and
// counts the others for the event that closes the window.
func (g *Guard) noteRefusal(b *secmon.Block, ip netip.Addr, user string) {
	if g.events.Load() == nil {
		return
	}
	now := g.clock.Now()
	if !validUser(user) {
		user = ""
	}
	k := accessKey(b, ip)
	a := &g.access
	a.mu.Lock()
	rec, ok := a.subs[k]
	switch {
	case ok && now.Sub(rec.start) < g.cfg.AccessWindow && !now.Before(rec.start):
		rec.folded++
		rec.ip, rec.user = ip, user
		a.mu.Unlock()
		g.st.accessFolded.Add(1)
		return
	case ok:
		// A new window: what the old one folded is logged with this one.
		n := rec.folded + 1
		*rec = accessRec{block: *b, ip: ip, user: user, start: now}
		a.mu.Unlock()
		g.st.accessEvents.Add(1)
		g.logEvent(accessEvent(b, ip, user, n, g.cfg.AccessWindow, now))
		return
	case len(a.subs) >= a.max:
		a.mu.Unlock()
		g.st.accessDropped.Add(1)
		return
	}
	a.subs[k] = &accessRec{block: *b, ip: ip, user: user, start: now}
	a.mu.Unlock()
	g.st.accessEvents.Add(1)
	g.logEvent(accessEvent(b, ip, user, 1, g.cfg.AccessWindow, now))
}

// flushAccess logs, for every subject whose window has ended, the
// refusals folded in it, and forgets quiet subjects; all is set at Close.
func (g *Guard) flushAccess(all bool) {
	if g.events.Load() == nil {
		return
	}
	now := g.clock.Now()
	var events []secmon.Event
	a := &g.access
	a.mu.Lock()
	for k, rec := range a.subs {
		if !all && now.Sub(rec.start) < g.cfg.AccessWindow && !now.Before(rec.start) {
			continue
		}
		if rec.folded > 0 {
			events = append(events, accessEvent(&rec.block, rec.ip, rec.user, rec.folded, g.cfg.AccessWindow, now))
		}
		delete(a.subs, k)
	}
	a.mu.Unlock()
	for _, e := range events {
		g.st.accessEvents.Add(1)
		g.logEvent(e)
	}
}

// validUser reports whether user can go into an event's UserID.
func validUser(user string) bool {
	if len(user) > secmon.MaxIDLen {
		return false
	}
	for i := 0; i < len(user); i++ {
		if user[i] < 0x20 || user[i] == 0x7f {
			return false
		}
	}
	return true
}
