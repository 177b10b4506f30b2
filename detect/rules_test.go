package detect

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/secmon-go/secmon"
)

// A thousand failed logins from one address within one window are one
// finding; as the attack goes on, one more per window, each suggesting a
// block twice as long as the last.
func TestOneFindingPerWindow(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{})
	var events []secmon.Event
	for i := range 1000 { // 1,000 failures in 4m10s
		events = append(events, event(time.Duration(i)*250*time.Millisecond, secmon.EventLoginFailure, "203.0.113.9", ""))
	}
	fs := only(replayAll(t, e, events), RuleBruteForceIP)
	if len(fs) != 1 {
		t.Fatalf("1,000 failures in one window gave %d findings, want 1", len(fs))
	}
	if f := fs[0]; f.Subject != "ip:203.0.113.9/32" || f.Evidence["count"] != "5" || f.Action != (secmon.Action{Kind: secmon.ActionBlock, Duration: 15 * time.Minute}) ||
		len(f.Sources) != 1 || f.Sources[0] != (secmon.Source{Group: netip.MustParsePrefix("203.0.113.9/32"), Count: 5}) {
		t.Errorf("finding = %+v", f)
	}
	if got := e.Stats().Suppressed; got != 995 {
		t.Errorf("Suppressed = %d, want 995", got)
	}

	// The attack continues at 4 failures a minute for 40 more minutes: one
	// finding per 10-minute window.
	events = events[:0]
	for i := range 160 {
		events = append(events, event(5*time.Minute+time.Duration(i)*15*time.Second, secmon.EventLoginFailure, "203.0.113.9", ""))
	}
	fs = only(replayAll(t, e, events), RuleBruteForceIP)
	var blocks []time.Duration
	for _, f := range fs {
		blocks = append(blocks, f.Action.Duration)
	}
	want := []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour}
	if diff := cmp.Diff(want, blocks); diff != "" {
		t.Errorf("escalating blocks (-want +got):\n%s", diff)
	}
}

func TestHostThresholds(t *testing.T) {
	t.Parallel()
	rules := []Rule{
		&BruteForceIP{Threshold: 3, Window: time.Minute, Block: -1},
		&BruteForceAccount{Threshold: 100},
	}
	e := newEngine(t, Config{Rules: rules})
	var events []secmon.Event
	for i := range 3 {
		events = append(events, event(time.Duration(i)*10*time.Second, secmon.EventLoginFailure, "192.0.2.1", "u"))
	}
	fs := replayAll(t, e, events)
	if len(fs) != 1 || fs[0].Rule != RuleBruteForceIP || fs[0].Action != (secmon.Action{Kind: secmon.ActionNotify}) ||
		fs[0].Evidence["window"] != "1m0s" || fs[0].Evidence["threshold"] != "3" {
		t.Fatalf("findings = %+v", fs)
	}
	// Two failures 61 seconds apart never meet in a one-minute window.
	e = newEngine(t, Config{Rules: []Rule{&BruteForceIP{Threshold: 2, Window: time.Minute}}})
	fs = replayAll(t, e, []secmon.Event{
		event(0, secmon.EventLoginFailure, "192.0.2.1", ""),
		event(61*time.Second, secmon.EventLoginFailure, "192.0.2.1", ""),
	})
	if len(fs) != 0 {
		t.Fatalf("findings = %+v", fs)
	}
}

func TestRuleValidate(t *testing.T) {
	t.Parallel()
	bad := []Rule{
		&BruteForceIP{Threshold: -1},
		&BruteForceAccount{Window: -time.Second},
		&CredentialStuffing{Threshold: -2},
		&DistributedAttack{Window: -1},
		&MassExport{Threshold: -5},
		&UploadAttack{Window: -1},
		&RateLimitAbuse{Threshold: -1},
		&AccessProbing{Window: -1},
		&ImpossibleTravel{MaxSpeedKMH: -1},
		&ImpossibleTravel{MaxAccuracyKM: -1},
		&NewCountry{Remember: MaxRemember + 1},
		&NewDevice{MaxUsers: -1},
		&SessionHijack{Repeat: -time.Second},
	}
	for _, r := range bad {
		if _, err := New(Config{Rules: []Rule{r}}); err == nil {
			t.Errorf("New accepted %T %+v", r, r)
		}
	}
	if _, err := New(Config{Rules: Defaults()}); err != nil {
		t.Errorf("Defaults: %v", err)
	}
}

func TestDefaultsNamesAreStable(t *testing.T) {
	t.Parallel()
	var names []secmon.RuleName
	for _, r := range Defaults() {
		names = append(names, r.Name())
	}
	want := []secmon.RuleName{
		RuleBruteForceIP, RuleBruteForceAccount, RuleCredentialStuffing, RuleDistributedAttack,
		RuleImpossibleTravel, RuleNewCountry, RuleNewDevice, RuleSessionHijack, RulePrivilegeEscalation,
		RuleMassExport, RuleUploadAttack, RuleRateLimitAbuse, RuleAccessProbing,
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatal(diff)
	}
	for _, n := range names {
		if !secmon.EventType(n).Valid() { // same snake_case shape
			t.Errorf("rule name %q is not snake_case", n)
		}
	}
}

func TestPrivilegeEscalationEvidence(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&PrivilegeEscalation{}}})
	ev := func(user, actor, newRole string) secmon.Event {
		x := event(0, secmon.EventRoleChange, "", user)
		x.Metadata = map[string]string{"actor_id": actor, "old_role": "member", "new_role": newRole, "password": "hunter2"}
		return x
	}
	fs := replayAll(t, e, []secmon.Event{
		ev("a", "boss", "admin"),
		ev("b", "b", "ROOT"),
		ev("c", "", "owner"),
		ev("d", "boss", "editor\x1b[31m"+strings.Repeat("x", 200)),
	})
	sev := []secmon.Severity{secmon.SeverityHigh, secmon.SeverityCritical, secmon.SeverityCritical, secmon.SeverityMedium}
	if len(fs) != 4 {
		t.Fatalf("findings = %+v", fs)
	}
	for i, f := range fs {
		if f.Severity != sev[i] {
			t.Errorf("finding %d severity %v, want %v", i, f.Severity, sev[i])
		}
		if strings.Contains(f.Summary, "admin") || strings.Contains(f.Summary, "boss") || strings.Contains(f.Summary, "hunter2") {
			t.Errorf("summary leaks metadata: %q", f.Summary)
		}
		if _, ok := f.Evidence["password"]; ok {
			t.Errorf("evidence carries unrelated metadata: %v", f.Evidence)
		}
	}
	if got := fs[0].Evidence; got["actor_id"] != "boss" || got["old_role"] != "member" || got["new_role"] != "admin" {
		t.Errorf("evidence = %v", got)
	}
	if nr := fs[3].Evidence["new_role"]; len(nr) > 64 || strings.ContainsRune(nr, 0x1b) {
		t.Errorf("new_role evidence not cleaned: %q", nr)
	}
}

func TestImpossibleTravelEdges(t *testing.T) {
	t.Parallel()
	login := func(at time.Duration, lat, lon float64, acc int) secmon.Event {
		e := event(at, secmon.EventLoginSuccess, "192.0.2.1", "u")
		e.Geo = secmon.Geo{Country: "XX", Latitude: lat, Longitude: lon, AccuracyKM: acc}
		return e
	}
	cases := []struct {
		name   string
		events []secmon.Event
		want   int
	}{
		{"same instant far apart", []secmon.Event{login(0, 48.85, 2.35, 10), login(0, 40.71, -74.0, 10)}, 1},
		{"short hop fast", []secmon.Event{login(0, 48.85, 2.35, 10), login(time.Minute, 49.5, 2.35, 10)}, 0},
		{"far even after both radii", []secmon.Event{login(0, 48.85, 2.35, 100), login(time.Minute, 52.52, 13.40, 100)}, 1},
		{"vague second login skipped", []secmon.Event{login(0, 48.85, 2.35, 10), login(time.Minute, 40.71, -74.0, 101)}, 0},
		{"no coordinates", []secmon.Event{login(0, 0, 0, 0), login(time.Minute, 40.71, -74.0, 10)}, 0},
		{"exactly at speed limit", []secmon.Event{login(0, 0, 0.001, 0), login(10*time.Hour, 0, 89.93, 0)}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, Config{Rules: []Rule{&ImpossibleTravel{}}})
			if fs := replayAll(t, e, c.events); len(fs) != c.want {
				t.Errorf("findings = %+v, want %d", fs, c.want)
			}
		})
	}
	if d := haversineKM(48.8566, 2.3522, -33.8688, 151.2093); d < 16900 || d > 17000 {
		t.Errorf("Paris–Sydney = %.0f km", d)
	}
}

func TestNewCountryRemembersBounded(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&NewCountry{Remember: 2, MaxUsers: 1}}})
	login := func(at time.Duration, user, country string) secmon.Event {
		x := event(at, secmon.EventLoginSuccess, "", user)
		x.Geo.Country = country
		return x
	}
	fs := replayAll(t, e, []secmon.Event{
		login(0, "u", "FR"),             // first login: not new
		login(1*time.Minute, "u", "DE"), // new (remembers DE, FR)
		login(2*time.Minute, "u", "IT"), // new (IT, DE; FR forgotten)
		login(3*time.Minute, "u", "FR"), // new again
		login(4*time.Minute, "v", "US"), // v is first login; u is evicted (MaxUsers 1)
		login(5*time.Minute, "u", "ES"), // u forgotten: a first login again
	})
	got := []string{}
	for _, f := range fs {
		got = append(got, f.Evidence["country"])
	}
	if diff := cmp.Diff([]string{"DE", "IT", "FR"}, got); diff != "" {
		t.Errorf("new countries (-want +got):\n%s", diff)
	}
}

func TestSessionHijackBothChanged(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&SessionHijack{}}})
	a := event(0, secmon.EventPageView, "192.0.2.1", "u")
	a.SessionID, a.UserAgent = "s", "A"
	b := event(time.Second, secmon.EventPageView, "192.0.2.2", "u")
	b.SessionID, b.UserAgent = "s", "B"
	c := b
	c.Time = t0.Add(2 * time.Hour) // after the repeat interval
	fs := replayAll(t, e, []secmon.Event{a, b, b, c})
	if len(fs) != 2 || fs[0].Severity != secmon.SeverityCritical || fs[0].Evidence["changed"] != "ip_group,user_agent" ||
		fs[0].Evidence["previous_ip_group"] != "192.0.2.1/32" {
		t.Fatalf("findings = %+v", fs)
	}
	ignoring := newEngine(t, Config{Rules: []Rule{&SessionHijack{IgnoreUserAgent: true}}})
	b.IP = a.IP
	if fs := replayAll(t, ignoring, []secmon.Event{a, b}); len(fs) != 0 {
		t.Fatalf("IgnoreUserAgent: findings = %+v", fs)
	}
}

func TestUploadAttackSubjects(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&UploadAttack{Threshold: 2}}})
	fs := replayAll(t, e, []secmon.Event{
		event(0, secmon.EventUploadBlocked, "192.0.2.1", "u1"),
		event(time.Second, secmon.EventUploadBlocked, "192.0.2.1", "u2"),   // IP group: 2
		event(2*time.Second, secmon.EventUploadBlocked, "192.0.2.9", "u2"), // user u2: 2
	})
	if diff := cmp.Diff([]string{"upload_attack ip:192.0.2.1/32", "upload_attack user:u2"}, pairs(fs)); diff != "" {
		t.Fatal(diff)
	}
	_ = context.Background
}

// Every built-in rule name is a secmon.RuleName, not an untyped string a
// typo could be compared with.
func TestRuleNamesAreTyped(t *testing.T) {
	t.Parallel()
	for _, name := range []any{
		RuleBruteForceIP, RuleBruteForceAccount, RuleCredentialStuffing, RuleDistributedAttack,
		RuleImpossibleTravel, RuleNewCountry, RuleNewDevice, RuleSessionHijack, RulePrivilegeEscalation,
		RuleMassExport, RuleUploadAttack, RuleRateLimitAbuse, RuleAccessProbing,
	} {
		if _, ok := name.(secmon.RuleName); !ok {
			t.Errorf("%v is a %T, not a secmon.RuleName", name, name)
		}
	}
}
