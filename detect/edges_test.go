package detect

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/secmon-go/secmon"
)

// A count at exactly the threshold fires; an occurrence exactly one window
// old no longer counts; one just inside still does.
func TestWindowEdges(t *testing.T) {
	t.Parallel()
	const w = time.Minute // sub-buckets of 6 s
	fail := func(at time.Duration) secmon.Event {
		return event(at, secmon.EventLoginFailure, "192.0.2.1", "u")
	}
	cases := []struct {
		name string
		at   []time.Duration
		want int
	}{
		{"threshold reached inside the window", []time.Duration{0, 30 * time.Second, w - time.Millisecond}, 1},
		{"first occurrence exactly one window old", []time.Duration{0, 30 * time.Second, w}, 0},
		{"one below the threshold", []time.Duration{0, 30 * time.Second}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, distinct := range []bool{false, true} {
				var r Rule = &BruteForceIP{Threshold: 3, Window: w}
				if distinct {
					r = &DistributedAttack{Threshold: 3, Window: w}
				}
				var events []secmon.Event
				for i, at := range c.at {
					ev := fail(at)
					for range i * btoi(distinct) { // distinct sources for DistributedAttack
						ev.IP = ev.IP.Next()
					}
					events = append(events, ev)
				}
				if fs := replayAll(t, newEngine(t, Config{Rules: []Rule{r}}), events); len(fs) != c.want {
					t.Errorf("%s: findings = %+v, want %d", r.Name(), fs, c.want)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Events that arrive out of order count where they belong: each counts what
// was recorded within the window at its own time. Events older than the
// window behind the newest never join it, and the clock going backwards
// neither panics nor joins occurrences a window apart nor repeats a finding
// within the cooldown.
func TestOutOfOrderAndClockBackwards(t *testing.T) {
	t.Parallel()
	for _, counters := range []string{"count", "distinct"} {
		t.Run(counters, func(t *testing.T) {
			t.Parallel()
			var r Rule = &BruteForceIP{Threshold: 3, Window: time.Minute}
			if counters == "distinct" {
				r = &CredentialStuffing{Threshold: 3, Window: time.Minute}
			}
			e := newEngine(t, Config{Rules: []Rule{r}})
			var failAs func(time.Duration, string) []secmon.Finding
			n := 0
			user := func() string { n++; return fmt.Sprint("user", n) }
			fail := func(at time.Duration) []secmon.Finding { return failAs(at, user()) }
			failAs = func(at time.Duration, u string) []secmon.Finding {
				fs, err := e.Observe(context.Background(), event(at, secmon.EventLoginFailure, "192.0.2.1", u))
				if err != nil {
					t.Fatal(err)
				}
				return fs
			}
			if fs := append(fail(10*time.Minute), fail(10*time.Minute+20*time.Second)...); len(fs) != 0 {
				t.Fatalf("early findings %+v", fs)
			}
			// The clock jumps back: these belong to windows long gone (each
			// to its own) and do not add to the current one.
			for i := range 5 {
				if fs := failAs(5*time.Minute-time.Duration(i)*2*time.Minute, "stale"); len(fs) != 0 {
					t.Fatalf("stale events gave %+v", fs)
				}
			}
			// Out of order but inside the window: it sees the occurrence at
			// 10m, not the one at 10m20s, recorded earlier but later in time.
			if fs := fail(10*time.Minute + 10*time.Second); len(fs) != 0 {
				t.Fatalf("late third occurrence counted the future: %+v", fs)
			}
			// The next event in order sees all three, and itself.
			if fs := fail(10*time.Minute + 25*time.Second); len(fs) != 1 || fs[0].Evidence["count"] != "4" {
				t.Fatalf("fourth occurrence: findings %+v, want one with count 4", fs)
			}
			// Time moves back again within the cooldown: no repeat.
			if fs := fail(10*time.Minute + 15*time.Second); len(fs) != 0 {
				t.Fatalf("repeat within the cooldown: %+v", fs)
			}
		})
	}
}

func TestImpossibleTravelGeometry(t *testing.T) {
	t.Parallel()
	login := func(at time.Duration, lat, lon float64) secmon.Event {
		e := event(at, secmon.EventLoginSuccess, "192.0.2.1", "u")
		e.Geo = secmon.Geo{Country: "XX", Latitude: lat, Longitude: lon, AccuracyKM: 5}
		return e
	}
	cases := []struct {
		name string
		a, b secmon.Event
		want int
	}{
		// 0.2° of longitude on the equator is 22 km, not 40,000.
		{"across the antimeridian", login(0, 0, 179.9), login(time.Minute, 0, -179.9), 0},
		{"over the north pole", login(0, 89.9, 0), login(time.Minute, 89.9, 180), 0},
		{"pole to pole", login(0, 90, 0), login(time.Minute, -90, 0), 1},
		{"equal timestamps, same place", login(0, 48.85, 2.35), login(0, 48.85, 2.35), 0},
		{"equal timestamps, far apart", login(0, 48.85, 2.35), login(0, -33.87, 151.21), 1},
		{"second login earlier than the first", login(time.Hour, 48.85, 2.35), login(0, -33.87, 151.21), 1},
		{"NaN latitude", login(0, math.NaN(), 2.35), login(time.Minute, -33.87, 151.21), 0},
		{"NaN then real", login(0, 48.85, math.NaN()), login(time.Minute, 48.85, 2.35), 0},
		{"latitude out of range", login(0, 91, 0), login(time.Minute, -33.87, 151.21), 0},
		{"infinite longitude", login(0, 10, math.Inf(1)), login(time.Minute, -33.87, 151.21), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, Config{Rules: []Rule{&ImpossibleTravel{}}})
			fs := replayAll(t, e, []secmon.Event{c.a, c.b})
			if len(fs) != c.want {
				t.Fatalf("findings = %+v, want %d", fs, c.want)
			}
			for _, f := range fs {
				checkFinding(t, f)
				if s := f.Evidence["speed_kmh"]; s == "NaN" || s == "" {
					t.Errorf("speed %q", s)
				}
			}
		})
	}
	// Poor accuracy anywhere silences the rule, however far the hop; huge
	// accuracy limits do not overflow.
	far := login(time.Minute, -33.87, 151.21)
	far.Geo.AccuracyKM = math.MaxInt32 + 10
	e := newEngine(t, Config{Rules: []Rule{&ImpossibleTravel{MaxAccuracyKM: math.MaxInt}}})
	if fs := replayAll(t, e, []secmon.Event{login(0, 48.85, 2.35), far}); len(fs) != 0 {
		t.Fatalf("a 2-billion-km accuracy radius still fired: %+v", fs)
	}
}

// known_countries counts the countries remembered before the login, also
// once the memory is full; countries compare without regard to case.
func TestNewCountryEvidenceAndCase(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&NewCountry{Remember: 2}}})
	login := func(at time.Duration, country string) secmon.Event {
		x := event(at, secmon.EventLoginSuccess, "", "u")
		x.Geo.Country = country
		return x
	}
	fs := replayAll(t, e, []secmon.Event{
		login(0, "FR"),
		login(time.Minute, "fr "), // the same country
		login(2*time.Minute, "DE"),
		login(3*time.Minute, "IT"), // memory full: FR and DE known before
	})
	var got []string
	for _, f := range fs {
		got = append(got, f.Evidence["country"]+"/"+f.Evidence["known_countries"])
	}
	if diff := cmp.Diff([]string{"DE/1", "IT/2"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A user who keeps logging in is remembered through a flood of one-time
// users: eviction takes the least recently seen, not the oldest inserted.
func TestNewCountryEvictsLeastRecentlySeen(t *testing.T) {
	t.Parallel()
	const maxUsers = 1000
	e := newEngine(t, Config{Rules: []Rule{&NewCountry{MaxUsers: maxUsers}}})
	r := e.rules[0].(*NewCountry)
	ctx := context.Background()
	login := func(i int, user, country string) []secmon.Finding {
		x := event(time.Duration(i)*time.Second, secmon.EventLoginSuccess, "", user)
		x.Geo.Country = country
		fs, err := e.Observe(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	login(0, "alice", "FR")
	for i := 1; i <= 20*maxUsers; i++ {
		login(i, fmt.Sprint("once-", i), "US")
		if i%100 == 0 {
			if fs := login(i, "alice", "FR"); len(fs) != 0 {
				t.Fatalf("alice's own country reported after %d users: %+v", i, fs)
			}
		}
	}
	if n := r.state.t.len(); n > maxUsers {
		t.Fatalf("remembers %d users, cap %d", n, maxUsers)
	}
	if fs := login(20*maxUsers+1, "alice", "DE"); len(fs) != 1 {
		t.Fatalf("alice was forgotten: a new country gave %+v", fs)
	}
	// The first one-time users are long gone: their next login is a first.
	if fs := login(20*maxUsers+2, "once-1", "DE"); len(fs) != 0 {
		t.Fatalf("an evicted user's login was judged: %+v", fs)
	}
}

// Addresses a host records when it could not tell the client's are not a
// source: no "ip:0.0.0.0/32" subject lumping unrelated clients together,
// and no session bound to one.
func TestUnspecifiedAddressIsNoSource(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&BruteForceIP{Threshold: 1}, &SessionHijack{}, &RateLimitAbuse{Threshold: 1}}})
	var events []secmon.Event
	for i, ip := range []string{"0.0.0.0", "::", "::ffff:0.0.0.0", "224.0.0.1", "ff02::1"} {
		ev := event(time.Duration(i)*time.Second, secmon.EventLoginFailure, ip, "u")
		ev.SessionID = "s"
		events = append(events, ev, event(time.Duration(i)*time.Second, secmon.EventRateLimited, ip, ""))
	}
	if fs := replayAll(t, e, events); len(fs) != 0 {
		t.Fatalf("findings = %+v", fs)
	}
	// The session binds to its first real address: a later change is seen.
	a := event(time.Minute, secmon.EventPageView, "192.0.2.1", "u")
	b := event(2*time.Minute, secmon.EventPageView, "198.51.100.1", "u")
	a.SessionID, b.SessionID = "s", "s"
	if got := pairs(replayAll(t, e, []secmon.Event{a, b})); len(got) != 1 || got[0] != "session_hijack session:s" {
		t.Fatalf("after the unspecified addresses: %v", got)
	}
}

// A distinct-count threshold the in-memory counters cannot reach, or a
// window beyond MaxWindow, is a configuration error, not a rule that
// silently never fires.
func TestUnreachableThresholds(t *testing.T) {
	t.Parallel()
	for _, r := range []Rule{
		&CredentialStuffing{Threshold: DefaultMaxDistinct + 1},
		&DistributedAttack{Threshold: 1000},
		&BruteForceIP{Window: MaxWindow + 1},
		&MassExport{Window: 1 << 62},
	} {
		if _, err := New(Config{Rules: []Rule{r}}); err == nil {
			t.Errorf("New accepted %T %+v", r, r)
		}
	}
	big := newMemory(t, MemoryCountersConfig{MaxDistinct: 1000})
	if _, err := New(Config{Rules: []Rule{&DistributedAttack{Threshold: 1000}}, Counters: big}); err != nil {
		t.Errorf("MaxDistinct 1000, threshold 1000: %v", err)
	}
	if _, err := New(Config{Rules: []Rule{&CredentialStuffing{Threshold: DefaultMaxDistinct, Window: MaxWindow}}}); err != nil {
		t.Errorf("threshold at MaxDistinct: %v", err)
	}
}
