package dashboard

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/upload"
)

// knownTypes are offered in the Events page's type list.
var knownTypes = []secmon.EventType{
	secmon.EventLoginSuccess, secmon.EventLoginFailure, secmon.EventLogout, secmon.EventPasswordChange,
	secmon.EventMFAFailure, secmon.EventRoleChange, secmon.EventSessionRevoked, secmon.EventSessionAnomaly,
	secmon.EventUploadAccepted, secmon.EventUploadBlocked, secmon.EventRateLimited, secmon.EventAccessDenied,
	secmon.EventExport, secmon.EventPageView, secmon.EventIPBlocked, secmon.EventBlockLifted,
	secmon.EventAccessBlocked, secmon.EventAdminAction,
}

type eventRow struct {
	secmon.Event
	Meta     []pair
	UserLink string
	IPLink   string
}

func eventRows(evs []secmon.Event) []eventRow {
	rows := make([]eventRow, len(evs))
	for i, e := range evs {
		rows[i] = eventRow{Event: e, Meta: pairs(e.Metadata)}
		if e.UserID != "" {
			rows[i].UserLink = "events?" + url.Values{"user": {e.UserID}}.Encode()
		}
		if e.IP.IsValid() {
			rows[i].IPLink = "events?" + url.Values{"ip": {e.IP.String()}}.Encode()
		}
	}
	return rows
}

type eventsView struct {
	Type, User, IP, From, To, Severity string
	Types, Severities                  []string
	Errors                             []string
	StoreErr                           bool
	Rows                               []eventRow
	Next, First                        string // links to the next page and back to the newest
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	f, ferr := parseEventFilter(r.URL.Query())
	v := &eventsView{
		Type: string(f.Type), User: f.User, From: formatTimeInput(f.From), To: formatTimeInput(f.To),
		Severities: []string{"any", "info", "low", "medium", "high", "critical"},
	}
	if f.IP.IsValid() {
		v.IP = ipParam(f.IP)
	}
	if f.MinSeverity > 0 {
		v.Severity = f.MinSeverity.String()
	}
	for _, t := range knownTypes {
		v.Types = append(v.Types, string(t))
	}
	status := http.StatusOK
	if ferr != nil {
		v.Errors = fieldMessages(ferr)
		status = http.StatusBadRequest
		h.page(w, r, status, "events", "Events", v)
		return
	}
	base := f.values()
	if !f.Before.IsZero() {
		v.First = "events"
		if q := base.Encode(); q != "" {
			v.First += "?" + q
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.QueryTimeout)
	defer cancel()
	evs, err := h.cfg.Store.QueryEvents(ctx, f.query(DefaultPageSize+1))
	if err != nil {
		h.cfg.ErrorLog.Warn("dashboard: reading events failed", "err", err)
		v.StoreErr, status = true, http.StatusServiceUnavailable
	}
	if len(evs) > DefaultPageSize {
		evs = evs[:DefaultPageSize]
		next := base
		next.Set("before", formatCursor(evs[len(evs)-1].Cursor()))
		v.Next = "events?" + next.Encode()
	}
	v.Rows = eventRows(evs)
	h.page(w, r, status, "events", "Events", v)
}

// Sessions page.

const sessionPageLimit = 200

type sessionsView struct {
	User      string
	Idle      bool
	Since     time.Time
	Errors    []string
	StoreErr  bool
	Sessions  []secmon.Session
	More      bool
	Anomalies []eventRow
	AnomErr   bool
	Back      string
}

func (h *handler) sessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := h.cfg.Clock.Now().UTC()
	v := &sessionsView{Idle: q.Get("idle") == "1", Back: "sessions"}
	user, ferr := parseIdentifier("user", trimLong(q.Get("user")))
	v.User = user
	back := url.Values{}
	if user != "" {
		back.Set("user", user)
	}
	if v.Idle {
		back.Set("idle", "1")
	} else {
		v.Since = now.Add(-24 * time.Hour)
	}
	if len(back) > 0 {
		v.Back += "?" + back.Encode()
	}
	status := http.StatusOK
	if ferr != nil {
		v.Errors = fieldMessages(ferr)
		h.page(w, r, http.StatusBadRequest, "sessions", "Sessions", v)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.QueryTimeout)
	defer cancel()
	list, err := h.cfg.Store.ActiveSessions(ctx, secmon.SessionQuery{UserID: user, Since: v.Since, Limit: sessionPageLimit})
	if err != nil {
		h.cfg.ErrorLog.Warn("dashboard: reading sessions failed", "err", err)
		v.StoreErr, status = true, http.StatusServiceUnavailable
	}
	v.Sessions, v.More = list, len(list) >= sessionPageLimit
	anom, err := h.cfg.Store.QueryEvents(ctx, secmon.EventQuery{
		Types: []secmon.EventType{secmon.EventSessionAnomaly}, UserID: user, From: now.Add(-7 * 24 * time.Hour), Limit: DefaultPageSize,
	})
	if err != nil {
		h.cfg.ErrorLog.Warn("dashboard: reading session anomalies failed", "err", err)
		v.AnomErr = true
	}
	v.Anomalies = eventRows(anom)
	h.page(w, r, status, "sessions", "Sessions", v)
}

// sessionAction revokes one session. The form names the session and its
// user; the session is looked up under that user first, so the audit
// event's target_user_id is the store's, not the form's.
func (h *handler) sessionAction(w http.ResponseWriter, r *http.Request, p principal) {
	back := parseBack(r.PostForm.Get("back"), "sessions")
	sid, err1 := parseIdentifier("session", r.PostForm.Get("session"))
	user, err2 := parseIdentifier("user", r.PostForm.Get("user"))
	if r.PostForm.Get("op") != "revoke" || err1 != nil || err2 != nil || sid == "" || user == "" {
		redirect(w, withDone(back, "invalid"))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.QueryTimeout)
	defer cancel()
	list, err := h.cfg.Store.ActiveSessions(ctx, secmon.SessionQuery{UserID: user, Limit: secmon.MaxQueryLimit})
	if err != nil {
		h.cfg.ErrorLog.Error("dashboard: looking up a session failed", "err", err)
		redirect(w, withDone(back, "failed"))
		return
	}
	if !slices.ContainsFunc(list, func(s secmon.Session) bool { return s.SessionID == sid }) {
		redirect(w, withDone(back, "notfound"))
		return
	}
	meta := map[string]string{"action": "session_revoke", "resource": "session:" + sid, "target_user_id": user}
	if err := h.audit(r, p, secmon.SeverityMedium, meta); err != nil {
		redirect(w, withDone(back, "unaudited"))
		return
	}
	if err := h.cfg.Store.RevokeSession(ctx, sid, h.cfg.Clock.Now()); err != nil {
		h.auditFailure(r, p, meta, err)
		code := "failed"
		if errors.Is(err, secmon.ErrNotFound) {
			code = "notfound"
		} else {
			h.cfg.ErrorLog.Error("dashboard: revoking a session failed", "err", err)
		}
		redirect(w, withDone(back, code))
		return
	}
	if h.cfg.RevokeSession != nil {
		if err := h.cfg.RevokeSession(ctx, sid); err != nil {
			h.cfg.ErrorLog.Error("dashboard: the host's RevokeSession failed", "err", err)
			redirect(w, withDone(back, "hostfailed"))
			return
		}
	}
	redirect(w, withDone(back, "revoked"))
}

// Uploads page.

// uploadCountLimit bounds the blocked uploads read to count threat codes.
const uploadCountLimit = secmon.MaxQueryLimit

type uploadRow struct {
	eventRow
	Threats []string
}

type threatCount struct {
	Code  string
	Count int
}

type uploadsView struct {
	Rows         []uploadRow
	StoreErr     bool
	Threats      []threatCount
	Counted      int
	CountCapped  bool
	Since        time.Time
	Stages       []upload.StageStats
	StagesConfig bool
}

// stageOrder is the validation pipeline's order.
var stageOrder = map[string]int{"size": 1, "magic": 2, "structure": 3, "metadata": 4, "sanitize": 5, "total": 9}

func threatCodes(e *secmon.Event) []string {
	s := inert(e.Metadata["threat_codes"])
	if s == "" {
		return nil
	}
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" && len(out) < 16 {
			out = append(out, c)
		}
	}
	return out
}

func (h *handler) uploads(w http.ResponseWriter, r *http.Request) {
	now := h.cfg.Clock.Now().UTC()
	v := &uploadsView{Since: now.Add(-24 * time.Hour), StagesConfig: h.cfg.Uploads != nil}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.QueryTimeout)
	defer cancel()
	status := http.StatusOK
	recent, err := h.cfg.Store.QueryEvents(ctx, secmon.EventQuery{Types: []secmon.EventType{secmon.EventUploadBlocked}, Limit: DefaultPageSize})
	if err != nil {
		h.cfg.ErrorLog.Warn("dashboard: reading blocked uploads failed", "err", err)
		v.StoreErr, status = true, http.StatusServiceUnavailable
	}
	for _, row := range eventRows(recent) {
		v.Rows = append(v.Rows, uploadRow{eventRow: row, Threats: threatCodes(&row.Event)})
	}
	day, err := h.cfg.Store.QueryEvents(ctx, secmon.EventQuery{Types: []secmon.EventType{secmon.EventUploadBlocked}, From: v.Since, Limit: uploadCountLimit})
	if err != nil {
		h.cfg.ErrorLog.Warn("dashboard: reading blocked uploads failed", "err", err)
		v.StoreErr, status = true, http.StatusServiceUnavailable
	}
	counts := map[string]int{}
	for i := range day {
		for _, c := range threatCodes(&day[i]) {
			counts[c]++
		}
	}
	v.Counted, v.CountCapped = len(day), len(day) >= uploadCountLimit
	for c, n := range counts {
		v.Threats = append(v.Threats, threatCount{c, n})
	}
	slices.SortFunc(v.Threats, func(a, b threatCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code)) })
	if h.cfg.Uploads != nil {
		v.Stages = h.cfg.Uploads.Snapshot()
		slices.SortStableFunc(v.Stages, func(a, b upload.StageStats) int {
			return cmp.Or(cmp.Compare(orderOf(a.Stage), orderOf(b.Stage)), cmp.Compare(a.Stage, b.Stage))
		})
	}
	h.page(w, r, status, "uploads", "Uploads", v)
}

func orderOf(stage string) int {
	if n, ok := stageOrder[stage]; ok {
		return n
	}
	return 8
}
