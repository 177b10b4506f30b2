package secmon_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/upload"
)

// Example_handler wires secmon into net/http handlers the way the README
// shows: a login handler that logs every attempt, a heartbeat endpoint
// behind a per-user rate limit, and an upload check.
func Example_handler() {
	store := memstore.New()
	engine, _ := detect.New(detect.Config{})
	mon, _ := secmon.New(secmon.Config{Store: store, Detector: engine})
	ctx := context.Background()

	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} // the load balancer
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		info := secmon.NewRequestInfo(r, trusted)
		e := secmon.Event{Type: secmon.EventLoginSuccess, UserID: r.FormValue("user"),
			IP: info.IP, UserAgent: info.UserAgent, Fingerprint: info.Fingerprint}
		if r.FormValue("password") != "correct horse" {
			e.Type, e.Severity = secmon.EventLoginFailure, secmon.SeverityLow
			e.Metadata = map[string]string{"reason": "bad_password", "password": r.FormValue("password")}
			w.WriteHeader(http.StatusUnauthorized)
		}
		_ = mon.Log(r.Context(), e) // queues; never waits on the store
	})
	limiter, _ := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Heartbeat})
	user := func(r *http.Request) string { return r.Header.Get("X-Demo-User") } // the host's auth decides
	mux.Handle("POST /api/session/heartbeat", ratelimit.Middleware(limiter, ratelimit.MiddlewareConfig{
		KeyFunc: ratelimit.KeyByUser(user),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = mon.Heartbeat(r.Context(), secmon.SessionBeat{SessionID: "s-" + user(r), UserID: user(r), IP: secmon.ClientIP(r, trusted)})
		w.WriteHeader(http.StatusNoContent)
	})))

	do := func(path, body, who, forwardedFor string) *http.Response {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Demo-User", who)
		req.RemoteAddr = "10.0.0.2:40000" // through the load balancer
		req.Header.Set("X-Forwarded-For", forwardedFor)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Result()
	}
	for i := 0; i < 5; i++ {
		do("/login", "user=bob&password=guess", "", "203.0.113.7")
	}
	for i := 1; i <= 3; i++ {
		resp := do("/api/session/heartbeat", "", "alice", "198.51.100.20")
		fmt.Println("heartbeat", i, resp.StatusCode, resp.Header.Get("Retry-After") != "")
	}

	validator, _ := upload.NewValidator(upload.Config{})
	png := []byte("\x89PNG\r\n\x1a\n<?php system($_GET['c']); ?>")
	verdict, _ := validator.Validate(ctx, secmon.Upload{Name: "chart.png", DeclaredType: "image/png", Data: png})
	fmt.Println("upload allowed:", verdict.Allowed)

	_ = mon.Close(ctx) // flushes events, sessions and alerts
	events, _ := store.QueryEvents(ctx, secmon.EventQuery{Types: []secmon.EventType{secmon.EventLoginFailure}})
	fmt.Println("failed logins stored:", len(events), "from", events[0].IP, "password kept:", events[0].Metadata["password"] != "")
	alerts, _ := store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	for _, a := range alerts {
		fmt.Println("alert:", a.Rule, a.Subject)
	}
	// Output:
	// heartbeat 1 204 false
	// heartbeat 2 204 false
	// heartbeat 3 429 true
	// upload allowed: false
	// failed logins stored: 5 from 203.0.113.7 password kept: false
	// alert: brute_force_account user:bob
}
