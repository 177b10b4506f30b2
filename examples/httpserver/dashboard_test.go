package main

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

// dashGet fetches a dashboard page with Basic credentials.
func dashGet(t *testing.T, base, path, user, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/admin/"+path, nil)
	if token != "" {
		req.SetBasicAuth(user, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// dashboardFlow: the admin signs in to the dashboard with the token, sees
// a user's live session and revokes it, and the user's cookie stops
// working; a viewer reads but cannot act; anyone else is challenged.
func dashboardFlow(t *testing.T, base string) {
	resp, _ := dashGet(t, base, "", "", "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("dashboard without credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := dashGet(t, base, "", "ops", "wrong-token"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dashboard with a wrong token: %d", resp.StatusCode)
	}
	resp, body := dashGet(t, base, "", "ops", "test-admin-token")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "secmon demo") || !strings.Contains(body, `title="Signed in as ops"`) {
		t.Fatalf("dashboard as the admin: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("dashboard CSP %q", csp)
	}
	// The guard is wired: the Blocks page lists its blocks and offers the
	// manual form.
	if resp, body := dashGet(t, base, "blocks", "ops", "test-admin-token"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Block manually") {
		t.Errorf("Blocks page: %d", resp.StatusCode)
	}

	alice := newClient(t, base)
	if code := alice.login("alice", "correct horse battery staple"); code != http.StatusOK {
		t.Fatalf("alice login: %d", code)
	}
	sidRE := regexp.MustCompile(`<input type="hidden" name="session" value="([^"]+)"><input type="hidden" name="user" value="alice">`)
	var page string
	eventually(t, "alice's session on the Sessions page", func() bool {
		_, page = dashGet(t, base, "sessions?user=alice", "ops", "test-admin-token")
		return sidRE.MatchString(page)
	})
	sid := html.UnescapeString(sidRE.FindStringSubmatch(page)[1])
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]

	// A viewer reads the same page without any action, and is refused one.
	_, vpage := dashGet(t, base, "sessions?user=alice", "auditor", "test-viewer-token")
	if !strings.Contains(vpage, `data-session=`) || strings.Contains(vpage, `value="revoke"`) {
		t.Error("the viewer's Sessions page lists no session or offers revoke")
	}

	form := url.Values{"op": {"revoke"}, "session": {sid}, "user": {"alice"}, "csrf": {tok}}
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/sessions", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("auditor", "test-viewer-token")
	if resp, _ := newClient(t, base).do(req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer revoke: %d, want 403", resp.StatusCode)
	}
	if resp, _ := alice.post("/api/session/heartbeat", "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("alice's heartbeat before the revocation: %d", resp.StatusCode)
	}

	req, _ = http.NewRequest(http.MethodPost, base+"/admin/sessions", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("ops", "test-admin-token")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "sessions?done=revoked" {
		t.Fatalf("revoke: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := alice.post("/api/session/heartbeat", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("alice's heartbeat after the revocation: %d, want 401", resp.StatusCode)
	}
	// The revocation is in the security log under the admin's name.
	eventually(t, "the admin_action event on the Events page", func() bool {
		_, page := dashGet(t, base, "events?type=admin_action", "ops", "test-admin-token")
		return strings.Contains(page, "session_revoke") && strings.Contains(page, "<b>actor_id</b> ops")
	})
}

func TestDashboardMemory(t *testing.T) {
	dashboardFlow(t, start(t, config{ViewerToken: "test-viewer-token"}))
}

func TestDashboardPostgres(t *testing.T) {
	dbURL := testenv.DatabaseURL(t)
	pool := sqlschematest.Pool(t)
	schema := sqlschematest.RandomName("secmon_dash")
	t.Cleanup(func() { sqlschematest.DropSchema(t, pool, schema) })
	dashboardFlow(t, start(t, config{DatabaseURL: dbURL, Schema: schema, ViewerToken: "test-viewer-token"}))
}
