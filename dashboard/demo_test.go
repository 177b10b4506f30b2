package dashboard_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/secmon-go/secmon"
)

// demo fills a store with a realistic last day around now: steady traffic,
// a credential-stuffing burst three hours ago, a distributed attack on one
// account, hostile uploads, live sessions, the alerts those raised, and
// (with a guard) the blocks they led to. It writes straight to the store,
// with fixed times, so every backend holds the same rows.
type demo struct {
	now      time.Time
	events   []secmon.Event
	alerts   []secmon.Alert
	sessions []secmon.SessionBeat
}

var (
	attacker   = netip.MustParseAddr("203.0.113.66")
	attacker6  = netip.MustParsePrefix("2001:db8:7:1::/64")
	demoUsers  = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}
	demoAgents = []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	}
)

func newDemo(now time.Time, seed uint64) *demo {
	d := &demo{now: now.UTC()}
	rng := rand.New(rand.NewPCG(seed, 42))
	at := func(h int, minute, sec int) time.Time {
		return d.now.Truncate(time.Hour).Add(time.Duration(-h)*time.Hour + time.Duration(minute)*time.Minute + time.Duration(sec)*time.Second)
	}
	add := func(t time.Time, typ secmon.EventType, sev secmon.Severity, user string, ip netip.Addr, meta map[string]string) {
		if !t.Before(d.now) {
			return
		}
		d.events = append(d.events, secmon.Event{ID: secmon.NewID(), Time: t, Type: typ, Severity: sev, UserID: user, IP: ip,
			UserAgent: demoAgents[rng.IntN(len(demoAgents))], Metadata: meta})
	}
	office := func() netip.Addr {
		return netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(4)), byte(10 + rng.IntN(200))})
	}
	// Steady traffic: busier in the working hours of the day.
	for h := 23; h >= 0; h-- {
		hour := at(h, 0, 0).Hour()
		n := 25 + rng.IntN(20)
		if hour >= 8 && hour < 19 {
			n += 60
		}
		for i := 0; i < n; i++ {
			t := at(h, rng.IntN(60), rng.IntN(60))
			u := demoUsers[rng.IntN(len(demoUsers))]
			switch r := rng.IntN(100); {
			case r < 55:
				add(t, secmon.EventPageView, secmon.SeverityInfo, u, office(), map[string]string{"route": "/app/reports"})
			case r < 80:
				add(t, secmon.EventLoginSuccess, secmon.SeverityInfo, u, office(), map[string]string{"method": "password"})
			case r < 90:
				add(t, secmon.EventLoginFailure, secmon.SeverityLow, u, office(), map[string]string{"reason": "bad_password"})
			case r < 96:
				add(t, secmon.EventUploadAccepted, secmon.SeverityInfo, u, office(), map[string]string{"file_type": "image/png", "file_size": "48211"})
			default:
				add(t, secmon.EventRateLimited, secmon.SeverityLow, u, office(), map[string]string{"route": "/api/session/heartbeat", "rule": "heartbeat"})
			}
		}
	}
	// Credential stuffing from one address, three hours ago.
	for i := 0; i < 260; i++ {
		add(at(3, 5+i/10, i%60), secmon.EventLoginFailure, secmon.SeverityLow, fmt.Sprintf("user%03d", i%90), attacker,
			map[string]string{"reason": "unknown_user"})
	}
	// A distributed attack on alice from one IPv6 /64 and a few IPv4 hosts.
	for i := 0; i < 40; i++ {
		ip := attacker6.Addr().As16()
		ip[15] = byte(i + 1)
		src := netip.AddrFrom16(ip)
		if i%4 == 0 {
			src = netip.AddrFrom4([4]byte{192, 0, 2, byte(20 + i)})
		}
		add(at(2, 10+i, 0), secmon.EventLoginFailure, secmon.SeverityLow, "alice", src, map[string]string{"reason": "bad_password"})
	}
	// Hostile uploads, seven hours ago.
	threats := []string{"polyglot,trailing_data", "html_content", "type_mismatch", "script_in_metadata", "embedded_archive,trailing_data"}
	names := []string{"invoice.pdf", "avatar.png", "report.docx", "photo.jpg", "scan.png"}
	for i := 0; i < 12; i++ {
		add(at(7, 3+i*4, 0), secmon.EventUploadBlocked, secmon.SeverityHigh, "mallory", netip.MustParseAddr("192.0.2.77"), map[string]string{
			"threat_codes": threats[i%len(threats)], "file_type": "image/png", "declared_type": "image/png",
			"file_size": fmt.Sprint(20000 + i*731), "file_name": names[i%len(names)],
		})
		d.events[len(d.events)-1].Duration = time.Duration(2+i%5) * time.Millisecond
	}
	add(at(1, 12, 0), secmon.EventSessionAnomaly, secmon.SeverityMedium, "carol", netip.MustParseAddr("192.0.2.140"),
		map[string]string{"reason": "ip_group_changed"})
	d.events[len(d.events)-1].SessionID = "sess-carol-1"

	// The alerts those raised.
	alert := func(rule secmon.RuleName, subject string, sev secmon.Severity, count int64, first, last time.Time, summary string, ev map[string]string, act secmon.Action) {
		d.alerts = append(d.alerts, secmon.Alert{ID: secmon.NewID(), Rule: rule, Subject: subject, Severity: sev, Count: count,
			FirstSeen: first, LastSeen: last, Summary: summary, Evidence: ev, Action: act})
	}
	alert("credential_stuffing", "ip:203.0.113.66/32", secmon.SeverityCritical, 9, at(3, 6, 0), at(3, 30, 0),
		"203.0.113.66/32 failed against 90 accounts in 10 minutes", map[string]string{"accounts": "90", "window": "10m0s"},
		secmon.Action{Kind: secmon.ActionBlock, Duration: 2 * time.Hour})
	alert("brute_force_ip", "ip:203.0.113.66/32", secmon.SeverityHigh, 24, at(3, 5, 0), at(3, 30, 0),
		"260 failed logins from 203.0.113.66/32 in 5 minutes", map[string]string{"failures": "260", "window": "5m0s"},
		secmon.Action{Kind: secmon.ActionBlock, Duration: time.Hour})
	alert("distributed_attack", "user:alice", secmon.SeverityHigh, 3, at(2, 14, 0), at(2, 49, 0),
		"alice failed from 11 IP groups in 15 minutes", map[string]string{"sources": "11", "window": "15m0s"},
		secmon.Action{Kind: secmon.ActionStepUp})
	alert("upload_attack", "user:mallory", secmon.SeverityMedium, 2, at(7, 19, 0), at(7, 47, 0),
		"5 blocked uploads by mallory in 10 minutes", map[string]string{"blocked": "5", "window": "10m0s"},
		secmon.Action{Kind: secmon.ActionBlock, Duration: 30 * time.Minute})
	alert("impossible_travel", "user:bob", secmon.SeverityMedium, 1, at(14, 2, 0), at(14, 2, 0),
		"bob signed in from Lisbon and Singapore 40 minutes apart", map[string]string{"km_per_h": "16470"}, secmon.Action{Kind: secmon.ActionStepUp})
	alert("new_device", "user:grace", secmon.SeverityLow, 1, at(5, 40, 0), at(5, 40, 0),
		"grace signed in from a device not seen before", map[string]string{"device": "Safari on iOS"}, secmon.Action{Kind: secmon.ActionNotify})

	for i, u := range demoUsers[:8] {
		start := at(6-i%5, 3*i, 0)
		d.sessions = append(d.sessions, secmon.SessionBeat{SessionID: fmt.Sprintf("sess-%s-1", u), UserID: u, IP: office(),
			UserAgent: demoAgents[i%len(demoAgents)], Time: start})
		d.sessions = append(d.sessions, secmon.SessionBeat{SessionID: fmt.Sprintf("sess-%s-1", u), UserID: u, IP: office(),
			UserAgent: demoAgents[i%len(demoAgents)], Time: d.now.Add(-time.Duration(1+7*i) * time.Minute)})
	}
	return d
}

// load writes the demo into store: its events, alerts (two of them
// acknowledged or resolved), sessions, and the blocks a guard decided:
// a rule's block that has expired and its escalation still in force, a
// reputation list's prefix, and a manual account block lifted since.
func (d *demo) load(ctx context.Context, store secmon.Store) error {
	for i := 0; i < len(d.events); i += 5000 {
		if err := store.InsertEvents(ctx, d.events[i:min(i+5000, len(d.events))]); err != nil {
			return err
		}
	}
	if err := store.UpsertAlerts(ctx, d.alerts); err != nil {
		return err
	}
	if err := store.SetAlertStatus(ctx, d.alerts[2].ID, secmon.AlertAcknowledged); err != nil {
		return err
	}
	if err := store.SetAlertStatus(ctx, d.alerts[4].ID, secmon.AlertResolved); err != nil {
		return err
	}
	if err := store.UpsertSessions(ctx, d.sessions); err != nil {
		return err
	}
	h := d.now.Truncate(time.Hour)
	ip := netip.PrefixFrom(attacker, 32)
	lifted := storedBlock(secmon.ScopeUser, netip.Prefix{}, "mallory", "hostile uploads", secmon.OriginManual, "", "admin-person", 1,
		h.Add(-7*time.Hour), d.now.Add(24*time.Hour))
	lifted.LiftedAt, lifted.LiftedBy = h.Add(-6*time.Hour), "admin-person"
	return store.PutBlocks(ctx, []secmon.Block{
		storedBlock(secmon.ScopeIP, ip, "", "credential_stuffing: 90 accounts in 10 minutes", secmon.OriginRule, "credential_stuffing",
			"rule:credential_stuffing", 1, h.Add(-4*time.Hour), h.Add(-time.Hour)),
		storedBlock(secmon.ScopeIP, ip, "", "credential_stuffing: repeat within 24 h", secmon.OriginRule, "credential_stuffing",
			"rule:credential_stuffing", 2, h.Add(-3*time.Hour+6*time.Minute), d.now.Add(3*time.Hour)),
		storedBlock(secmon.ScopePrefix, netip.MustParsePrefix("198.51.100.0/24"), "", "listed in spamhaus-drop", secmon.OriginList, "",
			"list:spamhaus-drop", 1, h.Add(-20*time.Hour), time.Time{}),
		lifted,
	})
}

// observeStages records validation timings as a Validator would.
func observeStages(tr interface{ Observe(string, time.Duration) }, n int) {
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < n; i++ {
		size := time.Duration(2+rng.IntN(6)) * time.Microsecond
		magic := time.Duration(8+rng.IntN(20)) * time.Microsecond
		structure := time.Duration(300+rng.IntN(900)) * time.Microsecond
		if i%50 == 0 {
			structure = 6 * time.Millisecond
		}
		meta := time.Duration(40+rng.IntN(160)) * time.Microsecond
		sanitize := time.Duration(200+rng.IntN(1800)) * time.Microsecond
		for _, s := range []struct {
			n string
			d time.Duration
		}{{"size", size}, {"magic", magic}, {"structure", structure}, {"metadata", meta}, {"sanitize", sanitize}, {"total", size + magic + structure + meta + sanitize}} {
			tr.Observe(s.n, s.d)
		}
	}
}
