// Package limittest holds the fixtures that the tests of ratelimit and
// ratelimit/redislimit share: a stand-in for the host's authentication, a
// handler that answers "ok", and a checked Allow. It imports neither
// package, so ratelimit's own tests can use it.
package limittest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/secmon-go/secmon"
)

// userHeader carries the user a test request is made by.
const userHeader = "X-Test-User"

type userKey struct{}

// WithUser stands in for the host's authentication: it puts the user named
// by the request's X-Test-User header into the request context, where User
// finds it.
func WithUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get(userHeader); u != "" {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		next.ServeHTTP(w, r)
	})
}

// User returns the user WithUser put into r's context, or "".
func User(r *http.Request) string {
	u, _ := r.Context().Value(userKey{}).(string)
	return u
}

// UserRequest returns a POST to path made by user (see WithUser).
func UserRequest(path, user string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, nil)
	r.Header.Set(userHeader, user)
	return r
}

// OK answers every request with 200 and the body "ok".
var OK = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte("ok"))
})

// Serve runs h on r and returns the recorded response.
func Serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// MustAllow returns l's decision for key, failing t when Allow returns an
// error.
func MustAllow(t testing.TB, l secmon.RateLimiter, key string) secmon.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}
