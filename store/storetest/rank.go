package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

var topTests = []test{
	{"Ranking", testTopRanking},
	{"Types", testTopTypes},
	{"Limit", testTopLimit},
	{"Empty", testTopEmpty},
	{"InvalidQuery", testTopInvalid},
	{"Cancelled", testTopCancelled},
}

// topFixture stores failed logins from a few sources against a few
// accounts in [base, base+1h), plus events the ranking must leave out.
func topFixture(t *testing.T, s secmon.Store) {
	t.Helper()
	ip := netip.MustParseAddr
	var evs []secmon.Event
	add := func(min int, typ secmon.EventType, user string, addr netip.Addr) {
		evs = append(evs, secmon.Event{ID: secmon.NewID(), Time: base.Add(time.Duration(min) * time.Minute), Type: typ, UserID: user, IP: addr})
	}
	// 203.0.113.7: six failures against three accounts, the last at +30.
	for i, u := range []string{"alice", "bob", "carol", "alice", "bob", "alice"} {
		add(5*i+5, secmon.EventLoginFailure, u, ip("203.0.113.7"))
	}
	// One IPv6 /64, four addresses: four failures, all against alice.
	for i, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9", "2001:db8:1:2::1"} {
		add(40+i, secmon.EventLoginFailure, "alice", ip(a))
	}
	// A 6to4 address is its /48: two failures against dave.
	add(50, secmon.EventLoginFailure, "dave", ip("2002:c000:204::1"))
	add(51, secmon.EventLoginFailure, "dave", ip("2002:c000:204:77::1"))
	// Ties with the 6to4 group on count: 198.51.100.1 (earlier) and
	// 198.51.100.2 (same LastSeen as .1: broken by text).
	add(10, secmon.EventLoginFailure, "erin", ip("198.51.100.1"))
	add(20, secmon.EventLoginFailure, "", ip("198.51.100.1"))
	add(11, secmon.EventLoginFailure, "frank", ip("198.51.100.2"))
	add(20, secmon.EventLoginFailure, "frank", ip("198.51.100.2"))
	// Failures without an address count for the account only.
	add(55, secmon.EventLoginFailure, "bob", netip.Addr{})
	// Another type, and failures out of range, count only when asked for.
	add(56, secmon.EventLoginSuccess, "alice", ip("192.0.2.1"))
	add(57, secmon.EventLoginSuccess, "alice", ip("192.0.2.1"))
	add(58, secmon.EventLoginSuccess, "alice", ip("192.0.2.1"))
	add(-1, secmon.EventLoginFailure, "zoe", ip("192.0.2.99"))
	add(60, secmon.EventLoginFailure, "zoe", ip("192.0.2.99"))
	insertEvents(t, s, evs...)
}

func at(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }

func top(t *testing.T, s secmon.Store, q secmon.TopQuery) secmon.TopReport {
	t.Helper()
	got, err := s.Top(ctx(t), q)
	noErr(t, "Top", err)
	return got
}

func testTopRanking(t *testing.T, s secmon.Store) {
	topFixture(t, s)
	pfx := netip.MustParsePrefix
	got := top(t, s, secmon.TopQuery{From: base, To: at(60), Types: []secmon.EventType{secmon.EventLoginFailure}})
	want := secmon.TopReport{
		Sources: []secmon.TopSource{
			{Group: pfx("203.0.113.7/32"), Events: 6, Accounts: 3, LastSeen: at(30)},
			{Group: pfx("2001:db8:1:2::/64"), Events: 4, Accounts: 1, LastSeen: at(43)},
			{Group: pfx("2002:c000:204::/48"), Events: 2, Accounts: 1, LastSeen: at(51)},
			{Group: pfx("198.51.100.1/32"), Events: 2, Accounts: 1, LastSeen: at(20)},
			{Group: pfx("198.51.100.2/32"), Events: 2, Accounts: 1, LastSeen: at(20)},
		},
		Accounts: []secmon.TopAccount{
			{UserID: "alice", Events: 7, Sources: 2, LastSeen: at(43)},
			{UserID: "bob", Events: 3, Sources: 1, LastSeen: at(55)},
			{UserID: "dave", Events: 2, Sources: 1, LastSeen: at(51)},
			{UserID: "frank", Events: 2, Sources: 1, LastSeen: at(20)},
			{UserID: "carol", Events: 1, Sources: 1, LastSeen: at(15)},
			{UserID: "erin", Events: 1, Sources: 1, LastSeen: at(10)},
		},
	}
	diff(t, "Top of failed logins", want, got)
}

func testTopTypes(t *testing.T, s secmon.Store) {
	topFixture(t, s)
	got := top(t, s, secmon.TopQuery{From: base, To: at(60), Types: []secmon.EventType{secmon.EventLoginSuccess}})
	want := secmon.TopReport{
		Sources:  []secmon.TopSource{{Group: netip.MustParsePrefix("192.0.2.1/32"), Events: 3, Accounts: 1, LastSeen: at(58)}},
		Accounts: []secmon.TopAccount{{UserID: "alice", Events: 3, Sources: 1, LastSeen: at(58)}},
	}
	diff(t, "Top of successful logins", want, got)

	// No types: every type counts; alice gains the three successes and
	// their source.
	all := top(t, s, secmon.TopQuery{From: base, To: at(61)})
	if len(all.Accounts) == 0 || all.Accounts[0].UserID != "alice" || all.Accounts[0].Events != 10 || all.Accounts[0].Sources != 3 {
		t.Errorf("Top of every type: first account %+v, want alice with 10 events from 3 sources", first(all.Accounts))
	}
	if n := len(all.Sources); n != 7 {
		t.Errorf("Top of every type ranked %d sources, want 7 (with 192.0.2.1 and 192.0.2.99)", n)
	}
}

func first[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

func testTopLimit(t *testing.T, s secmon.Store) {
	topFixture(t, s)
	got := top(t, s, secmon.TopQuery{From: base, To: at(60), Types: []secmon.EventType{secmon.EventLoginFailure}, Limit: 2})
	if len(got.Sources) != 2 || len(got.Accounts) != 2 {
		t.Fatalf("Limit 2 gave %d sources and %d accounts", len(got.Sources), len(got.Accounts))
	}
	if got.Sources[1].Group.String() != "2001:db8:1:2::/64" || got.Accounts[1].UserID != "bob" {
		t.Errorf("Limit 2 kept %v and %v; want the first two of the full ranking", got.Sources, got.Accounts)
	}

	// Limit 0 means DefaultTopLimit, and more than MaxTopLimit is capped.
	var evs []secmon.Event
	for i := range secmon.MaxTopLimit + 5 {
		evs = append(evs, secmon.Event{ID: secmon.NewID(), Time: at(70), Type: secmon.EventAccessDenied,
			UserID: fmt.Sprintf("u%03d", i), IP: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})})
	}
	insertEvents(t, s, evs...)
	q := secmon.TopQuery{From: at(70), To: at(71)}
	if got := top(t, s, q); len(got.Sources) != secmon.DefaultTopLimit || len(got.Accounts) != secmon.DefaultTopLimit {
		t.Errorf("Limit 0 gave %d sources and %d accounts, want %d", len(got.Sources), len(got.Accounts), secmon.DefaultTopLimit)
	}
	q.Limit = 10 * secmon.MaxTopLimit
	got = top(t, s, q)
	if len(got.Sources) != secmon.MaxTopLimit || len(got.Accounts) != secmon.MaxTopLimit {
		t.Errorf("Limit %d gave %d sources and %d accounts, want %d", q.Limit, len(got.Sources), len(got.Accounts), secmon.MaxTopLimit)
	}
	// Equal counts and times: byte-wise order of the keys.
	if got.Accounts[0].UserID != "u000" || got.Accounts[1].UserID != "u001" || got.Sources[0].Group.String() != "10.9.0.0/32" {
		t.Errorf("ties not broken by key: %v … %v …", got.Accounts[0], got.Sources[0])
	}
}

func testTopEmpty(t *testing.T, s secmon.Store) {
	topFixture(t, s)
	got := top(t, s, secmon.TopQuery{From: at(120), To: at(180)})
	diff(t, "Top of an empty range", secmon.TopReport{}, got)
	got = top(t, s, secmon.TopQuery{From: base, To: base})
	diff(t, "Top of a zero-length range", secmon.TopReport{}, got)
}

func testTopInvalid(t *testing.T, s secmon.Store) {
	for name, q := range map[string]secmon.TopQuery{
		"to before from": {From: at(10), To: at(5)},
		"no from":        {To: at(5)},
		"no to":          {From: at(5)},
	} {
		_, err := s.Top(ctx(t), q)
		wantErrIs(t, "Top with "+name, err, secmon.ErrInvalid)
	}
}

func testTopCancelled(t *testing.T, s secmon.Store) {
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := s.Top(c, secmon.TopQuery{From: base, To: at(60)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Top with a cancelled context: %v, want context.Canceled", err)
	}
}
