package guard_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
)

// A finding becomes a block enforced here at once, written to the store
// and logged as ip_blocked.
func TestFindingBecomesBlock(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	f.g.HandleFinding(bruteForce("203.0.113.7"))
	flush(t, f.g)
	b, ok := f.g.Check(addr("203.0.113.7"), "")
	if !ok {
		t.Fatal("the attacker is not blocked")
	}
	want := secmon.Block{
		Scope: secmon.ScopeIP, Subject: "ip:203.0.113.7/32", Prefix: prefix("203.0.113.7/32"),
		Rule: "brute_force_ip", Origin: secmon.OriginRule, Level: 1, Created: t0, Until: t0.Add(15 * time.Minute),
		By: "rule:brute_force_ip", Reason: "5 failed logins from 203.0.113.7/32 within 10m0s",
	}
	want.ID = b.ID
	if b != want {
		t.Errorf("block = %+v\nwant    %+v", b, want)
	}
	if blocked(f.g, "203.0.113.8") {
		t.Error("a neighbour is blocked")
	}
	stored, err := f.store.Blocks(t.Context(), secmon.BlockQuery{})
	if err != nil || len(stored) != 1 || stored[0].ID != b.ID {
		t.Fatalf("store holds %v, %v", stored, err)
	}
	evs := f.events.of(secmon.EventIPBlocked)
	if len(evs) != 1 {
		t.Fatalf("%d ip_blocked events", len(evs))
	}
	e := evs[0]
	if e.IP != addr("203.0.113.7") || e.Metadata["block_id"] != b.ID.String() || e.Metadata["origin"] != "rule" ||
		e.Metadata["rule"] != "brute_force_ip" || e.Metadata["actor_id"] != "rule:brute_force_ip" || e.Metadata["level"] != "1" ||
		e.Metadata["duration"] != "15m0s" || e.Metadata["prefix_len"] != "32" {
		t.Errorf("ip_blocked event = %+v", e)
	}
	for k := range e.Metadata {
		if !contains(secmon.DefaultMetadataKeys, k) {
			t.Errorf("metadata key %q is not in secmon.DefaultMetadataKeys: the privacy policy would drop it", k)
		}
	}
	// The same finding again while the block holds changes nothing.
	f.g.HandleFinding(bruteForce("203.0.113.7"))
	flush(t, f.g)
	if s := f.g.Stats(); s.AlreadyBlocked != 1 || s.BlocksDecided != 1 || s.BlocksActive != 1 {
		t.Errorf("stats after a repeat: %+v", s)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Expiry and escalation run on the injected clock: a block ends at its
// Until, and a repeat offender's next block is twice as long, up to the
// policy's maximum; a subject quiet for longer than History starts again.
func TestEscalation(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) {
		c.History = 24 * time.Hour
		c.Policies = guard.DefaultPolicies()
		c.Policies["brute_force_ip"] = guard.Policy{Duration: 15 * time.Minute, MaxDuration: 2 * time.Hour}
	})
	var got []time.Duration
	var levels []int
	for range 6 {
		f.g.HandleFinding(bruteForce("198.51.100.9"))
		flush(t, f.g)
		b, ok := f.g.Check(addr("198.51.100.9"), "")
		if !ok {
			t.Fatal("not blocked after a finding")
		}
		got = append(got, b.Until.Sub(b.Created))
		levels = append(levels, b.Level)
		f.clock.Set(b.Until.Add(-time.Nanosecond))
		if !blocked(f.g, "198.51.100.9") {
			t.Fatal("unblocked before Until")
		}
		f.clock.Set(b.Until)
		if blocked(f.g, "198.51.100.9") {
			t.Fatal("still blocked at Until")
		}
		f.clock.Advance(time.Minute)
	}
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 2 * time.Hour, 2 * time.Hour}
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(levels) != "[1 2 3 4 5 6]" {
		t.Fatalf("durations %v levels %v, want %v and 1…6", got, levels, want)
	}
	// After a quiet day the subject starts again at level 1.
	f.clock.Advance(25 * time.Hour)
	f.g.HandleFinding(bruteForce("198.51.100.9"))
	flush(t, f.g)
	if b, _ := f.g.Check(addr("198.51.100.9"), ""); b.Level != 1 || b.Until.Sub(b.Created) != 15*time.Minute {
		t.Errorf("after History: level %d, %v", b.Level, b.Until.Sub(b.Created))
	}
}

// A lifted block does not count towards escalation, as fail2ban forgets
// a ban an operator lifts.
func TestLiftedBlockDoesNotEscalate(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	f.g.HandleFinding(bruteForce("192.0.2.44"))
	flush(t, f.g)
	b, _ := f.g.Check(addr("192.0.2.44"), "")
	if err := f.g.Lift(t.Context(), b.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if blocked(f.g, "192.0.2.44") {
		t.Fatal("still blocked after the lift")
	}
	f.clock.Advance(time.Minute)
	f.g.HandleFinding(bruteForce("192.0.2.44"))
	flush(t, f.g)
	if b2, ok := f.g.Check(addr("192.0.2.44"), ""); !ok || b2.Level != 1 || b2.ID == b.ID {
		t.Errorf("after a lift the next block is %+v, want a new level-1 block", b2)
	}
}

// An attacker rotating through the addresses of one IPv6 /64 stays
// blocked; the neighbouring /64 does not.
func TestIPv6RotationStaysBlocked(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	f.g.HandleFinding(bruteForce("2001:db8:aa:bb::1"))
	flush(t, f.g)
	rng := rand.New(rand.NewPCG(7, 7))
	base := addr("2001:db8:aa:bb::").As16()
	for range 1000 {
		a := base
		for i := 8; i < 16; i++ {
			a[i] = byte(rng.Uint32())
		}
		if ip := netip.AddrFrom16(a); !blocked(f.g, ip.String()) {
			t.Fatalf("%s, inside the blocked /64, passed", ip)
		}
	}
	for _, ip := range []string{"2001:db8:aa:bc::1", "2001:db8:aa:ba:ffff:ffff:ffff:ffff", "2001:db8:aa::"} {
		if blocked(f.g, ip) {
			t.Errorf("%s, outside the /64, is blocked", ip)
		}
	}
	// A manual block given one IPv6 address blocks its /64 too.
	b, err := f.g.Block(t.Context(), secmon.Block{Prefix: prefix("2001:db8:cc:dd::42/128"), Reason: "seen in the logs", By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Scope != secmon.ScopeIP || b.Prefix != prefix("2001:db8:cc:dd::/64") || !blocked(f.g, "2001:db8:cc:dd:1:2:3:4") {
		t.Errorf("manual IPv6 block = %+v", b)
	}
}

// The allowlist wins: a block on an allowlisted address is refused with a
// typed error, a finding about one is counted, and Check never refuses an
// allowlisted address, whatever block or list holds it.
func TestAllowlistWins(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) {
		c.Allowlist = []netip.Prefix{prefix("10.1.0.0/16"), prefix("::ffff:192.0.2.10/128")}
		c.AllowUsers = []string{"Admin"}
	})
	ctx := t.Context()
	for _, p := range []string{"10.1.2.3/32", "10.1.2.0/24", "127.0.0.1/32", "::1/128", "192.0.2.10/32"} {
		_, err := f.g.Block(ctx, secmon.Block{Prefix: prefix(p)})
		var ae *guard.AllowlistedError
		if !errors.Is(err, guard.ErrAllowlisted) || !errors.As(err, &ae) || !ae.By.IsValid() {
			t.Errorf("Block(%s) = %v, want an *AllowlistedError", p, err)
		}
	}
	if _, err := f.g.Block(ctx, secmon.Block{UserID: " admin"}); !errors.Is(err, guard.ErrAllowlisted) {
		t.Errorf("blocking the allowlisted account: %v", err)
	}
	f.g.HandleFinding(bruteForce("127.0.0.1"))
	f.g.HandleFinding(bruteForce("10.1.9.9"))
	flush(t, f.g)
	if s := f.g.Stats(); s.RefusedAllowlist != 8 || s.BlocksActive != 0 {
		t.Errorf("stats %+v: want 8 refusals for the allowlist and no block", s)
	}
	// A wider block holding the office range is kept, and the office
	// still passes.
	if _, err := f.g.Block(ctx, secmon.Block{Prefix: prefix("10.0.0.0/8")}); err != nil {
		t.Fatal(err)
	}
	if !blocked(f.g, "10.2.0.1") || blocked(f.g, "10.1.0.1") {
		t.Error("the /8 block must hold 10.2.0.1 and spare the allowlisted 10.1.0.0/16")
	}
	if _, err := f.g.LoadList(guard.ListConfig{Name: "all"}, stringsReader("10.0.0.0/8\n127.0.0.0/8\n")); err != nil {
		t.Fatal(err)
	}
	if blocked(f.g, "127.0.0.1") || blocked(f.g, "10.1.200.1") || blocked(f.g, "192.0.2.10") {
		t.Error("a list refused an allowlisted address")
	}
	if s := f.g.Stats(); s.AllowlistExempt < 3 {
		t.Errorf("AllowlistExempt = %d, want at least 3", s.AllowlistExempt)
	}
}

// Account-level findings block the attacking sources that failed at least
// MinSourceCount times, never the account; upload_attack blocks the
// account too, and Check matches the account however its ID is written.
func TestAccountFindings(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	f.g.HandleFinding(secmon.Finding{
		Rule: "brute_force_account", Subject: "user:carol", Severity: secmon.SeverityHigh, Summary: "5 failed logins for one account",
		Action: secmon.Action{Kind: secmon.ActionStepUp}, Time: t0,
		Sources: []secmon.Source{
			{Group: prefix("2001:db8:1:2::/64"), Count: 3},
			{Group: prefix("203.0.113.7/32"), Count: 2},
			{Group: prefix("198.51.100.4/32"), Count: 1}, // a user who mistyped once: spared
		},
	})
	f.g.HandleFinding(secmon.Finding{
		Rule: "upload_attack", Subject: "user:dave", Severity: secmon.SeverityHigh, Summary: "5 blocked uploads",
		Action: secmon.Action{Kind: secmon.ActionBlock, Duration: time.Hour}, Time: t0,
		Sources: []secmon.Source{{Group: prefix("192.0.2.77/32"), Count: 1}},
	})
	flush(t, f.g)
	for ip, want := range map[string]bool{"2001:db8:1:2::99": true, "203.0.113.7": true, "198.51.100.4": false, "192.0.2.77": true} {
		if blocked(f.g, ip) != want {
			t.Errorf("%s blocked = %v, want %v", ip, !want, want)
		}
	}
	if _, ok := f.g.Check(netip.Addr{}, "carol"); ok {
		t.Error("the attacked account is blocked")
	}
	for _, id := range []string{"dave", "Dave", "  DAVE "} {
		if b, ok := f.g.Check(netip.Addr{}, id); !ok || b.Scope != secmon.ScopeUser || b.UserID != "dave" {
			t.Errorf("Check(%q) = %+v, %v: want the block on dave", id, b, ok)
		}
	}
	if s := f.g.Stats(); s.BlocksDecided != 4 {
		t.Errorf("BlocksDecided = %d, want 4 (two sources, an address and an account)", s.BlocksDecided)
	}
}

// A dry run blocks nothing and counts what it would have blocked; other
// rules' findings and unlisted rules follow their own policies.
func TestDryRunAndPolicies(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) {
		c.Policies = guard.DefaultPolicies()
		c.Policies["brute_force_ip"] = guard.Policy{DryRun: true}
		c.Policies["rate_limit_abuse"] = guard.Policy{Disabled: true}
		c.Policies["access_denied_probing"] = guard.Policy{MinSeverity: secmon.SeverityCritical}
	})
	f.g.HandleFinding(bruteForce("192.0.2.1"))
	rl := bruteForce("192.0.2.2")
	rl.Rule = "rate_limit_abuse"
	ad := bruteForce("192.0.2.3")
	ad.Rule = "access_denied_probing"
	custom := bruteForce("192.0.2.4") // a host's own rule suggesting a 2-hour block
	custom.Rule, custom.Action.Duration = "my_rule", 2*time.Hour
	notify := bruteForce("192.0.2.5")
	notify.Rule, notify.Action = "my_other_rule", secmon.Action{Kind: secmon.ActionNotify}
	for _, fd := range []secmon.Finding{rl, ad, custom, notify} {
		f.g.HandleFinding(fd)
	}
	flush(t, f.g)
	for ip, want := range map[string]bool{"192.0.2.1": false, "192.0.2.2": false, "192.0.2.3": false, "192.0.2.4": true, "192.0.2.5": false} {
		if blocked(f.g, ip) != want {
			t.Errorf("%s blocked = %v, want %v", ip, !want, want)
		}
	}
	if b, _ := f.g.Check(addr("192.0.2.4"), ""); b.Until.Sub(b.Created) != 2*time.Hour {
		t.Errorf("unlisted rule's block lasts %v, want its suggested 2h", b.Until.Sub(b.Created))
	}
	if s := f.g.Stats(); s.WouldBlock != 1 || s.FindingsIgnored != 3 {
		t.Errorf("stats %+v: want 1 would-block, 3 ignored", s)
	}
	g2 := setup(t, func(c *guard.Config) { c.DryRun = true; c.Unlisted = guard.UnlistedIgnore })
	g2.g.HandleFinding(bruteForce("192.0.2.9"))
	g2.g.HandleFinding(custom)
	flush(t, g2.g)
	if blocked(g2.g, "192.0.2.9") || blocked(g2.g, "192.0.2.4") || g2.g.Stats().WouldBlock != 1 {
		t.Errorf("global dry run: %+v", g2.g.Stats())
	}
}

// Manual blocks, lifts and the list an operator sees.
func TestManualBlockLiftList(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := t.Context()
	p, err := f.g.Block(ctx, secmon.Block{Prefix: prefix("198.51.100.7/24"), Reason: "abuse\nreport", By: "alice", Until: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Scope != secmon.ScopePrefix || p.Subject != "prefix:198.51.100.0/24" || p.Origin != secmon.OriginManual ||
		p.Level != 1 || !p.Created.Equal(t0) || p.Reason != "abuse report" || p.ID == uuid.Nil {
		t.Errorf("prefix block = %+v", p)
	}
	u, err := f.g.Block(ctx, secmon.Block{UserID: "Mallory", By: "alice"}) // until lifted
	if err != nil {
		t.Fatal(err)
	}
	if !blocked(f.g, "198.51.100.200") {
		t.Error("the prefix is not blocked")
	}
	if _, ok := f.g.Check(addr("203.0.113.1"), "mallory"); !ok {
		t.Error("the account is not blocked")
	}
	flush(t, f.g)
	list, err := f.g.List(ctx, secmon.BlockQuery{EndsAfter: f.clock.Now()})
	if err != nil || len(list) != 2 || list[0].ID != u.ID || list[1].ID != p.ID {
		t.Fatalf("List = %v, %v", list, err)
	}
	for _, bad := range []secmon.Block{
		{},
		{Prefix: prefix("0.0.0.0/0")},
		{Prefix: prefix("192.0.2.0/24"), UserID: "x"},
		{Prefix: prefix("192.0.2.0/24"), Until: t0.Add(-time.Second)},
		{Prefix: prefix("192.0.2.0/24"), Scope: secmon.ScopeIP},
		{Prefix: prefix("192.0.2.0/24"), Origin: secmon.OriginList},
		{UserID: "   "},
	} {
		if _, err := f.g.Block(ctx, bad); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("Block(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	f.clock.Advance(time.Minute)
	if err := f.g.Lift(ctx, p.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := f.g.Lift(ctx, p.ID, "carol"); err != nil {
		t.Errorf("lifting twice: %v", err)
	}
	if blocked(f.g, "198.51.100.200") {
		t.Error("still blocked after the lift")
	}
	if err := f.g.Lift(ctx, uuid.New(), "bob"); !errors.Is(err, secmon.ErrNotFound) {
		t.Errorf("Lift of an unknown block = %v", err)
	}
	flush(t, f.g)
	stored, _ := f.store.Blocks(ctx, secmon.BlockQuery{IDs: []uuid.UUID{p.ID}})
	if len(stored) != 1 || stored[0].LiftedBy != "bob" || !stored[0].LiftedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("stored after the lift: %+v", stored)
	}
	lifted := f.events.of(secmon.EventBlockLifted)
	if len(lifted) != 1 || lifted[0].Metadata["actor_id"] != "bob" || lifted[0].Metadata["block_id"] != p.ID.String() {
		t.Errorf("block_lifted events: %+v", lifted)
	}
	if n := len(f.events.of(secmon.EventIPBlocked)); n != 2 {
		t.Errorf("%d ip_blocked events, want 2", n)
	}
	if active := f.g.ActiveBlocks(); len(active) != 1 || active[0].ID != u.ID {
		t.Errorf("ActiveBlocks = %+v", active)
	}
}

// A block another instance decided, which this one does not hold, is
// lifted in the store.
func TestLiftRemoteBlock(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) { c.ResyncInterval = time.Hour })
	b := secmon.Block{ID: secmon.NewID(), Scope: secmon.ScopeIP, Prefix: prefix("192.0.2.50/32"), Subject: "ip:192.0.2.50/32",
		Origin: secmon.OriginManual, Level: 1, Created: t0, By: "elsewhere"}
	if err := f.store.PutBlocks(t.Context(), []secmon.Block{b}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the announced block enforced", func() bool { return blocked(f.g, "192.0.2.50") })
	f.clock.Advance(time.Second)
	if err := f.g.Lift(t.Context(), b.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the lift enforced", func() bool { return !blocked(f.g, "192.0.2.50") })
}

// Check allocates nothing: misses, IP hits, list hits, account hits with
// IDs in any case.
func TestCheckAllocates0(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	if _, err := f.g.Block(ctx, secmon.Block{Prefix: prefix("203.0.113.9/32")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.Block(ctx, secmon.Block{UserID: "mallory"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.LoadList(guard.ListConfig{Name: "drop"}, stringsReader("198.51.100.0/24\n2001:db8:ffff::/48\n")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip, user string
		hit      bool
	}{
		{"192.0.2.1", "", false}, {"2001:db8::1", "alice", false}, {"203.0.113.9", "", true},
		{"198.51.100.77", "", true}, {"2001:db8:ffff:1::9", "", true}, {"192.0.2.1", "Mallory", true},
		{"::ffff:203.0.113.9", "", true},
	} {
		ip := addr(c.ip)
		if _, ok := f.g.Check(ip, c.user); ok != c.hit {
			t.Fatalf("Check(%s, %q) = %v", c.ip, c.user, ok)
		}
		if n := testing.AllocsPerRun(200, func() { f.g.Check(ip, c.user) }); n != 0 {
			t.Errorf("Check(%s, %q) allocates %v times", c.ip, c.user, n)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	store := setupStore()
	for _, c := range []guard.Config{
		{},
		{Store: store, MaxBlocks: -1},
		{Store: store, History: -time.Second},
		{Store: store, MinBackoff: time.Second, MaxBackoff: time.Millisecond},
		{Store: store, Policies: map[secmon.RuleName]guard.Policy{"x": {Factor: 0.5}}},
		{Store: store, Policies: map[secmon.RuleName]guard.Policy{"x": {Duration: -1}}},
		{Store: store, Allowlist: []netip.Prefix{{}}},
		{Store: store, Lists: []guard.ListConfig{{Name: "Bad Name", Path: "x"}}},
		{Store: store, Lists: []guard.ListConfig{{Name: "nopath"}}},
		{Store: store, Lists: []guard.ListConfig{{Name: "a", Path: "x"}, {Name: "a", Path: "y"}}},
		{Store: store, ListMinBits4: 33},
		{Store: store, Privacy: &secmon.PrivacyPolicy{IPMode: secmon.IPHash}},
	} {
		if g, err := guard.New(c); err == nil {
			_ = g.Close(context.Background())
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

// A full guard refuses more blocks and counts them.
func TestCapacity(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) { c.MaxBlocks = 3 })
	for i := range 3 {
		if _, err := f.g.Block(t.Context(), secmon.Block{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.g.Block(t.Context(), secmon.Block{Prefix: prefix("192.0.2.99/32")}); !errors.Is(err, guard.ErrCapacity) {
		t.Errorf("fourth block: %v, want ErrCapacity", err)
	}
	f.g.HandleFinding(bruteForce("192.0.2.100"))
	flush(t, f.g)
	if s := f.g.Stats(); s.RefusedCapacity != 2 || s.BlocksActive != 3 {
		t.Errorf("stats %+v", s)
	}
}

// Under an IPTruncate privacy policy the rules see truncated addresses;
// a finding about one blocks the truncated network. Under IPHash nothing
// can be blocked.
func TestPrivacyMapping(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) { c.Privacy = &secmon.PrivacyPolicy{IPMode: secmon.IPTruncate} })
	f.g.HandleFinding(bruteForce("203.0.113.0"))
	f.g.HandleFinding(bruteForce("2001:db8:1::"))
	flush(t, f.g)
	for ip, want := range map[string]bool{"203.0.113.77": true, "203.0.114.1": false, "2001:db8:1:ffff::1": true, "2001:db8:2::1": false} {
		if blocked(f.g, ip) != want {
			t.Errorf("%s blocked = %v, want %v", ip, !want, want)
		}
	}
	h := setup(t, func(c *guard.Config) {
		c.Privacy = &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: []byte("0123456789abcdef0123")}
	})
	h.g.HandleFinding(bruteForce("fd12:3456:789a:1::1"))
	flush(t, h.g)
	if s := h.g.Stats(); s.BlocksActive != 0 || s.RefusedUnmappable != 1 {
		t.Errorf("IPHash: %+v", s)
	}
}

// After Close, Check still answers; the rest refuses.
func TestClosed(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	if _, err := f.g.Block(t.Context(), secmon.Block{Prefix: prefix("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	if err := f.g.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !blocked(f.g, "192.0.2.1") {
		t.Error("Check stopped answering after Close")
	}
	if _, err := f.g.Block(t.Context(), secmon.Block{Prefix: prefix("192.0.2.2/32")}); !errors.Is(err, secmon.ErrClosed) {
		t.Errorf("Block after Close: %v", err)
	}
	f.g.HandleFinding(bruteForce("192.0.2.3"))
	if f.g.Stats().FindingsDropped != 1 {
		t.Error("a finding after Close was not counted as dropped")
	}
	stored, _ := f.store.Blocks(t.Context(), secmon.BlockQuery{})
	if len(stored) != 1 {
		t.Errorf("Close left %d blocks in the store, want the 1 decided", len(stored))
	}
}
