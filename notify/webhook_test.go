package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/notify"
)

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

var secret = []byte("webhook-secret-0123456789")

// hookServer records deliveries and answers with the statuses given, then
// 200.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []*http.Request
	bodies   [][]byte
}

func newHookServer(t *testing.T, statuses ...int) *hookServer {
	t.Helper()
	h := &hookServer{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, r)
		h.bodies = append(h.bodies, body)
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.mu.Unlock()
		if status == http.StatusFound {
			w.Header().Set("Location", "http://example.invalid/")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

// snapshot returns the requests and bodies received so far.
func (h *hookServer) snapshot() ([]*http.Request, [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*http.Request(nil), h.got...), append([][]byte(nil), h.bodies...)
}

func newWebhook(t *testing.T, cfg notify.WebhookConfig) *notify.Webhook {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = secret
	}
	if cfg.Clock == nil {
		cfg.Clock = fixedClock(t0)
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	w, err := notify.NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

func TestWebhookDelivers(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t)
	w := newWebhook(t, notify.WebhookConfig{URL: srv.URL + "/hook", Header: http.Header{"Authorization": {"Bearer receiver"}}})
	if err := w.Notify(context.Background(), alert(secmon.SeverityCritical)); err != nil {
		t.Fatal(err)
	}
	got, bodies := srv.snapshot()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r, body := got[0], bodies[0]
	if r.Method != http.MethodPost || r.URL.Path != "/hook" || r.Header.Get("Content-Type") != "application/json" ||
		r.Header.Get("Authorization") != "Bearer receiver" || r.Header.Get(notify.HeaderDelivery) == "" {
		t.Errorf("request %s %s %v", r.Method, r.URL, r.Header)
	}
	if err := notify.VerifySignature(secret, r.Header, body, t0.Add(time.Minute), 0); err != nil {
		t.Errorf("signature: %v", err)
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Rule != "brute_force_ip" || p.Severity != secmon.SeverityCritical || p.Evidence["failures"] != "42" {
		t.Errorf("payload %+v, %v", p, err)
	}

	// What a receiver must refuse.
	if err := notify.VerifySignature(secret, r.Header, append(body, ' '), t0, 0); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("tampered body: %v", err)
	}
	if err := notify.VerifySignature([]byte("another secret of enough bytes"), r.Header, body, t0, 0); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	if err := notify.VerifySignature(secret, r.Header, body, t0.Add(10*time.Minute), 0); !errors.Is(err, notify.ErrStale) {
		t.Errorf("replayed later: %v", err)
	}
	moved := r.Header.Clone()
	moved.Set(notify.HeaderTimestamp, "1795449600") // re-dated replay: the MAC covers the timestamp
	if err := notify.VerifySignature(secret, moved, body, time.Unix(1795449600, 0), 0); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("re-dated replay: %v", err)
	}
	if err := notify.VerifySignature(secret, http.Header{}, body, t0, 0); !errors.Is(err, notify.ErrStale) {
		t.Errorf("no timestamp: %v", err)
	}
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int
		attempts int
		requests int
		status   int // 0 = success
	}{
		{"5xx then success", []int{500, 503}, 3, 3, 0},
		{"5xx exhausted", []int{500, 502, 503, 504}, 2, 2, 502},
		{"4xx not retried", []int{400}, 3, 1, 400},
		{"429 not retried", []int{429}, 3, 1, 429},
		{"redirect not followed", []int{302}, 3, 1, 302},
		{"retries disabled", []int{500}, 1, 1, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newHookServer(t, tt.statuses...)
			w := newWebhook(t, notify.WebhookConfig{URL: srv.URL, MaxAttempts: tt.attempts})
			err := w.Notify(context.Background(), alert(secmon.SeverityHigh))
			got, bodies := srv.snapshot()
			if len(got) != tt.requests {
				t.Errorf("%d requests, want %d", len(got), tt.requests)
			}
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var we *notify.WebhookError
				if !errors.As(err, &we) || we.StatusCode != tt.status || we.Attempts != tt.requests {
					t.Fatalf("error %v, want status %d after %d attempts", err, tt.status, tt.requests)
				}
			}
			ids := map[string]bool{}
			for i, r := range got {
				ids[r.Header.Get(notify.HeaderDelivery)] = true
				if err := notify.VerifySignature(secret, r.Header, bodies[i], t0, 0); err != nil {
					t.Errorf("attempt %d: %v", i+1, err)
				}
			}
			if len(ids) != 1 {
				t.Errorf("delivery IDs %v, want one across retries", ids)
			}
		})
	}
}

func TestWebhookNetworkErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	// A loopback listener that hangs up on every connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepts atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })

	w := newWebhook(t, notify.WebhookConfig{
		URL:         "http://" + ln.Addr().String() + "/services/T000/B000/TOKENinPATH?key=TOKENinQUERY",
		MaxAttempts: 3,
	})
	err = w.Notify(context.Background(), alert(secmon.SeverityHigh))
	var we *notify.WebhookError
	if !errors.As(err, &we) || we.Attempts != 3 || we.StatusCode != 0 || we.Err == nil {
		t.Fatalf("error %#v", err)
	}
	if n := accepts.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
	for _, leak := range []string{"TOKENinPATH", "TOKENinQUERY", string(secret), "/services"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error leaks %q: %v", leak, err)
		}
	}
	if !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error does not name the host: %v", err)
	}
}

func TestWebhookTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	w := newWebhook(t, notify.WebhookConfig{URL: srv.URL, Timeout: 20 * time.Millisecond, MaxAttempts: 2})
	err := w.Notify(context.Background(), alert(secmon.SeverityHigh))
	var we *notify.WebhookError
	if !errors.As(err, &we) || we.Attempts != 2 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}

	// A cancelled context ends the wait between retries.
	failing := newHookServer(t, 500, 500, 500)
	slow := newWebhook(t, notify.WebhookConfig{URL: failing.URL, Backoff: time.Hour, MaxAttempts: 3})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if got, _ := failing.snapshot(); len(got) > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// The cancel lands either while the first answer is read or during the
	// hour-long backoff; either way Notify returns after one attempt.
	err = slow.Notify(ctx, alert(secmon.SeverityHigh))
	if !errors.As(err, &we) || we.Attempts != 1 || (we.StatusCode != 500 && !errors.Is(err, context.Canceled)) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestWebhookConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   notify.WebhookConfig
		field string
	}{
		{"no url", notify.WebhookConfig{Secret: secret}, "WebhookConfig.URL"},
		{"relative url", notify.WebhookConfig{URL: "/hook", Secret: secret}, "WebhookConfig.URL"},
		{"ftp url", notify.WebhookConfig{URL: "ftp://h/x", Secret: secret}, "WebhookConfig.URL"},
		{"no secret", notify.WebhookConfig{URL: "https://h/x"}, "WebhookConfig.Secret"},
		{"short secret", notify.WebhookConfig{URL: "https://h/x", Secret: []byte("short")}, "WebhookConfig.Secret"},
		{"too many attempts", notify.WebhookConfig{URL: "https://h/x", Secret: secret, MaxAttempts: 11}, "WebhookConfig.MaxAttempts"},
		{"negative timeout", notify.WebhookConfig{URL: "https://h/x", Secret: secret, Timeout: -1}, "WebhookConfig"},
	}
	for _, tt := range tests {
		_, err := notify.NewWebhook(tt.cfg)
		var fe *secmon.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: %v, want a FieldError on %s", tt.name, err, tt.field)
		}
		if err != nil && strings.Contains(err.Error(), "short") {
			t.Errorf("%s: error shows the secret: %v", tt.name, err)
		}
	}
	w, err := notify.NewWebhook(notify.WebhookConfig{URL: "https://h/x", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	w.Close(context.Background())
	w.Close(context.Background())
	if err := w.Notify(context.Background(), alert(secmon.SeverityHigh)); !errors.Is(err, secmon.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestWebhookDeliveryIDIsSigned: receivers drop repeated HeaderDelivery
// values, so a replay within the tolerance must not be able to change it.
func TestWebhookDeliveryIDIsSigned(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t)
	w := newWebhook(t, notify.WebhookConfig{URL: srv.URL})
	if err := w.Notify(context.Background(), alert(secmon.SeverityHigh)); err != nil {
		t.Fatal(err)
	}
	got, bodies := srv.snapshot()
	r, body := got[0], bodies[0]
	ts, id := r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderDelivery)
	if want := notify.Sign(secret, ts, id, body); r.Header.Get(notify.HeaderSignature) != want {
		t.Errorf("signature %q, want %q", r.Header.Get(notify.HeaderSignature), want)
	}
	if err := notify.VerifySignature(secret, r.Header, body, t0, 0); err != nil {
		t.Fatalf("genuine delivery: %v", err)
	}
	replay := r.Header.Clone()
	replay.Set(notify.HeaderDelivery, secmon.NewID().String())
	if err := notify.VerifySignature(secret, replay, body, t0, 0); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("replay under a new delivery ID: %v, want ErrBadSignature", err)
	}
	replay.Del(notify.HeaderDelivery)
	if err := notify.VerifySignature(secret, replay, body, t0, 0); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("replay without a delivery ID: %v, want ErrBadSignature", err)
	}
}

// TestWebhookBodyBounded: an alert with huge evidence and summary gives a
// bounded request body.
func TestWebhookBodyBounded(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t)
	w := newWebhook(t, notify.WebhookConfig{URL: srv.URL})
	a := alert(secmon.SeverityHigh)
	a.Summary = strings.Repeat("s", 1<<20)
	a.Subject = strings.Repeat("u", 1<<20)
	a.Evidence = map[string]string{}
	for i := range 10_000 {
		a.Evidence[strings.Repeat("k", 100)+strconv.Itoa(i)] = strings.Repeat("é", 5000)
	}
	if err := w.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	_, bodies := srv.snapshot()
	if n := len(bodies[0]); n > 256<<10 {
		t.Fatalf("body of %d bytes", n)
	}
	var p notify.Payload
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Evidence) != notify.MaxPayloadEvidence || len(p.Summary) > notify.MaxPayloadText || len(p.Subject) > notify.MaxPayloadText {
		t.Errorf("evidence %d entries, summary %d bytes, subject %d bytes", len(p.Evidence), len(p.Summary), len(p.Subject))
	}
	for k, v := range p.Evidence {
		if len(k) > notify.MaxPayloadKey || len(v) > notify.MaxPayloadValue || !utf8.ValidString(v) {
			t.Fatalf("evidence %q: %d bytes", k[:10], len(v))
		}
	}
	if !strings.HasPrefix(p.Summary, "sss") {
		t.Errorf("summary %q…", p.Summary[:10])
	}
}

// TestVerifySignatureRefusesWeakSecret: a receiver whose secret is empty
// (an unset environment variable) or short must not accept deliveries
// anyone can sign.
func TestVerifySignatureRefusesWeakSecret(t *testing.T) {
	t.Parallel()
	body := []byte(`{"rule":"x"}`)
	for _, s := range [][]byte{nil, {}, []byte("short")} {
		h := http.Header{}
		ts := strconv.FormatInt(t0.Unix(), 10)
		h.Set(notify.HeaderTimestamp, ts)
		h.Set(notify.HeaderDelivery, "d1")
		h.Set(notify.HeaderSignature, notify.Sign(s, ts, "d1", body)) // forged with the guessable key
		if err := notify.VerifySignature(s, h, body, t0, 0); !errors.Is(err, notify.ErrWeakSecret) {
			t.Errorf("secret %q: %v, want ErrWeakSecret", s, err)
		}
	}
}
