package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A well-formed X-Request-ID is kept and echoed; anything else is replaced
// by a fresh ID, so an attacker's header never reaches the log as it was.
func TestRequestID(t *testing.T) {
	var seen string
	h := withRequestID(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen = (&app{}).meta(r)["request_id"]
	}))
	for in, keep := range map[string]bool{
		"abc-123": true, "lb:7f.a_b": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "a b": false, "<script>": false, "id\n": false, "ünï": false,
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if in != "" {
			req.Header.Set(HeaderRequestID, in)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(HeaderRequestID)
		if got != seen || !validRequestID(got) {
			t.Errorf("%q: echoed %q, logged %q", in, got, seen)
		}
		if (got == in) != keep {
			t.Errorf("%q: echoed %q, want it kept: %v", in, got, keep)
		}
	}
}

func FuzzRequestID(f *testing.F) {
	for _, seed := range []string{"abc", "", "a b", strings.Repeat("x", 70), "\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !validRequestID(id) {
			return
		}
		if len(id) == 0 || len(id) > 64 || strings.ContainsAny(id, " \t\r\n\"'<>{}\\/") {
			t.Fatalf("accepted %q", id)
		}
	})
}
