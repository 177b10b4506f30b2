package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/upload"
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

// account is a host's signed-in user, as its own authentication knows it.
type account struct {
	Email           string
	IsSecurityAdmin bool
}

// mountDashboard is the wiring the README shows, compiled here and run by
// Example_readme.
func mountDashboard(mux *http.ServeMux, store secmon.Store, monitor *secmon.Monitor, tracker *upload.Tracker, g *guard.Guard,
	currentUser func(*http.Request) *account) error {
	// readme:begin dashboard
	h, err := dashboard.New(dashboard.Config{
		Authorize: func(r *http.Request) (who string, role dashboard.Role, ok bool) {
			u := currentUser(r) // your authentication
			switch {
			case u == nil:
				return "", 0, false
			case u.IsSecurityAdmin:
				return u.Email, dashboard.RoleAdmin, true
			}
			return u.Email, dashboard.RoleViewer, true
		},
		Store:   store,   // memstore or pgstore
		Logger:  monitor, // every admin action is logged through it, as admin_action
		Uploads: tracker, // the upload.Tracker your Validator reports to (optional)
		Guard:   g,       // a *guard.Guard: the Blocks page and "block source" (optional)
	})
	if err != nil {
		return err
	}
	mux.Handle("/admin/", http.StripPrefix("/admin", h))
	// readme:end dashboard
	return nil
}

// Example_readme runs the README's wiring with every optional part: a
// viewer reads the Blocks page, an admin gets its forms.
func Example_readme() {
	ctx := context.Background()
	store := memstore.New()
	monitor, err := secmon.New(secmon.Config{Store: store})
	if err != nil {
		panic(err)
	}
	defer monitor.Close(ctx)
	tracker, err := upload.NewTracker(upload.TrackerConfig{})
	if err != nil {
		panic(err)
	}
	g, err := guard.New(guard.Config{Store: store, Events: monitor})
	if err != nil {
		panic(err)
	}
	defer g.Close(ctx)
	users := map[string]*account{"v": {Email: "viewer@example.com"}, "a": {Email: "admin@example.com", IsSecurityAdmin: true}}
	currentUser := func(r *http.Request) *account { return users[r.Header.Get("X-Demo-User")] }

	mux := http.NewServeMux()
	if err := mountDashboard(mux, store, monitor, tracker, g, currentUser); err != nil {
		panic(err)
	}
	for _, u := range []string{"", "v", "a"} {
		r := httptest.NewRequest(http.MethodGet, "/admin/blocks", nil)
		r.Header.Set("X-Demo-User", u)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Printf("%q: %d, manual block form: %v\n", u, w.Code, strings.Contains(w.Body.String(), "Block manually"))
	}
	// Output:
	// "": 401, manual block form: false
	// "v": 200, manual block form: false
	// "a": 200, manual block form: true
}
