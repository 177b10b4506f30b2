package dashboard_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/store/memstore"
)

// fixedNow is the handler tests' clock: a Tuesday afternoon, UTC.
var fixedNow = time.Date(2026, 3, 3, 15, 40, 0, 0, time.UTC)

// demoEnv returns an env over backend holding the demo day, at fixedNow.
func demoEnv(t *testing.T, backend string, o envOpts) (*env, *demo, *secmontest.Clock) {
	t.Helper()
	clock := secmontest.NewClock(fixedNow)
	o.clock = clock
	o.noServer = true
	e := newEnv(t, backend, o)
	d := newDemo(fixedNow, 1)
	if err := d.load(context.Background(), e.store); err != nil {
		t.Fatal(err)
	}
	observeStages(e.tracker, 300)
	return e, d, clock
}

func forBackends(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	logger := secmon.LoggerFunc(func(context.Context, secmon.Event) error { return nil })
	ok := dashboard.Config{Authorize: testAuthorize, Store: store, Logger: logger}
	for name, mod := range map[string]func(*dashboard.Config){
		"no Authorize":          func(c *dashboard.Config) { c.Authorize = nil },
		"no Store":              func(c *dashboard.Config) { c.Store = nil },
		"no Logger":             func(c *dashboard.Config) { c.Logger = nil },
		"short CSRFKey":         func(c *dashboard.Config) { c.CSRFKey = []byte("short") },
		"negative LiveInterval": func(c *dashboard.Config) { c.LiveInterval = -time.Second },
		"negative MaxStreams":   func(c *dashboard.Config) { c.MaxStreams = -1 },
		"title with a newline":  func(c *dashboard.Config) { c.Title = "a\nb" },
	} {
		c := ok
		mod(&c)
		if _, err := dashboard.New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := dashboard.New(ok); err != nil {
		t.Errorf("a complete Config: %v", err)
	}
	ro := ok
	ro.Logger, ro.ReadOnly = nil, true
	if _, err := dashboard.New(ro); err != nil {
		t.Errorf("read-only without a Logger: %v", err)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", envOpts{noServer: true})
	for _, path := range []string{"/", "/alerts", "/events", "/sessions", "/blocks", "/uploads", "/stream", "/static/nothing", "/nope"} {
		res := e.get(path, "")
		if res.code != http.StatusUnauthorized {
			t.Errorf("GET %s without a person: %d, want 401", path, res.code)
		}
		if res.header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s without a person: no CSP header", path)
		}
	}
	if res := e.do(http.MethodPost, "/alerts", "", url.Values{"op": {"resolve"}}); res.code != http.StatusUnauthorized {
		t.Errorf("POST without a person: %d", res.code)
	}
	// What Authorize returns is checked: an unknown role, a name unfit for
	// an audit event.
	for name, hdr := range map[string][]string{
		"unknown role":     {hdrUser, "x", hdrRole, "bogus"},
		"empty name":       {hdrUser, "", hdrRole, "admin"},
		"control in name":  {hdrUser, "a\x01b", hdrRole, "admin"},
		"name too long":    {hdrUser, strings.Repeat("a", secmon.MaxIDLen+1), hdrRole, "admin"},
		"role header only": {hdrRole, "admin"},
	} {
		if res := e.do(http.MethodGet, "/", "", nil, hdr...); res.code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, res.code)
		}
	}

	// A custom answer for refused requests.
	e2 := newEnv(t, "memory", envOpts{noServer: true, cfg: func(c *dashboard.Config) {
		c.Unauthorized = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="admin"`)
			w.WriteHeader(http.StatusUnauthorized)
		})
	}})
	if res := e2.get("/", ""); res.code != 401 || res.header.Get("WWW-Authenticate") == "" {
		t.Errorf("custom Unauthorized: %d %v", res.code, res.header)
	}
}

var wantCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'none'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", envOpts{noServer: true})
	page := e.get("/", "viewer")
	css := regexp.MustCompile(`href="(static/dashboard\.[0-9a-f]{12}\.css)"`).FindStringSubmatch(page.body)
	js := regexp.MustCompile(`src="(static/live\.[0-9a-f]{12}\.js)"`).FindStringSubmatch(page.body)
	if css == nil || js == nil {
		t.Fatalf("page links no hashed assets:\n%s", page.body)
	}
	for _, path := range []string{"/", "/alerts", "/events", "/sessions", "/blocks", "/uploads", "/nope", "/" + css[1], "/" + js[1]} {
		res := e.get(path, "viewer")
		h := res.header
		for k, want := range map[string]string{
			"Content-Security-Policy": wantCSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		cache := h.Get("Cache-Control")
		if strings.HasPrefix(path, "/static/") {
			if res.code != 200 || cache != "private, max-age=31536000, immutable" {
				t.Errorf("%s: %d, Cache-Control %q", path, res.code, cache)
			}
		} else if cache != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, cache)
		}
	}
	if ct := e.get("/"+css[1], "viewer").header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("stylesheet served as %q", ct)
	}
	if ct := e.get("/"+js[1], "viewer").header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("script served as %q", ct)
	}
	if res := e.get("/static/dashboard.css", "viewer"); res.code != 404 {
		t.Errorf("an asset under its unhashed name: %d, want 404", res.code)
	}
	// The page loads nothing from elsewhere and has no inline script or style.
	for _, banned := range []string{"http://", "https://", "<style", "style=", "onload=", "onclick=", "javascript:", "<script>"} {
		if strings.Contains(page.body, banned) {
			t.Errorf("overview contains %q", banned)
		}
	}
}

func TestMountedWithoutLeadingSlash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", envOpts{noServer: true})
	h := http.StripPrefix("/admin/", e.h) // leaves "alerts", not "/alerts"
	for path, want := range map[string]int{"/admin/": 200, "/admin/alerts": 200, "/admin/nope": 404} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set(hdrUser, "v")
		r.Header.Set(hdrRole, "viewer")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s: %d, want %d", path, w.Code, want)
		}
	}
}

func TestOverviewPage(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e, d, _ := demoEnv(t, backend, envOpts{})
		sum, err := e.store.Summary(context.Background(), fixedNow.Truncate(24*time.Hour), fixedNow.Truncate(24*time.Hour).Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		res := e.get("/", "viewer")
		if res.code != 200 {
			t.Fatalf("overview: %d", res.code)
		}
		b := res.body
		num := func(n int64) string { return commas(n) }
		mustContain(t, "overview", b,
			`data-live="events">`+num(sum.Events)+`<`,
			`data-live="login_failures">`+num(sum.LoginFailures)+`<`,
			`data-live="uploads_blocked">`+num(sum.ThreatsBlocked)+`<`,
			// Four alerts open: one each of critical, high, medium, low.
			`data-live="open_alerts">4<`,
			`<span class="sev sev-critical">critical</span> <span class="n" data-live="open_critical">1</span>`,
			`<span class="sev sev-info">info</span> <span class="n" data-live="open_info">0</span>`,
			// The attack: top source, most targeted account, attack hour.
			`>203.0.113.66</a></td><td class="n">260</td><td class="n">90</td>`,
			`>2001:db8:7:1::/64</a>`,
			`>alice</a></td><td class="n">`,
			"2 alerts opened (brute_force_ip, credential_stuffing); ",
			" failed logins (spike)",
			// Two active blocks; the lifted one is not counted.
			`<span class="k">Active blocks</span><span class="v">2</span>`,
			// The Monitor's health, and the chart in two layouts.
			`<span class="state state-ok">ok</span>`, `id="chart"`, `id="chart-narrow"`,
			"As of <time", "2026-03-03 15:40:00 UTC",
		)
		if n := strings.Count(b, `class="hc-mark"`); n < 2*3 {
			t.Errorf("%d marked hours in the two charts, want at least 3 each", n/2)
		}
		// Links lead to the events of a source and of an account.
		links := html.UnescapeString(b)
		mustContain(t, "overview links", links, `href="events?from=2026-03-02+16%3A00&ip=203.0.113.66"`, `href="events?from=2026-03-02+16%3A00&user=alice"`)
		_ = d
	})
}

// commas renders n as the pages do.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

var alertIDRE = regexp.MustCompile(`data-alert-id="([0-9a-f-]{36})"`)

func alertIDs(body string) []string {
	var out []string
	for _, m := range alertIDRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestAlertsPageFilters(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e, d, _ := demoEnv(t, backend, envOpts{})
		id := func(i int) string { return d.alerts[i].ID.String() }
		// Alerts 0, 1, 3, 5 are open; 2 acknowledged; 4 resolved.
		cases := []struct {
			query string
			want  []string
		}{
			{"", []string{id(0), id(1), id(3), id(5)}},
			{"?status=open", []string{id(0), id(1), id(3), id(5)}},
			{"?status=acknowledged", []string{id(2)}},
			{"?status=resolved", []string{id(4)}},
			{"?status=all", []string{id(0), id(1), id(2), id(3), id(4), id(5)}},
			{"?status=all&severity=high", []string{id(0), id(1), id(2)}},
			{"?severity=critical", []string{id(0)}},
			{"?status=all&rule=impossible_travel", []string{id(4)}},
			{"?status=all&subject=user%3Aalice", []string{id(2)}},
			{"?rule=no_such_rule", nil},
		}
		for _, tc := range cases {
			res := e.get("/alerts"+tc.query, "viewer")
			if res.code != 200 {
				t.Errorf("alerts%s: %d", tc.query, res.code)
				continue
			}
			got := alertIDs(res.body)
			if !sameSet(got, tc.want) {
				t.Errorf("alerts%s: %v, want %v", tc.query, got, tc.want)
			}
		}
		res := e.get("/alerts?status=all", "viewer")
		mustContain(t, "alerts", res.body,
			"203.0.113.66/32 failed against 90 accounts in 10 minutes", // summary
			"<dt>accounts</dt><dd>90</dd>",                             // evidence
			"block for 2 h",                                            // suggested action
			"2026-03-03 12:06:00 UTC", "2026-03-03 12:30:00 UTC",       // first and last seen, with dates
			`<dd data-field="count">9</dd>`,
			`href="events?ip=203.0.113.66"`, `href="events?user=alice"`,
		)
		mustNotContain(t, "alerts for a viewer", res.body, `method="post"`, `name="csrf"`)
		admin := e.get("/alerts", "admin").body
		mustContain(t, "alerts for an admin", admin, `value="acknowledge"`, `value="resolve"`, `name="csrf"`,
			`<input type="hidden" name="value" value="ip:203.0.113.66/32">`, `Block source for 2 h`)
		for _, bad := range []string{"?status=closed", "?severity=severe", "?rule=" + url.QueryEscape("a\x01b")} {
			res := e.get("/alerts"+bad, "viewer")
			if res.code != http.StatusBadRequest || !strings.Contains(res.body, `class="err"`) {
				t.Errorf("alerts%s: %d, want 400 with a message", bad, res.code)
			}
		}
	})
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}

var eventIDRE = regexp.MustCompile(`<tr data-id="([0-9a-f-]{36})">`)
var nextRE = regexp.MustCompile(`<a href="(events\?[^"]+)" rel="next">`)

// walkEvents follows the Events page's "Older" links from query and
// returns every event ID listed, in order.
func walkEvents(t *testing.T, e *env, query string) []string {
	t.Helper()
	var ids []string
	target := "/events" + query
	for pages := 0; ; pages++ {
		if pages > 200 {
			t.Fatal("the pages do not end")
		}
		res := e.get(target, "viewer")
		if res.code != 200 {
			t.Fatalf("%s: %d", target, res.code)
		}
		for _, m := range eventIDRE.FindAllStringSubmatch(res.body, -1) {
			ids = append(ids, m[1])
		}
		m := nextRE.FindStringSubmatch(res.body)
		if m == nil {
			return ids
		}
		target = "/" + html.UnescapeString(m[1])
	}
}

func TestEventsPage(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e, _, _ := demoEnv(t, backend, envOpts{})
		ctx := context.Background()
		cases := []struct {
			query string
			q     secmon.EventQuery
		}{
			{"", secmon.EventQuery{}},
			{"?type=login_failure", secmon.EventQuery{Types: []secmon.EventType{secmon.EventLoginFailure}}},
			{"?user=alice", secmon.EventQuery{UserID: "alice"}},
			{"?ip=203.0.113.66", secmon.EventQuery{IP: netip.MustParsePrefix("203.0.113.66/32")}},
			{"?ip=ip%3A2001%3Adb8%3A7%3A1%3A%3A%2F64", secmon.EventQuery{IP: netip.MustParsePrefix("2001:db8:7:1::/64")}},
			{"?ip=192.0.2.0%2F24&type=login_failure", secmon.EventQuery{IP: netip.MustParsePrefix("192.0.2.0/24"), Types: []secmon.EventType{secmon.EventLoginFailure}}},
			{"?from=2026-03-03+12%3A00&to=2026-03-03T13%3A00", secmon.EventQuery{From: fixedNow.Truncate(time.Hour).Add(-3 * time.Hour), To: fixedNow.Truncate(time.Hour).Add(-2 * time.Hour)}},
			{"?severity=high", secmon.EventQuery{MinSeverity: secmon.SeverityHigh}},
		}
		for _, tc := range cases {
			q := tc.q
			q.Limit = secmon.MaxQueryLimit
			want, err := e.store.QueryEvents(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatalf("events%s: the demo holds no match", tc.query)
			}
			got := walkEvents(t, e, tc.query)
			wantIDs := make([]string, len(want))
			for i, ev := range want {
				wantIDs[i] = ev.ID.String()
			}
			if strings.Join(got, ",") != strings.Join(wantIDs, ",") {
				t.Errorf("events%s: pages list %d events, the store %d (or in another order)", tc.query, len(got), len(want))
			}
		}
		// The first page shows dates, metadata as text and the next-page link.
		res := e.get("/events?type=upload_blocked", "viewer")
		mustContain(t, "events", res.body, "<b>threat_codes</b> polyglot,trailing_data", "2026-03-03<br>")
		for _, bad := range []string{"?type=Not-A-Type", "?ip=300.1.1.1", "?from=yesterday", "?from=2026-03-03&to=2026-03-01",
			"?before=nope", "?before=1_" + strings.Repeat("0", 36), "?severity=9"} {
			if res := e.get("/events"+bad, "viewer"); res.code != http.StatusBadRequest {
				t.Errorf("events%s: %d, want 400", bad, res.code)
			}
		}
	})
}

func TestSessionsPage(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e, _, _ := demoEnv(t, backend, envOpts{})
		res := e.get("/sessions", "viewer")
		if res.code != 200 {
			t.Fatalf("sessions: %d", res.code)
		}
		if n := strings.Count(res.body, "<tr data-session="); n != 8 {
			t.Errorf("%d sessions listed, want 8", n)
		}
		mustContain(t, "sessions", res.body, `data-session="sess-alice-1"`, "ip_group_changed", "sess-carol-1")
		mustNotContain(t, "sessions for a viewer", res.body, `value="revoke"`)
		res = e.get("/sessions?user=bob", "admin")
		if n := strings.Count(res.body, "<tr data-session="); n != 1 || !strings.Contains(res.body, `value="revoke"`) {
			t.Errorf("sessions of bob: %d rows; revoke offered: %v", n, strings.Contains(res.body, `value="revoke"`))
		}
	})
}

func TestBlocksAndUploadsPages(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e, _, _ := demoEnv(t, backend, envOpts{})
		res := e.get("/blocks", "viewer")
		if res.code != 200 {
			t.Fatalf("blocks: %d", res.code)
		}
		if n := strings.Count(res.body, "<tr data-block="); n != 2 {
			t.Errorf("%d active blocks, want 2", n)
		}
		mustContain(t, "blocks", res.body, "prefix:198.51.100.0/24", "until lifted", "ip:203.0.113.66/32",
			`<td class="n" data-label="level">2</td>`, "list:spamhaus-drop", "user:mallory", "lifted ")
		mustNotContain(t, "blocks for a viewer", res.body, "Block manually", `value="lift"`)
		if !strings.Contains(e.get("/blocks", "admin").body, "Block manually") {
			t.Error("an admin gets no manual block form")
		}
		res = e.get("/uploads", "viewer")
		mustContain(t, "uploads", res.body, `<span class="code">trailing_data</span> <span class="n">5</span>`,
			"From 12 blocked uploads", "invoice.pdf", "<td>structure</td>", "<td>total</td>")
	})
	// Without a guard there is no Blocks page, link or action.
	e := newEnv(t, "memory", envOpts{noGuard: true, noServer: true})
	if res := e.get("/blocks", "admin"); res.code != 404 {
		t.Errorf("blocks without a guard: %d", res.code)
	}
	mustNotContain(t, "overview without a guard", e.get("/", "admin").body, `href="blocks"`)
}

// auditEvents returns the stored admin_action events.
func auditEvents(e *env) []secmon.Event { return e.events(secmon.EventAdminAction) }

// findAudit returns the first event whose metadata has every key-value
// pair kv, or nil.
func findAudit(evs []secmon.Event, kv ...string) *secmon.Event {
next:
	for i := range evs {
		for j := 0; j+1 < len(kv); j += 2 {
			if evs[i].Metadata[kv[j]] != kv[j+1] {
				continue next
			}
		}
		return &evs[i]
	}
	return nil
}

func TestAlertActions(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e, d, _ := demoEnv(t, backend, envOpts{})
		ctx := context.Background()
		status := func(id uuid.UUID) secmon.AlertStatus {
			all, err := e.store.Alerts(ctx, secmon.AlertQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range all {
				if a.ID == id {
					return a.Status
				}
			}
			t.Fatalf("alert %s is gone", id)
			return ""
		}
		a := d.alerts[1] // brute_force_ip, open
		res := e.post("/alerts", "admin", url.Values{"op": {"acknowledge"}, "id": {a.ID.String()}, "back": {"alerts?status=all&severity=high"}})
		if res.code != http.StatusSeeOther || res.header.Get("Location") != "alerts?severity=high&status=all&done=acknowledged" {
			t.Fatalf("acknowledge: %d to %q", res.code, res.header.Get("Location"))
		}
		if s := status(a.ID); s != secmon.AlertAcknowledged {
			t.Errorf("status after acknowledge: %s", s)
		}
		flash := e.get("/alerts?status=all&done=acknowledged", "admin").body
		mustContain(t, "page after acknowledge", flash, `<p class="flash" role="status">Alert acknowledged.</p>`)
		audit := auditEvents(e)
		if len(audit) != 1 {
			t.Fatalf("%d admin_action events, want 1", len(audit))
		}
		ev := audit[0]
		if ev.UserID != "admin-person" || ev.Metadata["actor_id"] != "admin-person" || ev.Metadata["action"] != "alert_acknowledge" ||
			ev.Metadata["resource"] != "alert:"+a.ID.String() || ev.Metadata["status"] != "acknowledged" {
			t.Errorf("audit event %+v", ev)
		}

		res = e.post("/alerts", "admin", url.Values{"op": {"resolve"}, "id": {a.ID.String()}})
		if loc := res.header.Get("Location"); loc != "alerts?done=resolved" || status(a.ID) != secmon.AlertResolved {
			t.Errorf("resolve: %q, status %s", loc, status(a.ID))
		}
		// Reopening it while another alert for the pair is open is refused.
		if err := e.store.UpsertAlerts(ctx, []secmon.Alert{{Rule: a.Rule, Subject: a.Subject, Severity: a.Severity, LastSeen: fixedNow}}); err != nil {
			t.Fatal(err)
		}
		res = e.post("/alerts", "admin", url.Values{"op": {"reopen"}, "id": {a.ID.String()}})
		if loc := res.header.Get("Location"); loc != "alerts?done=conflict" || status(a.ID) != secmon.AlertResolved {
			t.Errorf("reopen with another open: %q, status %s", loc, status(a.ID))
		}
		if findAudit(auditEvents(e), "action", "alert_reopen", "error_code", "invalid") == nil {
			t.Error("the failed reopen was not audited with error_code invalid")
		}
		for name, form := range map[string]url.Values{
			"unknown alert": {"op": {"resolve"}, "id": {uuid.NewString()}},
			"bad id":        {"op": {"resolve"}, "id": {"42"}},
			"bad op":        {"op": {"delete"}, "id": {a.ID.String()}},
		} {
			want := map[string]string{"unknown alert": "alerts?done=notfound", "bad id": "alerts?done=invalid", "bad op": "alerts?done=invalid"}[name]
			if loc := e.post("/alerts", "admin", form).header.Get("Location"); loc != want {
				t.Errorf("%s: to %q, want %q", name, loc, want)
			}
		}
		// A return address outside the dashboard is not followed.
		for _, back := range []string{"https://evil.example/", "//evil.example/alerts", "/etc/passwd", "alerts/../../x", `\\evil`, "javascript:alert(1)"} {
			res := e.post("/alerts", "admin", url.Values{"op": {"acknowledge"}, "id": {uuid.NewString()}, "back": {back}})
			if loc := res.header.Get("Location"); loc != "alerts?done=notfound" {
				t.Errorf("back %q: redirected to %q", back, loc)
			}
		}
	})
}

func TestSessionRevoke(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		var ended []string
		e, _, _ := demoEnv(t, backend, envOpts{cfg: func(c *dashboard.Config) {
			c.RevokeSession = func(_ context.Context, sid string) error {
				ended = append(ended, sid)
				if sid == "sess-dave-1" {
					return errors.New("session layer down")
				}
				return nil
			}
		}})
		ctx := context.Background()
		res := e.post("/sessions", "admin", url.Values{"op": {"revoke"}, "session": {"sess-bob-1"}, "user": {"bob"}, "back": {"sessions?user=bob"}})
		if loc := res.header.Get("Location"); loc != "sessions?user=bob&done=revoked" {
			t.Fatalf("revoke: %d to %q", res.code, loc)
		}
		live, err := e.store.ActiveSessions(ctx, secmon.SessionQuery{UserID: "bob"})
		if err != nil || len(live) != 0 {
			t.Errorf("bob's sessions after revoke: %v, %v", live, err)
		}
		if len(ended) != 1 || ended[0] != "sess-bob-1" {
			t.Errorf("host's RevokeSession saw %v", ended)
		}
		ev := auditEvents(e)
		if len(ev) != 1 || ev[0].Metadata["action"] != "session_revoke" || ev[0].Metadata["target_user_id"] != "bob" {
			t.Errorf("audit: %+v", ev)
		}
		// The form's user must own the session.
		if loc := e.post("/sessions", "admin", url.Values{"op": {"revoke"}, "session": {"sess-alice-1"}, "user": {"bob"}}).header.Get("Location"); loc != "sessions?done=notfound" {
			t.Errorf("revoke under the wrong user: %q", loc)
		}
		if loc := e.post("/sessions", "admin", url.Values{"op": {"revoke"}, "session": {"sess-dave-1"}, "user": {"dave"}}).header.Get("Location"); loc != "sessions?done=hostfailed" {
			t.Errorf("host failure: %q", loc)
		}
		if loc := e.post("/sessions", "admin", url.Values{"op": {"revoke"}, "session": {""}, "user": {"dave"}}).header.Get("Location"); loc != "sessions?done=invalid" {
			t.Errorf("empty session: %q", loc)
		}
	})
}

func TestBlockActions(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e, d, clock := demoEnv(t, backend, envOpts{})
		ctx := context.Background()
		active := func() map[string]secmon.Block {
			list, err := e.guard.List(ctx, secmon.BlockQuery{ActiveAt: clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]secmon.Block{}
			for _, b := range list { // newest first: keep the newest of a subject
				if _, ok := m[b.Subject]; !ok {
					m[b.Subject] = b
				}
			}
			return m
		}
		for _, tc := range []struct {
			form    url.Values
			subject string
			until   time.Duration // 0: until lifted
		}{
			{url.Values{"scope": {"ip"}, "value": {"192.0.2.9"}, "duration": {"1h"}, "reason": {"probing"}}, "ip:192.0.2.9/32", time.Hour},
			{url.Values{"scope": {"ip"}, "value": {"2001:db8:aa:bb::1"}, "duration": {"24h"}}, "ip:2001:db8:aa:bb::/64", 24 * time.Hour},
			{url.Values{"scope": {"prefix"}, "value": {"203.0.113.0/24"}, "duration": {"permanent"}}, "prefix:203.0.113.0/24", 0},
			{url.Values{"scope": {"user"}, "value": {"mallory"}, "duration": {"168h"}}, "user:mallory", 7 * 24 * time.Hour},
			// "block source" on an alert: the value carries its scope.
			{url.Values{"value": {d.alerts[3].Subject}, "duration": {(30 * time.Minute).String()}, "reason": {"upload_attack alert"}}, "user:mallory", 30 * time.Minute},
		} {
			tc.form.Set("op", "add")
			res := e.post("/blocks", "admin", tc.form)
			if loc := res.header.Get("Location"); loc != "blocks?done=blocked" {
				t.Errorf("block %v: to %q", tc.form, loc)
				continue
			}
			b, ok := active()[tc.subject]
			if !ok {
				t.Errorf("block %v: %s not active", tc.form, tc.subject)
				continue
			}
			wantUntil := time.Time{}
			if tc.until > 0 {
				wantUntil = fixedNow.Add(tc.until)
			}
			if b.Origin != secmon.OriginManual || b.By != "admin-person" || !b.Until.Equal(wantUntil) {
				t.Errorf("block %s: origin %s by %s until %v, want manual by admin-person until %v", tc.subject, b.Origin, b.By, b.Until, wantUntil)
			}
		}
		audit := auditEvents(e)
		if len(audit) != 5 || findAudit(audit, "action", "block_add", "subject", "ip:192.0.2.9/32", "reason", "probing",
			"until", fixedNow.Add(time.Hour).Format(time.RFC3339), "actor_id", "admin-person") == nil {
			t.Errorf("audit of blocks: %d events: %v", len(audit), audit)
		}

		// Refused: too broad, self, bad input. Nothing is added.
		before := len(active())
		for name, tc := range map[string]struct {
			form url.Values
			done string
			hdr  []string
		}{
			"/7 prefix":        {url.Values{"scope": {"prefix"}, "value": {"10.0.0.0/7"}, "duration": {"1h"}}, "invalid", nil},
			"/16 IPv6":         {url.Values{"scope": {"prefix"}, "value": {"2001::/16"}, "duration": {"1h"}}, "invalid", nil},
			"own account":      {url.Values{"scope": {"user"}, "value": {"admin-person"}, "duration": {"1h"}}, "self", nil},
			"own address":      {url.Values{"scope": {"prefix"}, "value": {"192.0.2.0/24"}, "duration": {"1h"}}, "self", nil},
			"ip given prefix":  {url.Values{"scope": {"ip"}, "value": {"192.0.2.0/24"}, "duration": {"1h"}}, "invalid", nil},
			"no duration":      {url.Values{"scope": {"ip"}, "value": {"192.0.2.10"}}, "invalid", nil},
			"too short":        {url.Values{"scope": {"ip"}, "value": {"192.0.2.10"}, "duration": {"10s"}}, "invalid", nil},
			"too long":         {url.Values{"scope": {"ip"}, "value": {"192.0.2.10"}, "duration": {"9000h"}}, "invalid", nil},
			"bad scope":        {url.Values{"scope": {"asn"}, "value": {"64500"}, "duration": {"1h"}}, "invalid", nil},
			"reason two lines": {url.Values{"scope": {"ip"}, "value": {"192.0.2.10"}, "duration": {"1h"}, "reason": {"a\nb"}}, "invalid", nil},
		} {
			tc.form.Set("op", "add")
			tc.form.Set("csrf", e.csrf("/alerts", "admin"))
			r := httptest.NewRequest(http.MethodPost, "/blocks", strings.NewReader(tc.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set(hdrUser, "admin-person")
			r.Header.Set(hdrRole, "admin")
			r.RemoteAddr = "192.0.2.200:5555"
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if loc := w.Header().Get("Location"); loc != "blocks?done="+tc.done {
				t.Errorf("%s: to %q, want done=%s", name, loc, tc.done)
			}
		}
		if n := len(active()); n != before {
			t.Errorf("refused blocks changed the active ones: %d, was %d", n, before)
		}

		// Lift.
		target := active()["prefix:203.0.113.0/24"]
		res := e.post("/blocks", "admin", url.Values{"op": {"lift"}, "id": {target.ID.String()}})
		if loc := res.header.Get("Location"); loc != "blocks?done=lifted" {
			t.Errorf("lift: %q", loc)
		}
		if b, ok := active()["prefix:203.0.113.0/24"]; ok {
			t.Errorf("lifted block still active: %+v", b)
		}
		if loc := e.post("/blocks", "admin", url.Values{"op": {"lift"}, "id": {uuid.NewString()}}).header.Get("Location"); loc != "blocks?done=notfound" {
			t.Errorf("lift of an unknown block: %q", loc)
		}
		// The guard failing: reported, and audited with its error code.
		e.guards.setFail(errors.New("guard store down"))
		if loc := e.post("/blocks", "admin", url.Values{"op": {"add"}, "scope": {"ip"}, "value": {"192.0.2.11"}, "duration": {"1h"}}).header.Get("Location"); loc != "blocks?done=refused" {
			t.Errorf("block with the guard down: %q", loc)
		}
		if res := e.get("/blocks", "admin"); res.code != http.StatusServiceUnavailable || !strings.Contains(res.body, "the guard did not answer") {
			t.Errorf("blocks page with the guard down: %d", res.code)
		}
		e.guards.setFail(nil)
		if findAudit(auditEvents(e), "action", "block_add", "subject", "ip:192.0.2.11/32", "error_code", "store_error") == nil {
			t.Error("the failed block was not audited with error_code store_error")
		}
		if findAudit(auditEvents(e), "action", "block_lift", "resource", "block:"+target.ID.String()) == nil {
			t.Error("the lift was not audited")
		}
	})
}

// failingLogger refuses every event, as a Monitor with a full queue does.
type failingLogger struct{}

func (failingLogger) Log(context.Context, secmon.Event) error { return secmon.ErrQueueFull }

func TestUnloggedActionIsNotCarriedOut(t *testing.T) {
	t.Parallel()
	e, d, _ := demoEnv(t, "memory", envOpts{cfg: func(c *dashboard.Config) { c.Logger = failingLogger{} }})
	a := d.alerts[0]
	res := e.post("/alerts", "admin", url.Values{"op": {"resolve"}, "id": {a.ID.String()}})
	if loc := res.header.Get("Location"); loc != "alerts?done=unaudited" {
		t.Errorf("resolve without logging: to %q", loc)
	}
	open, _ := e.store.Alerts(context.Background(), secmon.AlertQuery{Status: secmon.AlertOpen})
	if !containsAlert(open, a.ID) {
		t.Error("the alert was resolved although its audit event was refused")
	}
	if loc := e.post("/blocks", "admin", url.Values{"op": {"add"}, "scope": {"ip"}, "value": {"192.0.2.12"}, "duration": {"1h"}}).header.Get("Location"); loc != "blocks?done=unaudited" {
		t.Errorf("block without logging: %q", loc)
	}
	if _, ok := e.guard.Check(netip.MustParseAddr("192.0.2.12"), ""); ok {
		t.Error("the block was added although its audit event was refused")
	}
	if loc := e.post("/sessions", "admin", url.Values{"op": {"revoke"}, "session": {"sess-bob-1"}, "user": {"bob"}}).header.Get("Location"); loc != "sessions?done=unaudited" {
		t.Errorf("revoke without logging: %q", loc)
	}
}

func containsAlert(list []secmon.Alert, id uuid.UUID) bool {
	for _, a := range list {
		if a.ID == id {
			return true
		}
	}
	return false
}

func TestRefusedChanges(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e, d, clock := demoEnv(t, backend, envOpts{})
		a := d.alerts[0]
		form := func(tok string) url.Values {
			v := url.Values{"op": {"resolve"}, "id": {a.ID.String()}}
			if tok != "" {
				v.Set("csrf", tok)
			}
			return v
		}
		adminTok := e.csrf("/alerts", "admin")
		other := e.do(http.MethodGet, "/alerts", "", nil, hdrUser, "other-admin", hdrRole, "admin")
		otherTok := csrfRE.FindStringSubmatch(other.body)[1]
		cases := []struct {
			name   string
			role   string
			form   url.Values
			hdr    []string
			reason string
		}{
			{"viewer", "viewer", form(adminTok), nil, "role"},
			{"no token", "admin", form(""), nil, "csrf_missing"},
			{"garbage token", "admin", form("x"), nil, "csrf_invalid"},
			{"another person's token", "admin", form(otherTok), nil, "csrf_invalid"},
			{"cross-site", "admin", form(adminTok), []string{"Sec-Fetch-Site", "cross-site"}, "cross_origin"},
			{"foreign origin", "admin", form(adminTok), []string{"Origin", "https://evil.example"}, "cross_origin"},
		}
		for _, tc := range cases {
			res := e.do(http.MethodPost, "/alerts", tc.role, tc.form, tc.hdr...)
			if res.code != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", tc.name, res.code)
			}
		}
		// An expired token: twelve hours and more.
		clock.Advance(13 * time.Hour)
		if res := e.do(http.MethodPost, "/alerts", "admin", form(adminTok)); res.code != http.StatusForbidden || !strings.Contains(res.body, "expired") {
			t.Errorf("expired token: %d", res.code)
		}
		clock.Set(fixedNow)
		open, _ := e.store.Alerts(context.Background(), secmon.AlertQuery{Status: secmon.AlertOpen})
		if !containsAlert(open, a.ID) {
			t.Fatal("a refused request changed the alert")
		}
		// Each refusal is in the security log with its reason.
		denied := e.events(secmon.EventAccessDenied)
		reasons := map[string]int{}
		for _, ev := range denied {
			reasons[ev.Metadata["reason"]]++
			if ev.Metadata["route"] != "dashboard/alerts" || ev.Metadata["actor_id"] == "" {
				t.Errorf("access_denied event %v", ev.Metadata)
			}
		}
		for _, tc := range cases {
			if reasons[tc.reason] == 0 {
				t.Errorf("no access_denied event with reason %s", tc.reason)
			}
		}
		if reasons["csrf_expired"] != 1 {
			t.Errorf("expired token not logged: %v", reasons)
		}
		// With the right token the same request goes through.
		if res := e.do(http.MethodPost, "/alerts", "admin", form(adminTok)); res.code != http.StatusSeeOther {
			t.Errorf("valid request: %d", res.code)
		}
	})
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	e, d, _ := demoEnv(t, "memory", envOpts{readOnly: true})
	for _, p := range []string{"/alerts", "/sessions", "/blocks"} {
		body := e.get(p, "admin").body
		mustNotContain(t, p+" read-only", body, `method="post"`, `name="csrf"`)
		mustContain(t, p+" read-only", body, `<span class="role role-ro">read-only</span>`)
	}
	res := e.do(http.MethodPost, "/alerts", "admin", url.Values{"op": {"resolve"}, "id": {d.alerts[0].ID.String()}})
	if res.code != http.StatusForbidden || !strings.Contains(res.body, "read-only") {
		t.Errorf("post to a read-only dashboard: %d", res.code)
	}
}

func TestStoreFailure(t *testing.T) {
	t.Parallel()
	broken := brokenStore{memstore.New()}
	h, err := dashboard.New(dashboard.Config{Authorize: testAuthorize, Store: broken, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/": 200, "/alerts": 503, "/events": 503, "/sessions": 503, "/uploads": 503} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set(hdrUser, "v")
		r.Header.Set(hdrRole, "viewer")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want || !strings.Contains(w.Body.String(), "the store did not answer") {
			t.Errorf("%s with the store down: %d, want %d with a message", path, w.Code, want)
		}
		if strings.Contains(w.Body.String(), "password=") {
			t.Errorf("%s shows the store's error text", path)
		}
	}
}

// brokenStore fails every read with an error whose text must not reach a
// page.
type brokenStore struct{ *memstore.Store }

var errBroken = errors.New("connect: password=hunter2 refused")

func (brokenStore) QueryEvents(context.Context, secmon.EventQuery) ([]secmon.Event, error) {
	return nil, errBroken
}
func (brokenStore) ActiveSessions(context.Context, secmon.SessionQuery) ([]secmon.Session, error) {
	return nil, errBroken
}
func (brokenStore) Alerts(context.Context, secmon.AlertQuery) ([]secmon.Alert, error) {
	return nil, errBroken
}
func (brokenStore) Summary(context.Context, time.Time, time.Time) (secmon.Summary, error) {
	return secmon.Summary{}, errBroken
}
func (brokenStore) Hourly(context.Context, time.Time, time.Time) ([]secmon.HourBucket, error) {
	return nil, errBroken
}
func (brokenStore) Top(context.Context, secmon.TopQuery) (secmon.TopReport, error) {
	return secmon.TopReport{}, errBroken
}
