package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/secmon-go/secmon"
)

// principal is the authorised person behind a request.
type principal struct {
	who  string
	role Role
}

type principalKey struct{}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// authorize asks the host's Authorize and checks what it returned: a role
// the dashboard knows and a name fit for an audit event. Anything else is
// refused, so a mistake in Authorize fails closed.
func (h *handler) authorize(r *http.Request) (principal, bool) {
	who, role, ok := h.cfg.Authorize(r)
	if !ok || (role != RoleViewer && role != RoleAdmin) || !validWho(who) {
		return principal{}, false
	}
	return principal{who: who, role: role}, true
}

func validWho(who string) bool {
	if who == "" || len(who) > secmon.MaxIDLen {
		return false
	}
	for i := 0; i < len(who); i++ {
		if who[i] < 0x20 || who[i] == 0x7f {
			return false
		}
	}
	return true
}

// canAct reports whether p may change anything.
func (h *handler) canAct(p principal) bool { return p.role == RoleAdmin && !h.cfg.ReadOnly }

// CSRF tokens. A token is the time it was issued and an HMAC of that time
// and the person's name under the handler's key, so it cannot be forged,
// is useless to anyone else, and expires.
const (
	csrfMaxAge  = 12 * time.Hour
	csrfSkew    = 5 * time.Minute
	csrfMACLen  = 32
	csrfRawLen  = 8 + csrfMACLen
	csrfTextLen = (csrfRawLen*8 + 5) / 6 // unpadded base64
)

type csrfSigner struct{ key []byte }

func newCSRFSigner(key []byte) (*csrfSigner, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	return &csrfSigner{key: append([]byte(nil), key...)}, nil
}

func (c *csrfSigner) mac(who string, issued uint64) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("secmon-dashboard-csrf\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], issued)
	m.Write(b[:])
	m.Write([]byte(who))
	return m.Sum(nil)
}

// token returns a token for who, issued at now.
func (c *csrfSigner) token(who string, now time.Time) string {
	issued := uint64(now.Unix())
	raw := make([]byte, 8, csrfRawLen)
	binary.BigEndian.PutUint64(raw, issued)
	raw = append(raw, c.mac(who, issued)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

var (
	errCSRFMissing = errors.New("missing anti-forgery token")
	errCSRFInvalid = errors.New("invalid anti-forgery token")
	errCSRFExpired = errors.New("expired anti-forgery token")
)

// check verifies tok for who at now.
func (c *csrfSigner) check(tok, who string, now time.Time) error {
	if tok == "" {
		return errCSRFMissing
	}
	if len(tok) != csrfTextLen {
		return errCSRFInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != csrfRawLen {
		return errCSRFInvalid
	}
	issued := binary.BigEndian.Uint64(raw[:8])
	if !hmac.Equal(raw[8:], c.mac(who, issued)) {
		return errCSRFInvalid
	}
	if issued > 1<<40 { // only a token signed with a clock set absurdly far ahead
		return errCSRFExpired
	}
	at := time.Unix(int64(issued), 0)
	if at.After(now.Add(csrfSkew)) || now.Sub(at) > csrfMaxAge {
		return errCSRFExpired
	}
	return nil
}

// maxFormBytes bounds the body of a form post.
const maxFormBytes = 16 << 10

// action wraps a state-changing handler: the request must come from the
// dashboard's own pages (Fetch Metadata and Origin checked), from an admin,
// while the dashboard is not read-only, with a valid anti-forgery token.
// Each refusal is answered 403 and logged as access_denied.
func (h *handler) action(fn func(w http.ResponseWriter, r *http.Request, p principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		deny := func(reason, msg string) {
			h.logDenied(r, p, reason)
			h.page(w, r, http.StatusForbidden, "denied", "Refused", deniedView{Message: msg})
		}
		if err := h.cop.Check(r); err != nil {
			deny("cross_origin", "This request came from another site and was refused.")
			return
		}
		if h.cfg.ReadOnly {
			deny("read_only", "This dashboard is read-only.")
			return
		}
		if p.role != RoleAdmin {
			deny("role", "Your role ("+p.role.String()+") may only read.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			h.page(w, r, http.StatusBadRequest, "denied", "Bad request", deniedView{Message: "The form could not be read."})
			return
		}
		if err := h.csrf.check(r.PostForm.Get("csrf"), p.who, h.cfg.Clock.Now()); err != nil {
			reason := "csrf_invalid"
			if errors.Is(err, errCSRFMissing) {
				reason = "csrf_missing"
			} else if errors.Is(err, errCSRFExpired) {
				reason = "csrf_expired"
			}
			deny(reason, "The form's anti-forgery token is "+map[string]string{
				"csrf_missing": "missing", "csrf_invalid": "not valid", "csrf_expired": "expired",
			}[reason]+". Reload the page and try again.")
			return
		}
		fn(w, r, p)
	}
}

// deniedView is the data of the "denied" page.
type deniedView struct{ Message string }

// event returns an audit event for r by p.
func (h *handler) event(r *http.Request, p principal, typ secmon.EventType, sev secmon.Severity, meta map[string]string) secmon.Event {
	info := secmon.NewRequestInfo(r, h.cfg.TrustedProxies)
	if p.who != "" {
		meta["actor_id"] = p.who
	}
	return secmon.Event{
		Type: typ, Severity: sev, UserID: p.who, IP: info.IP, UserAgent: info.UserAgent,
		Fingerprint: info.Fingerprint, Metadata: meta,
	}
}

// logDenied records a refused change. Failing to record it is only
// reported: the request is refused either way.
func (h *handler) logDenied(r *http.Request, p principal, reason string) {
	if h.cfg.Logger == nil {
		return
	}
	e := h.event(r, p, secmon.EventAccessDenied, secmon.SeverityMedium, map[string]string{
		"route": "dashboard" + r.URL.Path, "method": r.Method, "reason": reason,
	})
	if err := h.cfg.Logger.Log(context.WithoutCancel(r.Context()), e); err != nil {
		h.cfg.ErrorLog.Warn("dashboard: logging a refused request failed", "err", err)
	}
}

// audit records an admin action before it is carried out. The action goes
// ahead only when the record was accepted, so no change is ever made
// without its audit event.
func (h *handler) audit(r *http.Request, p principal, sev secmon.Severity, meta map[string]string) error {
	e := h.event(r, p, secmon.EventAdminAction, sev, meta)
	if err := h.cfg.Logger.Log(context.WithoutCancel(r.Context()), e); err != nil {
		h.cfg.ErrorLog.Error("dashboard: logging an admin action failed; the action was not carried out",
			"action", meta["action"], "err", err)
		return err
	}
	return nil
}

// auditFailure records that an action recorded by audit then failed.
func (h *handler) auditFailure(r *http.Request, p principal, meta map[string]string, err error) {
	code := "store_error"
	switch {
	case errors.Is(err, secmon.ErrNotFound):
		code = "not_found"
	case errors.Is(err, secmon.ErrInvalid):
		code = "invalid"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = "timeout"
	}
	m := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	m["error_code"] = code
	e := h.event(r, p, secmon.EventAdminAction, secmon.SeverityLow, m)
	if lerr := h.cfg.Logger.Log(context.WithoutCancel(r.Context()), e); lerr != nil {
		h.cfg.ErrorLog.Warn("dashboard: logging a failed admin action failed", "err", lerr)
	}
}
