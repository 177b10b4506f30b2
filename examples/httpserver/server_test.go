package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon/internal/rediscluster"
	"github.com/secmon-go/secmon/internal/syncbuf"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

// start runs the service on a loopback port and returns its base URL. The
// service is shut down (and the Monitor flushed) at cleanup; a shutdown
// error fails the test.
func start(t *testing.T, cfg config) string {
	t.Helper()
	cfg.AdminToken = "test-admin-token"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- serve(ctx, "127.0.0.1:0", cfg, logger, ready) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
		return "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	return ""
}

type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (c *client) do(req *http.Request) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func (c *client) post(path, contentType string, body io.Reader) (*http.Response, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.do(req)
}

func (c *client) login(user, password string) int {
	c.t.Helper()
	resp, _ := c.post("/login", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"user": {user}, "password": {password}}.Encode()))
	return resp.StatusCode
}

func (c *client) admin(path string, v any) int {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer test-admin-token")
	resp, body := c.do(req)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			c.t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func (c *client) upload(name, contentType string, data []byte) (int, map[string]any) {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
	h.Set("Content-Type", contentType)
	part, _ := mw.CreatePart(h)
	part.Write(data)
	mw.Close()
	resp, body := c.post("/api/upload", mw.FormDataContentType(), &buf)
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return resp.StatusCode, out
}

func corpusCase(t *testing.T, cases []uploadcorpus.Case, name string) uploadcorpus.Case {
	for _, c := range cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("corpus has no case %q", name)
	return uploadcorpus.Case{}
}

// eventually polls cond until it holds; the bound only stops a broken test
// from hanging, it is not a latency assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flow drives every endpoint as a browser and an attacker would.
func flow(t *testing.T, base string) {
	alice := newClient(t, base)
	admin := newClient(t, base)

	// The admin stream is opened first so it sees the alert the attack raises.
	streamCtx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	req, _ := http.NewRequestWithContext(streamCtx, http.MethodGet, base+"/admin/api/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer test-admin-token")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if ct := stream.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	streamed := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				streamed <- line
			}
		}
		close(streamed)
	}()

	// Admin endpoints refuse a missing token.
	if resp, _ := admin.do(mustGet(t, base+"/admin/api/alerts")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin without token: %d", resp.StatusCode)
	}
	// Monitoring endpoints refuse anonymous callers.
	if resp, _ := alice.post("/api/session/heartbeat", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous heartbeat: %d", resp.StatusCode)
	}

	if code := alice.login("alice", "correct horse battery staple"); code != http.StatusOK {
		t.Fatalf("alice login: %d", code)
	}

	// An attacker guesses bob's password from one address: the login limit
	// (10 per minute per IP group; alice's login used one) ends the guessing.
	// It runs right after her login, so no token refills in between however
	// slow the machine.
	attacker := newClient(t, base)
	for i := 0; i < 9; i++ {
		if code := attacker.login("bob", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code := attacker.login("bob", "guess"); code != http.StatusTooManyRequests {
		t.Fatalf("guess beyond the login limit: %d", code)
	}

	// Heartbeats: 2 per minute per user; the third is refused with Retry-After.
	for i := 1; i <= 3; i++ {
		resp, _ := alice.post("/api/session/heartbeat", "", nil)
		want := http.StatusNoContent
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("heartbeat %d: %d, want %d", i, resp.StatusCode, want)
		}
		if i == 3 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}

	// Activity: allowlisted actions only, 20 per minute per user.
	if resp, _ := alice.post("/api/activity/track", "application/json", strings.NewReader(`{"action":"mouse_move"}`)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("disallowed action: %d", resp.StatusCode)
	}
	for i := 2; i <= 21; i++ {
		resp, _ := alice.post("/api/activity/track", "application/json", strings.NewReader(`{"action":"page_view","resource":"/reports"}`))
		want := http.StatusNoContent
		if i == 21 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("activity %d: %d, want %d", i, resp.StatusCode, want)
		}
	}

	// Uploads: a benign chart is stored sanitised, the same with padding after
	// it is repaired, a PNG with a ZIP appended is blocked.
	good := corpusCase(t, uploadcorpus.Benign(), "png_with_text")
	code, out := alice.upload("chart.png", "image/png", good.Upload.Data)
	if code != http.StatusCreated || out["allowed"] != true {
		t.Fatalf("benign upload: %d %v", code, out)
	}
	// Inert padding after the image is cut and the upload accepted, with
	// what was repaired said in the answer and logged.
	kept := out["bytes"]
	padded := append(bytes.Clone(good.Upload.Data), make([]byte, 64)...)
	code, out = alice.upload("padded.png", "image/png", padded)
	if code != http.StatusCreated || out["allowed"] != true || !strings.Contains(jsonString(out["threats"]), "trailing_padding") ||
		out["bytes"] != kept {
		t.Fatalf("padded upload: %d %v, want accepted, trailing_padding, %v bytes kept as without the padding", code, out, kept)
	}
	bad := corpusCase(t, uploadcorpus.Hostile(), "png_zip_appended")
	code, out = alice.upload(bad.Upload.Name, "image/png", bad.Upload.Data)
	if code != http.StatusUnprocessableEntity || out["allowed"] != false || !strings.Contains(jsonString(out["threats"]), "trailing_data") {
		t.Fatalf("hostile upload: %d %v", code, out)
	}

	// The brute force on bob's account opens one alert, streamed live (the
	// address's own brute force alert may come first).
	for seen := false; !seen; {
		select {
		case line, ok := <-streamed:
			if !ok || !strings.Contains(line, `"rule":"brute_force`) {
				t.Fatalf("streamed %q", line)
			}
			seen = strings.Contains(line, `"rule":"brute_force_account"`) && strings.Contains(line, `"subject":"user:bob"`)
		case <-time.After(20 * time.Second):
			t.Fatal("no brute_force_account alert on the stream")
		}
	}

	var alerts []alertJSON
	eventually(t, "brute_force_account alert stored", func() bool {
		alerts = nil
		admin.admin("/admin/api/alerts", &alerts)
		for _, a := range alerts {
			if a.Rule == "brute_force_account" && a.Subject == "user:bob" && a.Status == "open" {
				return true
			}
		}
		return false
	})
	n := 0
	for _, a := range alerts {
		if a.Rule == "brute_force_account" && a.Subject == "user:bob" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d brute_force_account alerts for bob, want exactly 1", n)
	}

	var summary struct {
		Events         int64            `json:"events"`
		ByType         map[string]int64 `json:"by_type"`
		Uploads        int64            `json:"uploads"`
		ThreatsBlocked int64            `json:"threats_blocked"`
		LoginFailures  int64            `json:"login_failures"`
	}
	eventually(t, "summary counts the flow", func() bool {
		admin.admin("/admin/api/summary", &summary)
		return summary.LoginFailures == 9 && summary.Uploads == 3 && summary.ByType["rate_limited"] == 3
	})
	if summary.ThreatsBlocked != 1 || summary.ByType["login_success"] != 1 {
		t.Errorf("summary %+v", summary)
	}

	var sessions []map[string]any
	eventually(t, "alice's session listed", func() bool {
		sessions = nil
		admin.admin("/admin/api/sessions", &sessions)
		for _, s := range sessions {
			if s["user_id"] == "alice" {
				return true
			}
		}
		return false
	})

	if resp, _ := alice.post("/logout", "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := alice.post("/api/session/heartbeat", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("heartbeat after logout: %d", resp.StatusCode)
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestServerMemory(t *testing.T) {
	flow(t, start(t, config{}))
}

func TestServerPostgresRedis(t *testing.T) {
	flowPostgresRedis(t, func() string { return testenv.RedisAddr(t) })
}

// flowPostgresRedis runs the whole flow with a schema of its own in the
// test database and the Redis that redisAddr returns (called once the
// database is known to be there).
func flowPostgresRedis(t *testing.T, redisAddr func() string) {
	dbURL := testenv.DatabaseURL(t)
	addr := redisAddr()
	pool := sqlschematest.Pool(t)
	schema := sqlschematest.RandomName("secmon_http")
	t.Cleanup(func() { sqlschematest.DropSchema(t, pool, schema) })
	flow(t, start(t, config{
		DatabaseURL: dbURL,
		Schema:      schema,
		RedisAddr:   addr,
		RedisPrefix: "secmon:test:" + schema + ":",
	}))
}

// TestAdminJSON checks the admin API's JSON: every object key is
// snake_case (the hourly buckets included), and /admin/api/summary's from and
// to bound exactly the hours its hourly breakdown covers, and its totals
// are the sums of those hours.
func TestAdminJSON(t *testing.T) {
	base := start(t, config{})
	c := newClient(t, base)
	if code := c.login("alice", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("bad login: %d", code)
	}
	if code := c.login("alice", demoUsers["alice"]); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	var summary struct {
		From          time.Time `json:"from"`
		To            time.Time `json:"to"`
		Events        int64     `json:"events"`
		LoginFailures int64     `json:"login_failures"`
		Hourly        []struct {
			Start         time.Time `json:"start"`
			Events        int64     `json:"events"`
			LoginFailures int64     `json:"login_failures"`
		} `json:"hourly"`
	}
	eventually(t, "the login events in the summary", func() bool {
		c.admin("/admin/api/summary", &summary)
		return summary.Events >= 2
	})
	if n := len(summary.Hourly); n != 24 {
		t.Fatalf("%d hourly buckets, want 24", n)
	}
	if first, last := summary.Hourly[0].Start, summary.Hourly[23].Start; !summary.From.Equal(first) || !summary.To.Equal(last.Add(time.Hour)) {
		t.Errorf("window %v to %v, hourly buckets %v to %v+1h", summary.From, summary.To, first, last)
	}
	var events, failures int64
	for _, h := range summary.Hourly {
		events += h.Events
		failures += h.LoginFailures
	}
	if events != summary.Events || failures != summary.LoginFailures {
		t.Errorf("hourly sums %d events, %d failures; totals %d and %d", events, failures, summary.Events, summary.LoginFailures)
	}

	for _, path := range []string{"/admin/api/summary", "/admin/api/alerts", "/admin/api/sessions"} {
		var v any
		if code := c.admin(path, &v); code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		for _, k := range objectKeys(v, nil) {
			if !snakeCase(k) {
				t.Errorf("GET %s: key %q is not snake_case", path, k)
			}
		}
	}
}

// objectKeys returns every object key in a decoded JSON value.
func objectKeys(v any, out []string) []string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			out = objectKeys(x, append(out, k))
		}
	case []any:
		for _, x := range v {
			out = objectKeys(x, out)
		}
	}
	return out
}

func snakeCase(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// TestShutdownSaysWhatItFlushed checks that a signal makes the server say
// it is shutting down and why, and, once the Monitor is closed, what it
// wrote: events logged just before the signal are counted as flushed.
func TestShutdownSaysWhatItFlushed(t *testing.T) {
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancelCause(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg := config{AdminToken: "test-admin-token"}
	go func() { done <- serve(ctx, "127.0.0.1:0", cfg, logger, ready) }()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	c := newClient(t, base)
	for range 3 {
		c.login("bob", "wrong")
	}
	cancel(errors.New("interrupt signal received"))
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, `msg="httpserver shutting down" reason="interrupt signal received"`) {
		t.Errorf("no shutdown line with its reason in:\n%s", out)
	}
	var line string
	for l := range strings.Lines(out) {
		if strings.Contains(l, `msg="httpserver stopped"`) {
			line = l
		}
	}
	for _, want := range []string{"events_written=3 ", "sessions_written=0 ", "alerts_written=", "unflushed=0"} {
		if !strings.Contains(line, want) {
			t.Errorf("stop line lacks %q: %q", want, line)
		}
	}
}

// The whole flow with limits, counters and sessions in a Redis Cluster
// (SECMON_REDIS_ADDR listing its masters).
func TestServerPostgresRedisCluster(t *testing.T) {
	flowPostgresRedis(t, func() string { return strings.Join(rediscluster.Shared(t).Addrs(), ",") })
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
