package detect_test

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// The failure streams below reproduce the per-source timing seen in real
// sshd and web-login logs (benchmarks/results/fail2ban-agreement.md, which
// replays the logs themselves; they are not shipped): bots that hammer
// every few seconds, bursts logged within one second, slow scanners one
// attempt every few minutes, sources that come back hours later, IPv6
// clients rotating inside their /64, and sources placed on either side of
// the 10-minute edge. Every source fail2ban's common defaults ban (5
// failures within 10 minutes) must get a finding naming its IP group; no
// other source may; and no source gets more than one finding per window.
func TestFail2banAgreement(t *testing.T) {
	t.Parallel()
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 42))
		base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
		var evs []secmon.Event
		add := func(ip netip.Addr, at time.Duration, user string) {
			evs = append(evs, secmon.Event{Time: base.Add(at), Type: secmon.EventLoginFailure, IP: ip, UserID: user})
		}
		sources := 0
		next := func() netip.Addr {
			sources++
			if sources%5 == 0 {
				return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(sources >> 8), byte(sources), 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
			}
			return netip.AddrFrom4([4]byte{198, 18, byte(sources >> 8), byte(sources)})
		}
		rotate := func(ip netip.Addr) netip.Addr {
			if ip.Is4() {
				return ip
			}
			a := ip.As16()
			for i := 8; i < 16; i++ {
				a[i] = byte(rng.Uint32())
			}
			return netip.AddrFrom16(a)
		}
		users := []string{"root", "admin", "test", "oracle", "ubuntu", "postgres", "alice"}
		for range 300 {
			ip := next()
			start := time.Duration(rng.Int64N(int64(6 * time.Hour)))
			user := users[rng.IntN(len(users))]
			switch kind := rng.IntN(7); kind {
			case 0: // a bot: 2–60 attempts, 1–12 s apart
				at := start
				for range 2 + rng.IntN(59) {
					add(rotate(ip), at, user)
					at += time.Duration(1+rng.IntN(12)) * time.Second
				}
			case 1: // a burst within one second (several PAM lines per connection)
				for range 1 + rng.IntN(8) {
					add(rotate(ip), start, user)
				}
			case 2: // a slow scanner: one attempt every 2–15 minutes for hours
				at := start
				for range 3 + rng.IntN(20) {
					add(rotate(ip), at, users[rng.IntN(len(users))])
					at += time.Duration(120+rng.IntN(780)) * time.Second
				}
			case 3: // on the edge: 5 failures spanning 10 minutes, give or take a second
				span := 10*time.Minute + time.Duration(rng.IntN(3)-1)*time.Second
				for k := range 5 {
					add(rotate(ip), start+span*time.Duration(k)/4, user)
				}
			case 4: // 4 failures, then the same again hours later
				for _, off := range []time.Duration{0, 3 * time.Hour} {
					for k := range 4 {
						add(rotate(ip), start+off+time.Duration(k)*time.Minute, user)
					}
				}
			case 5: // a few mistakes by a real user
				for k := range 1 + rng.IntN(3) {
					add(ip, start+time.Duration(k)*20*time.Second, "alice")
				}
			case 6: // returns after a block would have expired, several times
				for r := range 3 {
					for k := range 6 {
						add(rotate(ip), start+time.Duration(r)*40*time.Minute+time.Duration(k)*30*time.Second, user)
					}
				}
			}
		}
		slices.SortStableFunc(evs, func(a, b secmon.Event) int { return a.Time.Compare(b.Time) })

		// The truth, by brute force: fail2ban bans a group when 5 of its
		// failures fall within less than 10 minutes of one another.
		times := map[netip.Prefix][]time.Time{}
		for _, e := range evs {
			g := secmon.IPGroup(e.IP)
			times[g] = append(times[g], e.Time)
		}
		banned := map[netip.Prefix]bool{}
		for g, ts := range times {
			for i := 4; i < len(ts); i++ {
				if ts[i].Sub(ts[i-4]) < 10*time.Minute {
					banned[g] = true
				}
			}
		}

		eng, err := detect.New(detect.Config{})
		if err != nil {
			t.Fatal(err)
		}
		fs, err := detect.Replay(context.Background(), eng, evs)
		if err != nil {
			t.Fatal(err)
		}
		flagged := map[netip.Prefix][]time.Time{}
		for _, f := range fs {
			if rest, ok := strings.CutPrefix(f.Subject, detect.SubjectIP); ok {
				g := netip.MustParsePrefix(rest)
				flagged[g] = append(flagged[g], f.Time)
			}
		}
		for g := range times {
			switch {
			case banned[g] && len(flagged[g]) == 0:
				t.Errorf("seed %d: %s has 5 failures within 10 minutes and no finding; failures at %v", seed, g, times[g])
			case !banned[g] && len(flagged[g]) > 0:
				t.Errorf("seed %d: %s never has 5 failures within 10 minutes, yet got %d findings; failures at %v", seed, g, len(flagged[g]), times[g])
			}
			// At most one brute_force_ip finding per 10-minute window.
			var bf []time.Time
			for _, f := range fs {
				if f.Rule == detect.RuleBruteForceIP && f.Subject == detect.SubjectIP+g.String() {
					bf = append(bf, f.Time)
				}
			}
			for i := 1; i < len(bf); i++ {
				if bf[i].Sub(bf[i-1]) < 10*time.Minute {
					t.Errorf("seed %d: %s got brute_force_ip findings %v apart: a flood", seed, g, bf[i].Sub(bf[i-1]))
				}
			}
		}
		if len(banned) == 0 || len(banned) == len(times) {
			t.Fatalf("seed %d: %d of %d sources banned: the generator tests nothing", seed, len(banned), len(times))
		}
	}
}
