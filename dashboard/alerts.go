package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

// alertPageLimit is how many alerts the Alerts page lists.
const alertPageLimit = 200

// defaultBlockFor is how long "block source" blocks when the alert's rule
// suggests no duration.
const defaultBlockFor = 24 * time.Hour

type alertRow struct {
	secmon.Alert
	Evidence   []pair
	Source     string // the subject a block would name ("ip:…", "user:…"), when blockable
	BlockFor   time.Duration
	EventsLink string
}

type alertsView struct {
	Status, Severity, Rule, Subject string // the filter as shown in the form
	Errors                          []string
	StoreErr                        bool
	Rows                            []alertRow
	More                            bool
	Back                            string
	Statuses, Severities            []string
}

func (h *handler) alerts(w http.ResponseWriter, r *http.Request) {
	f, ferr := parseAlertFilter(r.URL.Query())
	v := &alertsView{
		Rule: string(f.Rule), Subject: f.Subject, Status: string(f.Status),
		Statuses:   []string{"open", "acknowledged", "resolved", "all"},
		Severities: []string{"any", "info", "low", "medium", "high", "critical"},
		Back:       "alerts",
	}
	if f.All {
		v.Status = "all"
	}
	if f.MinSeverity > 0 {
		v.Severity = f.MinSeverity.String()
	}
	if q := f.values().Encode(); q != "" {
		v.Back += "?" + q
	}
	status := http.StatusOK
	if ferr != nil {
		v.Errors = fieldMessages(ferr)
		status = http.StatusBadRequest
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.QueryTimeout)
		defer cancel()
		list, err := h.cfg.Store.Alerts(ctx, f.query(alertPageLimit))
		if err != nil {
			h.cfg.ErrorLog.Warn("dashboard: reading alerts failed", "err", err)
			v.StoreErr, status = true, http.StatusServiceUnavailable
		}
		v.More = len(list) >= alertPageLimit
		for _, a := range list {
			v.Rows = append(v.Rows, h.alertRow(a))
		}
	}
	h.page(w, r, status, "alerts", "Alerts", v)
}

func (h *handler) alertRow(a secmon.Alert) alertRow {
	row := alertRow{Alert: a, Evidence: pairs(a.Evidence)}
	row.Summary = inert(a.Summary)
	kind, val, _ := strings.Cut(a.Subject, ":")
	switch kind {
	case "ip":
		if p, err := parseAddrOrPrefix("subject", val); err == nil && p.IsValid() {
			row.EventsLink = "events?" + url.Values{"ip": {ipParam(p)}}.Encode()
			row.Source = a.Subject
		}
	case "user":
		if val != "" {
			row.EventsLink = "events?" + url.Values{"user": {val}}.Encode()
			row.Source = a.Subject
		}
	}
	if h.cfg.Guard == nil {
		row.Source = ""
	}
	row.BlockFor = a.Action.Duration
	if row.BlockFor <= 0 {
		row.BlockFor = defaultBlockFor
	}
	return row
}

// alertOps maps the form's op to the new status and the audit action.
var alertOps = map[string]struct {
	status secmon.AlertStatus
	action string
	done   string
}{
	"acknowledge": {secmon.AlertAcknowledged, "alert_acknowledge", "acknowledged"},
	"resolve":     {secmon.AlertResolved, "alert_resolve", "resolved"},
	"reopen":      {secmon.AlertOpen, "alert_reopen", "reopened"},
}

// alertAction acknowledges, resolves or reopens one alert.
func (h *handler) alertAction(w http.ResponseWriter, r *http.Request, p principal) {
	back := parseBack(r.PostForm.Get("back"), "alerts")
	op, ok := alertOps[r.PostForm.Get("op")]
	id, err := uuid.Parse(r.PostForm.Get("id"))
	if !ok || err != nil || len(r.PostForm.Get("id")) != 36 {
		redirect(w, withDone(back, "invalid"))
		return
	}
	meta := map[string]string{"action": op.action, "resource": "alert:" + id.String(), "status": string(op.status)}
	if err := h.audit(r, p, secmon.SeverityLow, meta); err != nil {
		redirect(w, withDone(back, "unaudited"))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.QueryTimeout)
	defer cancel()
	if err := h.cfg.Store.SetAlertStatus(ctx, id, op.status); err != nil {
		h.auditFailure(r, p, meta, err)
		code := "failed"
		switch {
		case errors.Is(err, secmon.ErrNotFound):
			code = "notfound"
		case errors.Is(err, secmon.ErrInvalid) && op.status == secmon.AlertOpen:
			code = "conflict"
		case errors.Is(err, secmon.ErrInvalid):
			code = "invalid"
		default:
			h.cfg.ErrorLog.Error("dashboard: changing an alert failed", "alert", id, "err", err)
		}
		redirect(w, withDone(back, code))
		return
	}
	redirect(w, withDone(back, op.done))
}

// redirect answers a form post with 303 See Other to a relative address
// within the dashboard.
func redirect(w http.ResponseWriter, to string) {
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
}

// fieldMessages lists the input errors of err for the page.
func fieldMessages(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *fieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field+" "+fe.Msg)
		}
	}
	walk(err)
	return out
}
