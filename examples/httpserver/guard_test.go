package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

// xffClient is a client behind the test's loopback "proxy": its address
// travels in X-Forwarded-For, believed because the service trusts
// loopback.
type xffClient struct {
	t    *testing.T
	base string
	addr string
}

func (c *xffClient) do(method, path, body string, admin bool) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if method == http.MethodPost && strings.HasPrefix(path, "/login") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.addr != "" {
		req.Header.Set("X-Forwarded-For", c.addr)
	}
	if admin {
		req.Header.Set("Authorization", "Bearer test-admin-token")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c *xffClient) login(user, pw string) int {
	code, _ := c.do(http.MethodPost, "/login", url.Values{"user": {user}, "password": {pw}}.Encode(), false)
	return code
}

// The example blocks brute force by itself, and its admin endpoints list,
// add and lift blocks.
func TestGuardInTheExample(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"memory", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Allowlist: []netip.Prefix{netip.MustParsePrefix("192.0.2.128/25")}}
			if backend == "postgres" {
				cfg.DatabaseURL = testenv.DatabaseURL(t)
				pool := sqlschematest.Pool(t)
				cfg.Schema = sqlschematest.RandomName("secmon_guard")
				t.Cleanup(func() { sqlschematest.DropSchema(t, pool, cfg.Schema) })
			}
			base := start(t, cfg)
			attacker := &xffClient{t: t, base: base, addr: "203.0.113.66"}
			for i := range 5 {
				if code := attacker.login("bob", "guess"); code != http.StatusUnauthorized {
					t.Fatalf("guess %d: %d", i+1, code)
				}
			}
			// The fifth failure within ten minutes is a brute_force_ip
			// finding; the block is decided off the request's goroutine
			// and enforced within microseconds.
			eventuallyStatus(t, "the attacker refused", func() int { return attacker.login("bob", "guess") }, http.StatusForbidden)
			if code, _ := attacker.do(http.MethodPost, "/api/session/heartbeat", "", false); code != http.StatusForbidden {
				t.Errorf("the blocked address reached another route: %d", code)
			}
			admin := &xffClient{t: t, base: base, addr: "192.0.2.200"} // allowlisted office
			legit := &xffClient{t: t, base: base, addr: "198.51.100.20"}
			if code := legit.login("alice", "correct horse battery staple"); code != http.StatusOK {
				t.Errorf("a legitimate user: %d", code)
			}

			var blocks []blockJSON
			code, body := admin.do(http.MethodGet, "/admin/api/blocks?active=1", "", true)
			if code != http.StatusOK || json.Unmarshal(body, &blocks) != nil || len(blocks) != 1 ||
				blocks[0].Subject != "ip:203.0.113.66/32" || blocks[0].Rule != "brute_force_ip" || blocks[0].Origin != "rule" {
				t.Fatalf("GET /admin/api/blocks: %d %s", code, body)
			}
			// Lift it: the attacker's failures count again.
			if code, body := admin.do(http.MethodDelete, "/admin/api/blocks/"+blocks[0].ID+"?by=alice", "", true); code != http.StatusNoContent {
				t.Fatalf("DELETE: %d %s", code, body)
			}
			if code := attacker.login("bob", "guess"); code != http.StatusUnauthorized {
				t.Errorf("after the lift: %d", code)
			}
			// Add a manual prefix block and an account block.
			code, body = admin.do(http.MethodPost, "/admin/api/blocks", `{"prefix":"198.51.100.0/24","reason":"abuse report","by":"alice","duration_s":3600}`, true)
			var added blockJSON
			if code != http.StatusCreated || json.Unmarshal(body, &added) != nil || added.Scope != "prefix" || added.By != "alice" || added.Until == nil {
				t.Fatalf("POST prefix: %d %s", code, body)
			}
			if code := legit.login("alice", "correct horse battery staple"); code != http.StatusForbidden {
				t.Errorf("a request from the blocked prefix: %d", code)
			}
			if code, body := admin.do(http.MethodPost, "/admin/api/blocks", `{"user":"Bob"}`, true); code != http.StatusCreated {
				t.Fatalf("POST user: %d %s", code, body)
			}
			other := &xffClient{t: t, base: base, addr: "192.0.2.77"}
			if code := other.login("bob", "hunter2hunter2"); code != http.StatusForbidden {
				t.Errorf("a login to the blocked account with its right password: %d", code)
			}
			// The allowlist and bad requests.
			for _, c := range []struct {
				body string
				want int
			}{
				{`{"ip":"192.0.2.200"}`, http.StatusConflict},
				{`{"ip":"127.0.0.1"}`, http.StatusConflict},
				{`{"ip":"not-an-ip"}`, http.StatusBadRequest},
				{`{"prefix":"0.0.0.0/0"}`, http.StatusBadRequest},
				{`{}`, http.StatusBadRequest},
				{`{"ip":"192.0.2.1","duration_s":-5}`, http.StatusBadRequest},
				{`{"ip":"192.0.2.1","extra":1}`, http.StatusBadRequest},
			} {
				if code, body := admin.do(http.MethodPost, "/admin/api/blocks", c.body, true); code != c.want {
					t.Errorf("POST %s: %d %s, want %d", c.body, code, body, c.want)
				}
			}
			if code, _ := admin.do(http.MethodDelete, "/admin/api/blocks/0190a4e2-0000-7000-8000-000000000000", "", true); code != http.StatusNotFound {
				t.Errorf("DELETE of an unknown block: %d", code)
			}
			// From an address no block covers: the attacker's failure after
			// the lift may already have blocked it again (a lift does not
			// reset the detector's counts; the next finding blocks anew).
			stranger := &xffClient{t: t, base: base, addr: "198.18.0.9"}
			if code, _ := stranger.do(http.MethodGet, "/admin/api/blocks", "", false); code != http.StatusUnauthorized {
				t.Errorf("blocks without the admin token: %d", code)
			}
			var stats map[string]any
			if code, body := admin.do(http.MethodGet, "/admin/api/guard", "", true); code != http.StatusOK || json.Unmarshal(body, &stats) != nil ||
				stats["blocks_decided"].(float64) < 1 || stats["blocks_decided"].(float64) > 2 || stats["refusals"].(float64) < 3 {
				t.Errorf("GET /admin/api/guard: %d %s", code, body)
			}
		})
	}
}

func eventuallyStatus(t *testing.T, what string, do func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := do()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %d, want %d", what, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
