package guard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/store/memstore"
)

// The guard wired into a Monitor: five failed logins from one address
// within ten minutes become a block that the middleware enforces on the
// next request.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	g, err := guard.New(guard.Config{Store: store}) // DefaultPolicies, loopback allowlisted
	if err != nil {
		panic(err)
	}
	defer g.Close(ctx)
	engine, err := detect.New(detect.Config{})
	if err != nil {
		panic(err)
	}
	mon, err := secmon.New(secmon.Config{Store: store, Detector: engine, FindingHandlers: []secmon.FindingHandler{g}})
	if err != nil {
		panic(err)
	}
	defer mon.Close(ctx)
	g.SetEvents(mon) // ip_blocked, block_lifted and access_blocked go to the security log

	login := g.Middleware(guard.MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = mon.Log(r.Context(), secmon.Event{Type: secmon.EventLoginFailure, IP: secmon.ClientIP(r, nil), UserID: "bob"})
		w.WriteHeader(http.StatusUnauthorized)
	}))
	for i := 1; i <= 7; i++ {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.RemoteAddr = "203.0.113.7:40000"
		w := httptest.NewRecorder()
		login.ServeHTTP(w, r)
		fmt.Println("attempt", i, w.Code)
		_ = g.Flush(ctx) // for the example's sake: decisions are made off the request's goroutine
	}
	b, _ := g.Check(netip.MustParseAddr("203.0.113.7"), "")
	fmt.Println(b.Subject, b.Rule, b.Until.Sub(b.Created))
	// Output:
	// attempt 1 401
	// attempt 2 401
	// attempt 3 401
	// attempt 4 401
	// attempt 5 401
	// attempt 6 403
	// attempt 7 403
	// ip:203.0.113.7/32 brute_force_ip 15m0s
}

// Reputation lists load from any reader (or a file the guard watches);
// bad lines are reported with their line numbers.
func ExampleGuard_LoadList() {
	g, err := guard.New(guard.Config{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer g.Close(context.Background())
	drop := "; Spamhaus DROP List\n192.0.2.0/24 ; SBL000001\n2001:db8:dead::/48 ; SBL000003\nnonsense\n"
	st, err := g.LoadList(guard.ListConfig{Name: "spamhaus-drop"}, strings.NewReader(drop))
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Prefixes, "prefixes;", st.Invalid, "invalid:", st.Errors[0])
	b, blocked := g.Check(netip.MustParseAddr("192.0.2.55"), "")
	fmt.Println(blocked, b.Subject, b.Prefix)
	// Output:
	// 2 prefixes; 1 invalid: line 4: not an address or prefix: "nonsense"
	// true list:spamhaus-drop 192.0.2.0/24
}

// An operator's block and lift, as an admin endpoint would make them.
func ExampleGuard_Block() {
	ctx := context.Background()
	g, err := guard.New(guard.Config{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer g.Close(ctx)
	b, err := g.Block(ctx, secmon.Block{
		Prefix: netip.MustParsePrefix("2001:db8:1:2::99/128"), // one IPv6 address: its /64 is blocked
		Reason: "credential stuffing reported by the SOC", By: "alice",
		Until: time.Now().Add(24 * time.Hour),
	})
	if err != nil {
		panic(err)
	}
	_, blocked := g.Check(netip.MustParseAddr("2001:db8:1:2:aaaa::1"), "")
	fmt.Println(b.Subject, b.Origin, blocked)
	_ = g.Lift(ctx, b.ID, "bob")
	_, blocked = g.Check(netip.MustParseAddr("2001:db8:1:2:aaaa::1"), "")
	fmt.Println("after the lift:", blocked)
	// Output:
	// ip:2001:db8:1:2::/64 manual true
	// after the lift: false
}

// runWithGuard is the README's wiring of the guard into a service, compiled
// here so the README cannot drift from the API.
func runWithGuard(ctx context.Context, addr string, store secmon.Store, engine secmon.Detector, office, balancers netip.Prefix) error {
	// readme:begin guard
	g, err := guard.New(guard.Config{
		Store:     store,                             // the same memstore or pgstore: blocks live beside the events
		Allowlist: []netip.Prefix{office, balancers}, // never blocked (loopback always is)
		Lists: []guard.ListConfig{ // reloaded whenever the host's download job replaces the file
			{Name: "spamhaus-drop", Path: "/var/lib/lists/drop.txt"},
		},
	})
	if err != nil {
		return err
	}
	mon, err := secmon.New(secmon.Config{Store: store, Detector: engine,
		FindingHandlers: []secmon.FindingHandler{g}}) // every finding reaches the guard
	if err != nil {
		_ = g.Close(ctx)
		return err
	}
	g.SetEvents(mon) // ip_blocked, block_lifted and access_blocked go to the security log
	defer func() {
		_ = g.Close(ctx)   // first: it writes its last blocks and events into the Monitor
		_ = mon.Close(ctx) // then the Monitor flushes everything
	}()

	enforcer := g.Enforcer(guard.MiddlewareConfig{TrustedProxies: []netip.Prefix{balancers}})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if enforcer.Refuse(w, r, r.PostFormValue("user")) { // a blocked account, before its password is checked
			return
		}
		// … check the password and log login_success or login_failure, as above
	})
	return http.ListenAndServe(addr, enforcer.Middleware(mux)) // 403 (or 429 + Retry-After) for blocked addresses
	// readme:end guard
}

var _ = runWithGuard
