package detect

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/secmon-go/secmon"
)

func src(group string, n int64) secmon.Source {
	return secmon.Source{Group: netip.MustParsePrefix(group), Count: n}
}

var cmpSources = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

// Account-level findings name the IP groups that attacked the account,
// busiest first (ties: most recent first), in Sources and in the "sources"
// evidence; IPv6 addresses of one /64 are one source.
func TestAccountFindingsNameSources(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&BruteForceAccount{}, &DistributedAttack{}}})
	var events []secmon.Event
	for i, ip := range []string{"203.0.113.7", "203.0.113.7", "2001:db8:1:2::1", "2001:db8:1:2::99", "2001:db8:1:2::5",
		"198.51.100.4", "192.0.2.8", "192.0.2.9"} {
		events = append(events, event(time.Duration(i)*10*time.Second, secmon.EventLoginFailure, ip, "Carol"))
	}
	fs := replayAll(t, e, events)
	want := map[secmon.RuleName]struct {
		srcs []secmon.Source
		ev   string
	}{
		// At the fifth failure.
		RuleBruteForceAccount: {[]secmon.Source{src("2001:db8:1:2::/64", 3), src("203.0.113.7/32", 2)},
			"2001:db8:1:2::/64=3,203.0.113.7/32=2"},
		// At the fifth distinct group.
		RuleDistributedAttack: {[]secmon.Source{src("2001:db8:1:2::/64", 3), src("203.0.113.7/32", 2),
			src("192.0.2.9/32", 1), src("192.0.2.8/32", 1), src("198.51.100.4/32", 1)},
			"2001:db8:1:2::/64=3,203.0.113.7/32=2,192.0.2.9/32=1,192.0.2.8/32=1,198.51.100.4/32=1"},
	}
	if len(fs) != len(want) {
		t.Fatalf("findings %v, want brute_force_account and distributed_attack", pairs(fs))
	}
	for _, f := range fs {
		w := want[f.Rule]
		if f.Subject != "user:carol" {
			t.Errorf("%s subject %q", f.Rule, f.Subject)
		}
		if d := cmp.Diff(w.srcs, f.Sources, cmpSources); d != "" {
			t.Errorf("%s sources (-want +got):\n%s", f.Rule, d)
		}
		if f.Evidence["sources"] != w.ev {
			t.Errorf("%s evidence sources = %q, want %q", f.Rule, f.Evidence["sources"], w.ev)
		}
	}
}

// A distributed attack from many groups names the busiest
// MaxFindingSources of them; a group quiet for a whole window starts
// counting afresh; and the sources of one account never leak into another's.
func TestAccountSourcesBounded(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&DistributedAttack{Threshold: 30}}})
	var events []secmon.Event
	at := time.Duration(0)
	fail := func(ip, user string) {
		at += time.Second
		events = append(events, event(at, secmon.EventLoginFailure, ip, user))
	}
	fail("198.51.100.1", "dave") // 20 minutes before the attack: out of the window
	at += 20 * time.Minute
	for range 3 {
		fail("198.51.100.1", "dave")
		fail("203.0.113.200", "erin") // another account's attacker
	}
	for i := range 40 {
		fail(fmt.Sprintf("192.0.2.%d", i+1), "dave")
	}
	var f *secmon.Finding
	for _, x := range replayAll(t, e, events) {
		if x.Subject == "user:dave" {
			f = &x
		}
	}
	if f == nil {
		t.Fatal("no distributed_attack finding for dave")
	}
	if len(f.Sources) != secmon.MaxFindingSources {
		t.Fatalf("%d sources, want %d", len(f.Sources), secmon.MaxFindingSources)
	}
	if f.Sources[0] != src("198.51.100.1/32", 3) {
		t.Errorf("busiest source %+v, want 198.51.100.1/32 with 3 (the failure 20 minutes earlier is outside the window)", f.Sources[0])
	}
	for _, s := range f.Sources {
		if s.Group == netip.MustParsePrefix("203.0.113.200/32") {
			t.Errorf("erin's attacker is named in dave's finding")
		}
	}
}

// Findings of rules that track no sources name the group of the event that
// triggered them.
func TestFindingsDefaultToTheEventsGroup(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{Rules: []Rule{&MassExport{Threshold: 2}}})
	fs := replayAll(t, e, []secmon.Event{
		event(0, secmon.EventExport, "2001:db8:9:9::1", "frank"),
		event(time.Second, secmon.EventExport, "2001:db8:9:9::2", "frank"),
	})
	if len(fs) != 1 {
		t.Fatalf("findings %v", pairs(fs))
	}
	if d := cmp.Diff([]secmon.Source{src("2001:db8:9:9::/64", 1)}, fs[0].Sources, cmpSources); d != "" {
		t.Errorf("sources (-want +got):\n%s", d)
	}
}
