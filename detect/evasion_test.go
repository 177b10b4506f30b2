package detect

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/secmon-go/secmon"
)

// oneRules is every built-in rule with its thresholds at 1 (or as low as
// they go), so that any event a rule looks at produces a finding.
func oneRules() []Rule {
	return []Rule{
		&BruteForceIP{Threshold: 1},
		&BruteForceAccount{Threshold: 1},
		&CredentialStuffing{Threshold: 1},
		&DistributedAttack{Threshold: 1},
		&ImpossibleTravel{MinDistanceKM: 1e-9},
		&NewCountry{},
		&NewDevice{},
		&SessionHijack{},
		&PrivilegeEscalation{},
		&MassExport{Threshold: 1},
		&UploadAttack{Threshold: 1},
		&RateLimitAbuse{Threshold: 1},
		&AccessProbing{Threshold: 1},
	}
}

// An attacker who sends one account's name as "Bob", "bob ", " BOB" …
// still attacks one account: brute_force_account and distributed_attack
// count the variants together, and credential_stuffing does not mistake
// them for distinct accounts.
func TestUserNameVariantsAreOneAccount(t *testing.T) {
	t.Parallel()
	variants := []string{"Bob", "bob ", " BOB", "bob\t", "bOb", "\u00a0bob"}
	rules := func() []Rule {
		return []Rule{
			&BruteForceAccount{Threshold: 5},
			&DistributedAttack{Threshold: 5},
			&CredentialStuffing{Threshold: 2},
		}
	}
	var spread, oneSource []secmon.Event
	for i, u := range variants {
		spread = append(spread, event(time.Duration(i)*time.Second, secmon.EventLoginFailure, fmt.Sprintf("198.51.100.%d", i+1), u))
		oneSource = append(oneSource, event(time.Duration(i)*time.Second, secmon.EventLoginFailure, "203.0.113.5", u))
	}
	fs := replayAll(t, newEngine(t, Config{Rules: rules()}), spread)
	want := []string{"brute_force_account user:bob", "distributed_attack user:bob"}
	if diff := cmp.Diff(want, pairs(fs)); diff != "" {
		t.Errorf("variants from many sources (-want +got):\n%s", diff)
	}
	// One source cycling through the variants fails against one account,
	// not six: no credential stuffing.
	fs = replayAll(t, newEngine(t, Config{Rules: rules()}), oneSource)
	if got := only(fs, RuleCredentialStuffing); len(got) != 0 {
		t.Errorf("case variants counted as distinct accounts: %+v", got)
	}
	// A host whose accounts differ by case keeps them apart.
	fs = replayAll(t, newEngine(t, Config{Rules: rules(), CaseSensitiveUsers: true}), spread)
	if got := only(fs, RuleBruteForceAccount); len(got) != 0 {
		t.Errorf("CaseSensitiveUsers: %+v", got)
	}
	if got := only(replayAll(t, newEngine(t, Config{Rules: rules(), CaseSensitiveUsers: true}), oneSource), RuleCredentialStuffing); len(got) != 1 {
		t.Errorf("CaseSensitiveUsers: credential stuffing findings %+v, want 1", got)
	}
}

// A self-grant stays a self-grant when the actor's name is a case or white
// space variant of the user's.
func TestPrivilegeSelfGrantVariant(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&PrivilegeEscalation{}}})
	ev := event(0, secmon.EventRoleChange, "", "bob")
	ev.Metadata = map[string]string{"actor_id": " Bob", "new_role": "admin"}
	fs := replayAll(t, e, []secmon.Event{ev})
	if len(fs) != 1 || fs[0].Severity != secmon.SeverityCritical {
		t.Fatalf("findings = %+v", fs)
	}
}

// An IPv4 address written as IPv4-mapped IPv6 is the same source, for the
// counting rules and for a session's binding.
func TestIPv4MappedIsOneSource(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&BruteForceIP{Threshold: 4}, &SessionHijack{}}})
	var events []secmon.Event
	for i := range 4 {
		ip := "192.0.2.7"
		if i%2 == 1 {
			ip = "::ffff:192.0.2.7"
		}
		ev := event(time.Duration(i)*time.Second, secmon.EventLoginFailure, ip, "")
		ev.SessionID = "s1"
		events = append(events, ev)
	}
	fs := replayAll(t, e, events)
	if diff := cmp.Diff([]string{"brute_force_ip ip:192.0.2.7/32"}, pairs(fs)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A zone does not make a new source either.
	a := event(time.Minute, secmon.EventPageView, "fe80::1%eth0", "")
	b := event(time.Minute+time.Second, secmon.EventPageView, "fe80::2%eth1", "")
	a.SessionID, b.SessionID = "s2", "s2"
	if fs := replayAll(t, e, []secmon.Event{a, b}); len(fs) != 0 {
		t.Errorf("zones split one /64: %+v", fs)
	}
}

// hostile returns events no rule should choke on: missing and invalid
// addresses, missing, blank, over-long, control-laden and invalid UTF-8
// user and session IDs, and over-long metadata.
func hostile() []secmon.Event {
	long := strings.Repeat("A", 10_000)
	users := []string{"", "   ", "\t\n", long, "bob\x1b[2J\u202eevil", "\xff\xfe\xfd", strings.Repeat("\xff", 300), "ok"}
	ips := []netip.Addr{{}, netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("2001:db8::1%zone")}
	types := []secmon.EventType{
		secmon.EventLoginFailure, secmon.EventLoginSuccess, secmon.EventRoleChange, secmon.EventExport,
		secmon.EventUploadBlocked, secmon.EventRateLimited, secmon.EventAccessDenied, secmon.EventPageView,
		secmon.EventLogout,
	}
	var out []secmon.Event
	i := 0
	for _, typ := range types {
		for _, u := range users {
			for _, ip := range ips {
				i++
				out = append(out, secmon.Event{
					Time:        t0.Add(time.Duration(i) * time.Second),
					Type:        typ,
					UserID:      u,
					SessionID:   []string{"", "  ", long, "s\x00id", "sess"}[i%5],
					IP:          ip,
					UserAgent:   fmt.Sprint("ua", i%3),
					Fingerprint: fmt.Sprint("fp", i%4),
					Geo:         secmon.Geo{Country: []string{"", "fr", long, "DE"}[i%4], Latitude: float64(i%7) * 10, Longitude: float64(i%5) * 30},
					Metadata:    map[string]string{"actor_id": long + "\x07", "old_role": "\xff" + long, "new_role": []string{"admin", long}[i%2], "secret": "hunter2"},
				})
			}
		}
	}
	return out
}

// checkFinding fails t when f carries a bogus subject or unbounded,
// unprintable or raw metadata text.
func checkFinding(t *testing.T, f secmon.Finding) {
	t.Helper()
	prefix, rest, ok := strings.Cut(f.Subject, ":")
	switch {
	case !ok || rest == "":
		t.Errorf("%s: subject %q has no value", f.Rule, f.Subject)
	case prefix+":" == SubjectIP:
		if p, err := netip.ParsePrefix(rest); err != nil || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Errorf("%s: subject %q is not an IP group", f.Rule, f.Subject)
		}
	case prefix+":" == SubjectUser || prefix+":" == SubjectSession:
		if len(rest) > MaxUserKeyLen || strings.TrimSpace(rest) != rest || cleanValue(rest, MaxUserKeyLen) != rest {
			t.Errorf("%s: subject %q is not a clean key", f.Rule, f.Subject)
		}
	default:
		t.Errorf("%s: subject %q has an unknown prefix", f.Rule, f.Subject)
	}
	if len(f.Summary) > 200 || !utf8.ValidString(f.Summary) || strings.Contains(f.Summary, "hunter2") || strings.Contains(f.Summary, strings.Repeat("A", 16)) {
		t.Errorf("%s: summary %q", f.Rule, f.Summary)
	}
	for k, v := range f.Evidence {
		if len(v) > MaxUserKeyLen || cleanValue(v, MaxUserKeyLen) != v || v == "hunter2" {
			t.Errorf("%s: evidence %s = %q (%d bytes)", f.Rule, k, v, len(v))
		}
	}
}

// Events with missing or hostile fields never panic, never fail the
// counters, and never produce subjects such as "user:" or "ip:invalid";
// every finding's text is bounded and printable.
func TestHostileEventsGiveCleanFindings(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: oneRules(), Cooldown: time.Nanosecond})
	fs, err := Replay(context.Background(), e, hostile())
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if st := e.Stats(); st.RuleErrors != 0 || st.CounterErrors != 0 {
		t.Fatalf("stats = %+v", st)
	}
	rules := map[secmon.RuleName]bool{}
	for _, f := range fs {
		checkFinding(t, f)
		rules[f.Rule] = true
	}
	// The test means something only if the hostile events reach the rules.
	for _, r := range oneRules() {
		if r.Name() != RuleImpossibleTravel && !rules[r.Name()] {
			t.Errorf("no %s finding from the hostile events", r.Name())
		}
	}
}

// FuzzObserve feeds arbitrary identifiers, addresses, user agents, geo and
// metadata to every rule at threshold one and checks the findings' shape.
func FuzzObserve(f *testing.F) {
	f.Add("login_failure", "Bob ", "s1", "192.0.2.1", "ua", "fr", 48.8, 2.3, "admin", "boss")
	f.Add("role_change", "", "", "", "", "", 0.0, 0.0, "\xff\xfe", "")
	f.Add("login_success", "\u202ebob", "  ", "::ffff:1.2.3.4", "\x00", "\x1b", 91.0, -181.0, "root", "\u200bbob")
	f.Add("upload_blocked", strings.Repeat("x", 600), strings.Repeat("y", 600), "fe80::1%eth0", "", "DE", -90.0, 180.0, "", "")
	f.Fuzz(func(t *testing.T, typ, user, session, ip, ua, country string, lat, lon float64, role, actor string) {
		if !secmon.EventType(typ).Valid() {
			typ = string(secmon.EventLoginFailure)
		}
		e := newEngine(t, Config{Rules: oneRules(), Cooldown: time.Nanosecond})
		addr, _ := netip.ParseAddr(ip)
		base := secmon.Event{
			Type: secmon.EventType(typ), UserID: user, SessionID: session, IP: addr, UserAgent: ua, Fingerprint: ua,
			Geo:      secmon.Geo{Country: country, Latitude: lat, Longitude: lon},
			Metadata: map[string]string{"new_role": role, "actor_id": actor},
		}
		for i := range 3 {
			ev := base
			ev.Time = t0.Add(time.Duration(i) * time.Second)
			if i == 1 { // the same user from elsewhere
				ev.IP = netip.MustParseAddr("2001:db8::1")
				ev.UserAgent = ua + "x"
				ev.Geo = secmon.Geo{Country: "ZZ", Latitude: -lat, Longitude: lon + 90}
			}
			fs, err := e.Observe(context.Background(), ev)
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			for _, f := range fs {
				checkFinding(t, f)
			}
		}
	})
}
