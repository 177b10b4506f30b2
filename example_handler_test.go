package secmon_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"log"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/notify"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/upload"
)

// The README's "Wiring it into a handler" section quotes the regions
// marked readme:begin/readme:end below verbatim (readme_test.go checks
// that), so the code a reader copies is the code this example compiles and
// runs.

// Example_handler wires secmon into net/http handlers the way the README
// shows: a login handler that logs every attempt, a heartbeat endpoint
// behind a per-user rate limit, and an upload endpoint that reads a
// size-capped multipart file, validates it and keeps only the sanitised
// bytes.
func Example_handler() {
	ctx := context.Background()
	// readme:begin setup
	store := memstore.New()                    // or pgstore.New(pool, pgstore.Config{}) after sqlschema.Migrate
	engine, err := detect.New(detect.Config{}) // every built-in rule, in-memory counters
	if err != nil {
		log.Fatal(err)
	}
	mon, err := secmon.New(secmon.Config{Store: store, Detector: engine,
		Notifiers: []secmon.Notifier{notify.NewSlog(slog.Default(), notify.SlogConfig{})}})
	if err != nil {
		log.Fatal(err)
	}
	defer mon.Close(context.Background()) // flushes everything that is queued

	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} // your load balancers
	handler, err := routes(mon, trusted)
	if err != nil {
		log.Fatal(err)
	}
	// readme:end setup

	do := func(req *http.Request, who, forwardedFor string) *http.Response {
		req.Header.Set("X-Demo-User", who)
		req.RemoteAddr = "10.0.0.2:40000" // through the load balancer
		req.Header.Set("X-Forwarded-For", forwardedFor)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Result()
	}
	login := func(user, password string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("user="+user+"&password="+password))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	for range 5 {
		do(login("bob", "guess"), "", "203.0.113.7")
	}
	fmt.Println("alice logs in:", do(login("alice", "correct horse"), "", "198.51.100.20").StatusCode)
	for i := 1; i <= 3; i++ {
		resp := do(httptest.NewRequest(http.MethodPost, "/api/session/heartbeat", nil), "alice", "198.51.100.20")
		fmt.Println("heartbeat", i, resp.StatusCode, resp.Header.Get("Retry-After") != "")
	}
	fmt.Println("anonymous heartbeat:", do(httptest.NewRequest(http.MethodPost, "/api/session/heartbeat", nil), "", "198.51.100.20").StatusCode)

	var photo bytes.Buffer
	_ = png.Encode(&photo, image.NewGray(image.Rect(0, 0, 8, 8)))
	for _, f := range []struct{ name, body string }{
		{"photo.png", photo.String()},
		{"chart.png", "\x89PNG\r\n\x1a\n<?php system($_GET['c']); ?>"}, // a PHP web shell behind a PNG signature
		{"notes.txt", strings.Repeat("x", 6<<20)},                      // over the size cap
	} {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		part, _ := mw.CreateFormFile("file", f.name)
		_, _ = io.WriteString(part, f.body)
		_ = mw.Close()
		req := httptest.NewRequest(http.MethodPost, "/api/upload", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		fmt.Println("upload", f.name+":", do(req, "alice", "198.51.100.20").StatusCode)
	}

	_ = mon.Close(ctx) // the deferred Close then does nothing
	events, _ := store.QueryEvents(ctx, secmon.EventQuery{Types: []secmon.EventType{secmon.EventLoginFailure}})
	fmt.Println("failed logins stored:", len(events), "from", events[0].IP)
	blocked, _ := store.QueryEvents(ctx, secmon.EventQuery{Types: []secmon.EventType{secmon.EventUploadBlocked}})
	fmt.Println("blocked upload logged:", blocked[0].Metadata["threat_codes"])
	alerts, _ := store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	slices.SortFunc(alerts, func(a, b secmon.Alert) int { return strings.Compare(string(a.Rule), string(b.Rule)) })
	for _, a := range alerts {
		fmt.Println("alert:", a.Rule, a.Subject)
	}
	fmt.Println("files saved:", len(saved.files))
	// Output:
	// alice logs in: 204
	// heartbeat 1 204 false
	// heartbeat 2 204 false
	// heartbeat 3 429 true
	// anonymous heartbeat: 401
	// upload photo.png: 201
	// upload chart.png: 422
	// upload notes.txt: 400
	// failed logins stored: 5 from 203.0.113.7
	// blocked upload logged: corrupt,script_in_image_data
	// alert: brute_force_account user:bob
	// alert: brute_force_ip ip:203.0.113.7/32
	// files saved: 1
}

// readme:begin routes
// routes returns the host's handlers with secmon wired in. checkPassword,
// currentUserID, sessionID and saveUpload stand for the host's own code.
func routes(mon *secmon.Monitor, trusted []netip.Prefix) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		info := secmon.NewRequestInfo(r, trusted) // client IP (X-Forwarded-For walked from the right), capped UA, keyed fingerprint
		user := r.PostFormValue("user")
		ok := checkPassword(user, r.PostFormValue("password"))
		e := secmon.Event{Type: secmon.EventLoginSuccess, UserID: user,
			IP: info.IP, UserAgent: info.UserAgent, Fingerprint: info.Fingerprint}
		if !ok {
			e.Type, e.Severity = secmon.EventLoginFailure, secmon.SeverityLow
			e.Metadata = map[string]string{"reason": "bad_password"}
		}
		if err := mon.Log(r.Context(), e); err != nil { // never blocks on I/O; survives the request's cancellation
			slog.Warn("security event not logged", "err", err)
		}
		if !ok {
			http.Error(w, "invalid credentials", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent) // the host starts its session here
	})

	heartbeatLimit, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Heartbeat})
	if err != nil {
		return nil, err
	}
	mux.Handle("POST /api/session/heartbeat", ratelimit.Middleware(heartbeatLimit, ratelimit.MiddlewareConfig{
		KeyFunc: ratelimit.KeyByUser(currentUserID), // 429 + Retry-After beyond 2 a minute; 401 when signed out
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		beat := secmon.SessionBeat{SessionID: sessionID(r), UserID: currentUserID(r), IP: secmon.ClientIP(r, trusted)}
		if err := mon.Heartbeat(r.Context(), beat); err != nil { // a *FieldError, or ErrQueueFull under a flood
			http.Error(w, "heartbeat not recorded", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))

	validator, err := upload.NewValidator(upload.Config{}) // 5 MiB, PNG/JPEG/GIF/WebP, sanitising on
	if err != nil {
		return nil, err
	}
	mux.HandleFunc("POST /api/upload", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, upload.DefaultMaxBytes+64<<10) // the file plus multipart headers
		file, hdr, err := r.FormFile("file")
		if err != nil { // not multipart, no "file" field, or over the cap
			http.Error(w, `a multipart field "file" of at most 5 MiB is required`, http.StatusBadRequest)
			return
		}
		defer file.Close()
		data, err := io.ReadAll(file)
		if err != nil {
			http.Error(w, "upload unreadable", http.StatusBadRequest)
			return
		}
		verdict, err := validator.Validate(r.Context(), secmon.Upload{
			Name: hdr.Filename, DeclaredType: hdr.Header.Get("Content-Type"), Data: data})
		info := secmon.NewRequestInfo(r, trusted)
		e := secmon.Event{Type: secmon.EventUploadAccepted, UserID: currentUserID(r),
			IP: info.IP, UserAgent: info.UserAgent, Metadata: map[string]string{"detected_type": verdict.DetectedType}}
		codes := make([]string, 0, len(verdict.Threats))
		for _, t := range verdict.Threats { // on an accepted upload: what the sanitiser repaired
			codes = append(codes, string(t.Code))
		}
		if len(codes) > 0 {
			e.Metadata["threat_codes"] = strings.Join(codes, ",")
		}
		if err != nil || !verdict.Allowed {
			e.Type, e.Severity = secmon.EventUploadBlocked, secmon.SeverityHigh
			_ = mon.Log(r.Context(), e)
			http.Error(w, "upload refused: "+e.Metadata["threat_codes"], http.StatusUnprocessableEntity)
			return
		}
		_ = mon.Log(r.Context(), e)
		if err := saveUpload(r.Context(), verdict.Sanitized); err != nil { // metadata stripped, trailing data cut
			http.Error(w, "upload not stored", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	return mux, nil
}

// readme:end routes

// The host's own code, as the README's handlers assume it.

func checkPassword(user, password string) bool { return user == "alice" && password == "correct horse" }

func currentUserID(r *http.Request) string { return r.Header.Get("X-Demo-User") } // the host's auth decides

func sessionID(r *http.Request) string {
	if u := currentUserID(r); u != "" {
		return "s-" + u
	}
	return ""
}

var saved struct {
	sync.Mutex
	files [][]byte
}

func saveUpload(_ context.Context, data []byte) error {
	saved.Lock()
	defer saved.Unlock()
	saved.files = append(saved.files, data)
	return nil
}
