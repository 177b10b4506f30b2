package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
	"github.com/secmon-go/secmon/store/memstore"
)

// ExampleNew mounts the dashboard under /admin/. Authorize stands for the
// host's own authentication; here a header names the person and a second
// header grants the admin role.
func ExampleNew() {
	store := memstore.New()
	monitor, err := secmon.New(secmon.Config{Store: store})
	if err != nil {
		panic(err)
	}
	defer monitor.Close(context.Background())

	h, err := dashboard.New(dashboard.Config{
		Authorize: func(r *http.Request) (string, dashboard.Role, bool) {
			who := r.Header.Get("X-Authenticated-User") // set by the host's own sign-in
			switch {
			case who == "":
				return "", 0, false
			case r.Header.Get("X-Security-Admin") == "yes":
				return who, dashboard.RoleAdmin, true
			}
			return who, dashboard.RoleViewer, true
		},
		Store:  store,
		Logger: monitor, // admin actions are logged through the Monitor
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", h))

	get := func(user string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/admin/alerts", nil)
		if user != "" {
			r.Header.Set("X-Authenticated-User", user)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	fmt.Println("anonymous:", get("").Code)
	w := get("dana")
	fmt.Println("dana:", w.Code, strings.Contains(w.Body.String(), "No alert matches."))
	fmt.Println(w.Header().Get("Content-Security-Policy")[:21])

	_, err = dashboard.New(dashboard.Config{Store: store, Logger: monitor})
	fmt.Println(err)
	// Output:
	// anonymous: 401
	// dana: 200 true
	// default-src 'self'; s
	// dashboard: Config.Authorize is required: a dashboard is never open by accident
}
