package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/telemetry"
)

const (
	sessionCookie  = "sid"
	maxFormBytes   = 4 << 10
	maxUploadBytes = 6 << 20 // the validator's 5 MiB limit plus multipart overhead; larger bodies are cut off
)

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	byIP := ratelimit.KeyByIPGroup(a.cfg.Trusted)
	byUser := ratelimit.KeyByUser(a.currentUser)

	mux.Handle("POST /login", a.limit(a.limits.login, ratelimit.Login, byIP)(http.HandlerFunc(a.login)))
	mux.Handle("POST /logout", a.authed(http.HandlerFunc(a.logout)))
	mux.Handle("POST /api/session/heartbeat", a.authed(a.limit(a.limits.heartbeat, ratelimit.Heartbeat, byUser)(http.HandlerFunc(a.heartbeat))))
	mux.Handle("POST /api/activity/track", a.authed(a.limit(a.limits.activity, ratelimit.Activity, byUser)(http.HandlerFunc(a.track))))
	mux.Handle("POST /api/upload", a.authed(a.limit(a.limits.upload, ratelimit.Upload, byUser)(http.HandlerFunc(a.upload))))
	mux.Handle("GET /admin/api/alerts", a.admin(http.HandlerFunc(a.adminAlerts)))
	mux.Handle("GET /admin/api/alerts/stream", a.admin(http.HandlerFunc(a.alertStream)))
	mux.Handle("GET /admin/api/sessions", a.admin(http.HandlerFunc(a.adminSessions)))
	mux.Handle("GET /admin/api/summary", a.admin(http.HandlerFunc(a.adminSummary)))
	// The dashboard: the admin token as a Basic password in a browser.
	mux.Handle("/admin/", http.StripPrefix("/admin", a.dashboard))
	mux.Handle("GET /metrics", a.admin(telemetry.Handler(telemetry.Sources{Monitor: a.mon, Recorder: a.recorder, Guard: a.guard.TelemetryStats})))
	mux.Handle("GET /admin/api/blocks", a.admin(http.HandlerFunc(a.adminBlocks)))
	mux.Handle("POST /admin/api/blocks", a.admin(http.HandlerFunc(a.adminAddBlock)))
	mux.Handle("DELETE /admin/api/blocks/{id}", a.admin(http.HandlerFunc(a.adminLiftBlock)))
	mux.Handle("GET /admin/api/guard", a.admin(http.HandlerFunc(a.adminGuard)))
	// Every request passes the guard first (after getting its request ID):
	// a blocked address (or account, for a signed-in user) is refused
	// before any handler runs.
	return withRequestID(a.enforcer.Middleware(mux))
}

// HeaderRequestID carries a request's ID: taken from the caller (a load
// balancer or a client) when it is well formed, otherwise made up, and sent
// back in the response. Every event and activity the request logs carries it
// as metadata "request_id", so a security event can be found in the access
// logs of whichever instance served it.
const HeaderRequestID = "X-Request-ID"

type requestIDKey struct{}

// validRequestID accepts 1 to 64 bytes of letters, digits and ".-_:".
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = randomHex(8)
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// meta returns event metadata: the request's ID and the given key, value
// pairs.
func (a *app) meta(r *http.Request, kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2+1)
	if id, ok := r.Context().Value(requestIDKey{}).(string); ok {
		m["request_id"] = id
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// limit applies a rate limit; a denied request is answered 429 and logged as
// a rate_limited event, which the detection rules watch for abuse.
func (a *app) limit(l secmon.RateLimiter, p ratelimit.Policy, key ratelimit.KeyFunc) func(http.Handler) http.Handler {
	return ratelimit.Middleware(l, ratelimit.MiddlewareConfig{
		KeyFunc:  key,
		Policy:   p,
		Observer: a.recorder,
		OnDenied: func(w http.ResponseWriter, r *http.Request, d secmon.Decision) {
			info := a.fingerprints.RequestInfo(r, a.cfg.Trusted)
			_ = a.mon.Log(r.Context(), secmon.Event{
				Type: secmon.EventRateLimited, Severity: secmon.SeverityLow, UserID: a.currentUser(r),
				IP: info.IP, UserAgent: info.UserAgent, Fingerprint: info.Fingerprint,
				Metadata: a.meta(r, "route", r.URL.Path, "rule", p.Name),
			})
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "rate limited", "retry_after_s": int(d.RetryAfter.Round(time.Second) / time.Second)})
		},
	})
}

type userKey struct{}

// currentUser is the signed-in user authed found for the request, or "".
func (a *app) currentUser(r *http.Request) string {
	u, _ := r.Context().Value(userKey{}).(string)
	return u
}

// authed looks the session cookie up once and passes the request on with
// its user, or answers 401 (no session) or 503 (the session store could
// not answer: signing everyone out during a Redis outage would be worse).
func (a *app) authed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "sign in first"})
			return
		}
		user, err := a.sessions.user(r.Context(), c.Value)
		if err != nil {
			a.logger.Warn("session lookup", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again later"})
			return
		}
		if user == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "sign in first"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

func (a *app) admin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.adminOK(r.Header.Get("Authorization")) {
			info := a.fingerprints.RequestInfo(r, a.cfg.Trusted)
			_ = a.mon.Log(r.Context(), secmon.Event{Type: secmon.EventAccessDenied, Severity: secmon.SeverityMedium,
				IP: info.IP, UserAgent: info.UserAgent, Metadata: a.meta(r, "route", r.URL.Path)})
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin token required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad form"})
		return
	}
	user, password := r.PostForm.Get("user"), r.PostForm.Get("password")
	// A blocked account is refused before its password is checked.
	if a.enforcer.Refuse(w, r, user) {
		return
	}
	info := a.fingerprints.RequestInfo(r, a.cfg.Trusted)
	e := secmon.Event{UserID: user, IP: info.IP, UserAgent: info.UserAgent, Fingerprint: info.Fingerprint}
	want, known := a.cfg.Users[user]
	if !known || !constantTimeEqual(password, want) {
		e.Type, e.Severity = secmon.EventLoginFailure, secmon.SeverityLow
		e.Metadata = a.meta(r, "reason", map[bool]string{true: "bad_password", false: "unknown_user"}[known])
		if !known {
			e.UserID = "" // never store what an attacker typed as a user name for an account that does not exist
		}
		if err := a.mon.Log(r.Context(), e); err != nil {
			a.logger.Warn("log login failure", "err", err)
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid credentials"})
		return
	}
	sid, err := a.sessions.create(r.Context(), user)
	if err != nil {
		if !errors.Is(err, errTooManySessions) {
			a.logger.Warn("create session", "err", err)
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again later"})
		return
	}
	e.Type, e.SessionID, e.Metadata = secmon.EventLoginSuccess, publicSessionID(sid), a.meta(r)
	if err := a.mon.Log(r.Context(), e); err != nil {
		a.logger.Warn("log login success", "err", err)
	}
	_ = a.mon.Heartbeat(r.Context(), secmon.SessionBeat{SessionID: publicSessionID(sid), UserID: user, IP: info.IP, UserAgent: info.UserAgent, Fingerprint: info.Fingerprint})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{"user": user})
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Cookie(sessionCookie)
	user := a.currentUser(r)
	if err := a.sessions.remove(r.Context(), c.Value); err != nil {
		a.logger.Warn("end session", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again later"})
		return
	}
	info := a.fingerprints.RequestInfo(r, a.cfg.Trusted)
	_ = a.mon.Log(r.Context(), secmon.Event{Type: secmon.EventLogout, UserID: user, SessionID: publicSessionID(c.Value), IP: info.IP, UserAgent: info.UserAgent, Metadata: a.meta(r)})
	if err := a.store.RevokeSession(r.Context(), publicSessionID(c.Value), time.Now()); err != nil && !errors.Is(err, secmon.ErrNotFound) {
		a.logger.Warn("revoke session", "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) heartbeat(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Cookie(sessionCookie)
	info := a.fingerprints.RequestInfo(r, a.cfg.Trusted)
	err := a.mon.Heartbeat(r.Context(), secmon.SessionBeat{
		SessionID: publicSessionID(c.Value), UserID: a.currentUser(r), IP: info.IP, UserAgent: info.UserAgent, Fingerprint: info.Fingerprint,
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "busy"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) track(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Action   string `json:"action"`
		Resource string `json:"resource"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json"})
		return
	}
	c, _ := r.Cookie(sessionCookie)
	err := a.mon.TrackActivity(r.Context(), secmon.Activity{UserID: a.currentUser(r), SessionID: publicSessionID(c.Value), Action: body.Action, Resource: body.Resource, Metadata: a.meta(r)})
	switch {
	case errors.Is(err, secmon.ErrActionNotAllowed):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "action not allowed"})
	case errors.Is(err, secmon.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid activity"})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "busy"})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *app) upload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
	file, hdr, err := r.FormFile("file")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "multipart field \"file\" required (at most 5 MiB)"})
		return
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "upload too large"})
		return
	}
	up := secmon.Upload{Name: hdr.Filename, DeclaredType: hdr.Header.Get("Content-Type"), Data: data}
	verdict, verr := a.validator.Validate(r.Context(), up)
	a.recorder.ObserveUpload(verdict, verr)
	info := a.fingerprints.RequestInfo(r, a.cfg.Trusted)
	var total time.Duration
	for _, st := range verdict.Timings {
		if st.Stage == "total" {
			total = st.Duration
		}
	}
	codes := make([]string, 0, len(verdict.Threats))
	for _, t := range verdict.Threats {
		codes = append(codes, string(t.Code))
	}
	e := secmon.Event{UserID: a.currentUser(r), IP: info.IP, UserAgent: info.UserAgent, Duration: total,
		Metadata: a.meta(r, "file_type", verdict.DetectedType, "file_size", itoa(len(data)))}
	if verr != nil || !verdict.Allowed {
		e.Type, e.Severity = secmon.EventUploadBlocked, secmon.SeverityHigh
		e.Metadata["threat_codes"] = strings.Join(codes, ",")
		_ = a.mon.Log(r.Context(), e)
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"allowed": false, "detected_type": verdict.DetectedType, "threats": codes})
		return
	}
	e.Type = secmon.EventUploadAccepted
	if len(codes) > 0 {
		// Accepted with what the sanitiser repaired (malformed metadata,
		// inert padding after the image): kept in the log, so a run of
		// odd files from one account stays visible.
		e.Metadata["threat_codes"] = strings.Join(codes, ",")
	}
	_ = a.mon.Log(r.Context(), e)
	id := a.uploads.put(verdict.Sanitized)
	writeJSON(w, http.StatusCreated, map[string]any{"allowed": true, "id": id, "detected_type": verdict.DetectedType, "bytes": len(verdict.Sanitized), "threats": codes})
}

func (a *app) adminAlerts(w http.ResponseWriter, r *http.Request) {
	alerts, err := a.store.Alerts(r.Context(), secmon.AlertQuery{Status: secmon.AlertOpen})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "store unavailable"})
		return
	}
	out := make([]alertJSON, len(alerts))
	for i, al := range alerts {
		out[i] = toAlertJSON(al)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *app) adminSessions(w http.ResponseWriter, r *http.Request) {
	list, err := a.store.ActiveSessions(r.Context(), secmon.SessionQuery{Since: time.Now().Add(-15 * time.Minute)})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "store unavailable"})
		return
	}
	type sessionJSON struct {
		SessionID string    `json:"session_id"`
		UserID    string    `json:"user_id"`
		IP        string    `json:"ip"`
		UserAgent string    `json:"user_agent"`
		StartedAt time.Time `json:"started_at"`
		LastSeen  time.Time `json:"last_seen"`
	}
	out := make([]sessionJSON, len(list))
	for i, s := range list {
		out[i] = sessionJSON{s.SessionID, s.UserID, s.IP.String(), s.UserAgent, s.StartedAt, s.LastSeen}
	}
	writeJSON(w, http.StatusOK, out)
}

// adminSummary reports the 24 whole hours ending with the current one:
// from and to bound that window, the totals cover it, and hourly holds its
// 24 buckets, oldest first.
func (a *app) adminSummary(w http.ResponseWriter, r *http.Request) {
	to := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-24 * time.Hour)
	sum, err := a.store.Summary(r.Context(), from, to)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "store unavailable"})
		return
	}
	hours, err := a.store.Hourly(r.Context(), from, to)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "store unavailable"})
		return
	}
	byType := map[string]int64{}
	for t, n := range sum.ByType {
		byType[string(t)] = n
	}
	bySev := map[string]int64{}
	for s, n := range sum.BySeverity {
		bySev[s.String()] = n
	}
	hourly := make([]hourJSON, len(hours))
	for i, h := range hours {
		hourly[i] = hourJSON{h.Start, h.Events, h.LoginFailures, h.UploadsBlocked, h.HighSeverity}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"from": from, "to": to, "events": sum.Events, "by_type": byType, "by_severity": bySev,
		"uploads": sum.Uploads, "threats_blocked": sum.ThreatsBlocked, "avg_validation_ms": float64(sum.AvgValidation.Microseconds()) / 1000,
		"login_failures": sum.LoginFailures, "alerts_opened": sum.AlertsOpened, "hourly": hourly,
	})
}

// alertStream pushes every opened or updated alert as a Server-Sent Event.
// On PostgreSQL the alerts come from LISTEN secmon_alerts, so an admin
// connected to one instance sees alerts raised by every instance.
func (a *app) alertStream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "streaming unsupported"})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmtComment(w, "secmon alert stream")
	fl.Flush()

	ctx := r.Context()
	alerts := make(chan secmon.Alert, 64) // a client that falls this far behind misses alerts, never stalls the source
	go func() {
		_ = a.alertSrc.SubscribeAlerts(ctx, func(al secmon.Alert) {
			select {
			case alerts <- al:
			default:
			}
		})
	}()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case al := <-alerts:
			b, _ := json.Marshal(toAlertJSON(al))
			if _, err := w.Write([]byte("event: alert\ndata: " + string(b) + "\n\n")); err != nil {
				return
			}
			fl.Flush()
		case <-keepAlive.C:
			fmtComment(w, "keep-alive")
			fl.Flush()
		}
	}
}
