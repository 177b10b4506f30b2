package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

const blockPageLimit = 500

// Bounds of a manual block.
const (
	minBlockFor     = time.Minute
	maxBlockFor     = 366 * 24 * time.Hour
	maxReasonLen    = 200
	minPrefixBits4  = 8  // an IPv4 prefix broader than a /8 is refused
	minPrefixBits6  = 32 // an IPv6 prefix broader than a /32 is refused
	defaultReason   = "manual block"
	permanentOption = "permanent"
)

type durationOption struct {
	Value, Label string
}

// blockDurations are offered by the manual block form.
var blockDurations = []durationOption{
	{"15m", "15 minutes"}, {"1h", "1 hour"}, {"6h", "6 hours"}, {"24h", "24 hours"},
	{"168h", "7 days"}, {"720h", "30 days"}, {permanentOption, "until lifted"},
}

type blocksView struct {
	Active, Recent []secmon.Block
	More, StoreErr bool
	Scope, Value   string
	Duration       string
	Reason         string
	Durations      []durationOption
	Back           string
}

func (h *handler) blocks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := h.cfg.Clock.Now().UTC()
	v := &blocksView{Durations: blockDurations, Back: "blocks", Duration: "24h", Scope: "ip"}
	// Prefill from a link ("block…" on an alert): shown in the form only,
	// never acted on without a post.
	if s := trimLong(q.Get("subject")); s != "" {
		if req, err := parseBlockRequest(url.Values{"value": {s}, "duration": {"24h"}}, now); err == nil {
			v.Scope, v.Value = string(req.Scope), req.value
		}
	}
	if reason, err := parseReason(trimLong(q.Get("reason"))); err == nil && reason != defaultReason {
		v.Reason = reason
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.QueryTimeout)
	defer cancel()
	status := http.StatusOK
	active, err := h.cfg.Guard.List(ctx, secmon.BlockQuery{ActiveAt: now, Limit: blockPageLimit})
	if err != nil {
		h.cfg.ErrorLog.Warn("dashboard: listing blocks failed", "err", err)
		v.StoreErr, status = true, http.StatusServiceUnavailable
	}
	v.Active, v.More = active, len(active) >= blockPageLimit
	recent, err := h.cfg.Guard.List(ctx, secmon.BlockQuery{EndsAfter: now.Add(-7 * 24 * time.Hour), Limit: blockPageLimit})
	if err != nil {
		h.cfg.ErrorLog.Warn("dashboard: listing blocks failed", "err", err)
		v.StoreErr, status = true, http.StatusServiceUnavailable
	}
	for _, b := range recent {
		if !b.ActiveAt(now) {
			v.Recent = append(v.Recent, b)
		}
	}
	h.page(w, r, status, "blocks", "Blocks", v)
}

// blockRequest is a parsed manual block.
type blockRequest struct {
	secmon.Block
	value string // the value as the form shows it again
}

// parseBlockRequest reads the manual block form: a scope (ip, prefix or
// user) and a value, or a value carrying its scope as an alert subject does
// ("ip:203.0.113.7/32", "user:alice"); a duration; a reason.
func parseBlockRequest(f url.Values, now time.Time) (blockRequest, error) {
	var req blockRequest
	value := strings.TrimSpace(trimLong(f.Get("value")))
	scope := secmon.BlockScope(f.Get("scope"))
	for _, s := range []secmon.BlockScope{secmon.ScopeIP, secmon.ScopePrefix, secmon.ScopeUser} {
		if rest, ok := strings.CutPrefix(value, string(s)+":"); ok {
			scope, value = s, rest
			break
		}
	}
	if !scope.Valid() {
		return req, &fieldError{"scope", "is not ip, prefix or user"}
	}
	if value == "" {
		return req, &fieldError{"value", "is required"}
	}
	req.Scope = scope
	switch scope {
	case secmon.ScopeIP, secmon.ScopePrefix:
		p, err := parseAddrOrPrefix("value", value)
		if err != nil {
			return req, err
		}
		// As the guard decides it: an address, or any prefix within one IP
		// group (an IPv6 /64), blocks the whole group, as the detection
		// rules count it; a wider prefix stays a prefix block.
		g := secmon.IPGroup(p.Addr())
		switch {
		case g.Bits() <= p.Bits():
			req.Scope, req.Prefix = secmon.ScopeIP, g
		case scope == secmon.ScopeIP:
			return req, &fieldError{"value", "is wider than one address's group; choose the prefix scope"}
		case p.Addr().Is4() && p.Bits() < minPrefixBits4 || p.Addr().Is6() && p.Bits() < minPrefixBits6:
			return req, &fieldError{"value", "is broader than a /8 (IPv4) or /32 (IPv6); such a block is refused"}
		default:
			req.Prefix = p
		}
		req.value = ipParam(p)
		req.Subject = secmon.BlockSubject(req.Scope, req.Prefix, "")
	case secmon.ScopeUser:
		u, err := parseIdentifier("value", value)
		if err != nil {
			return req, err
		}
		if u == "" {
			return req, &fieldError{"value", "is required"}
		}
		req.UserID, req.value = u, u
		req.Subject = secmon.BlockSubject(secmon.ScopeUser, netip.Prefix{}, u)
	}
	d := strings.TrimSpace(f.Get("duration"))
	switch {
	case d == permanentOption:
	default:
		dur, err := time.ParseDuration(d)
		if err != nil || len(d) > 32 || dur < minBlockFor || dur > maxBlockFor {
			return req, &fieldError{"duration", "is not a duration between 1m and 366 days, or \"permanent\""}
		}
		req.Until = now.Add(dur)
	}
	reason, err := parseReason(f.Get("reason"))
	if err != nil {
		return req, err
	}
	req.Reason = reason
	req.Origin = secmon.OriginManual
	req.Created = now
	return req, nil
}

// parseReason accepts one line of at most maxReasonLen bytes.
func parseReason(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return defaultReason, nil
	}
	if len(s) > maxReasonLen {
		return "", &fieldError{"reason", "is longer than 200 bytes"}
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &fieldError{"reason", "must be one line of text"}
	}
	return s, nil
}

// blockAction adds a manual block or lifts one.
func (h *handler) blockAction(w http.ResponseWriter, r *http.Request, p principal) {
	back := parseBack(r.PostForm.Get("back"), "blocks")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.QueryTimeout)
	defer cancel()
	switch r.PostForm.Get("op") {
	case "lift":
		raw := r.PostForm.Get("id")
		id, err := uuid.Parse(raw)
		if err != nil || len(raw) != 36 {
			redirect(w, withDone(back, "invalid"))
			return
		}
		meta := map[string]string{"action": "block_lift", "resource": "block:" + id.String()}
		if err := h.audit(r, p, secmon.SeverityMedium, meta); err != nil {
			redirect(w, withDone(back, "unaudited"))
			return
		}
		if err := h.cfg.Guard.Lift(ctx, id, p.who); err != nil {
			h.auditFailure(r, p, meta, err)
			redirect(w, withDone(back, failureCode(h, err, "lifting a block")))
			return
		}
		redirect(w, withDone(back, "lifted"))
	case "add":
		now := h.cfg.Clock.Now().UTC()
		req, err := parseBlockRequest(r.PostForm, now)
		if err != nil {
			redirect(w, withDone(back, "invalid"))
			return
		}
		if h.blocksSelf(r, p, req.Block) {
			h.logDenied(r, p, "self_block")
			redirect(w, withDone(back, "self"))
			return
		}
		req.By = p.who
		// The guard fills ID, Scope, Subject, Created and Level itself
		// (normalising the account name as its rules do).
		asked := req.Block
		asked.Scope, asked.Subject, asked.Created = "", "", time.Time{}
		meta := map[string]string{"action": "block_add", "subject": req.Subject, "reason": req.Reason}
		if !req.Until.IsZero() {
			meta["until"] = req.Until.Format(time.RFC3339)
		}
		if err := h.audit(r, p, secmon.SeverityMedium, meta); err != nil {
			redirect(w, withDone(back, "unaudited"))
			return
		}
		if _, err := h.cfg.Guard.Block(ctx, asked); err != nil {
			h.auditFailure(r, p, meta, err)
			code := "refused" // allowlisted, the guard full or closing: it said no
			if errors.Is(err, secmon.ErrInvalid) {
				code = "invalid"
			}
			h.cfg.ErrorLog.Warn("dashboard: the guard refused a block", "subject", req.Subject, "err", err)
			redirect(w, withDone(back, code))
			return
		}
		redirect(w, withDone(back, "blocked"))
	default:
		redirect(w, withDone(back, "invalid"))
	}
}

// blocksSelf reports whether b would refuse the person asking for it: their
// own account or the address they are connected from.
func (h *handler) blocksSelf(r *http.Request, p principal, b secmon.Block) bool {
	if b.Scope == secmon.ScopeUser {
		return strings.EqualFold(strings.TrimSpace(b.UserID), strings.TrimSpace(p.who))
	}
	ip := secmon.ClientIP(r, h.cfg.TrustedProxies)
	return ip.IsValid() && b.Prefix.Contains(ip.Unmap())
}

func failureCode(h *handler, err error, what string) string {
	switch {
	case errors.Is(err, secmon.ErrNotFound):
		return "notfound"
	case errors.Is(err, secmon.ErrInvalid):
		return "invalid"
	}
	h.cfg.ErrorLog.Error("dashboard: "+what+" failed", "err", err)
	return "failed"
}
