package main

import (
	"context"
	"net/http"
	"strings"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
)

// newDashboard builds the security dashboard mounted at /admin/. A browser
// signs in with HTTP Basic authentication: any user name (recorded as who
// acted in every audit event) and the admin token as the password, or the
// viewer token for read-only access. An API client may send the admin token
// as a bearer token instead.
//
// The live stream follows the same source as the JSON stream: the Monitor
// in memory, LISTEN on PostgreSQL (so every instance's alerts appear, over
// one database connection however many admins watch).
func (a *app) newDashboard() (http.Handler, error) {
	return dashboard.New(dashboard.Config{
		Authorize:      a.authorizeAdmin,
		Unauthorized:   http.HandlerFunc(a.adminChallenge),
		Store:          a.store,
		Logger:         a.mon,
		Alerts:         a.alertSrc,
		Uploads:        a.tracker,
		Guard:          a.guard,
		TrustedProxies: a.cfg.Trusted,
		Title:          "secmon demo",
		RevokeSession: func(ctx context.Context, sid string) error {
			return a.sessions.removePublic(ctx, sid) // the demo's own session table: the cookie stops working at once
		},
	})
}

// authorizeAdmin is the dashboard's Authorize.
func (a *app) authorizeAdmin(r *http.Request) (string, dashboard.Role, bool) {
	if user, pass, ok := r.BasicAuth(); ok {
		user = strings.TrimSpace(user)
		if user == "" || len(user) > 64 {
			return "", 0, false
		}
		switch {
		case tokenEqual(pass, a.adminToken):
			return user, dashboard.RoleAdmin, true
		case a.cfg.ViewerToken != "" && tokenEqual(pass, a.cfg.ViewerToken):
			return user, dashboard.RoleViewer, true
		}
		return "", 0, false
	}
	if a.adminOK(r.Header.Get("Authorization")) {
		return "admin-token", dashboard.RoleAdmin, true
	}
	return "", 0, false
}

// adminChallenge answers a refused dashboard request: a Basic challenge so
// the browser asks for the token. Wrong credentials (not a first visit
// without any) are logged as access_denied, which the detection rules watch.
func (a *app) adminChallenge(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		info := secmon.NewRequestInfo(r, a.cfg.Trusted)
		_ = a.mon.Log(r.Context(), secmon.Event{Type: secmon.EventAccessDenied, Severity: secmon.SeverityMedium,
			IP: info.IP, UserAgent: info.UserAgent, Metadata: map[string]string{"route": "/admin" + r.URL.Path, "reason": "bad_credentials"}})
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="secmon admin", charset="UTF-8"`)
	http.Error(w, "401 unauthorized: sign in with any user name and the admin token", http.StatusUnauthorized)
}

func tokenEqual(got, want string) bool {
	return want != "" && constantTimeEqual(got, want)
}
