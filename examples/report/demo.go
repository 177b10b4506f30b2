package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/upload"
)

// demoClock is the Monitor's and the detector's clock while the demo day is
// replayed: it reads the time of the event being logged.
type demoClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *demoClock) set(t time.Time) {
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
}

// judgedUpload is a corpus file with the verdict the real validator gave it.
type judgedUpload struct {
	name    string
	upload  secmon.Upload
	verdict secmon.Verdict
}

// demo generates one day of security events.
type demo struct {
	rng     *rand.Rand
	from    time.Time
	events  []secmon.Event
	benign  []judgedUpload
	hostile []judgedUpload
}

// generateDemo fills store with a realistic day in [from, to), deterministic
// for seed: the events go through a Monitor with the default detection rules
// (so alerts open as they would live) on a clock that follows the events.
func generateDemo(ctx context.Context, store secmon.Store, seed uint64, from, to time.Time) error {
	d := &demo{rng: rand.New(rand.NewPCG(seed, seed^0x5eC0_11A7_DA7A)), from: from}
	if err := d.judgeCorpus(ctx); err != nil {
		return err
	}
	if err := d.generate(); err != nil {
		return err
	}
	d.events = slices.DeleteFunc(d.events, func(e secmon.Event) bool { return e.Time.Before(from) || !e.Time.Before(to) })
	slices.SortStableFunc(d.events, func(a, b secmon.Event) int { return a.Time.Compare(b.Time) })

	clock := &demoClock{t: from}
	eng, err := detect.New(detect.Config{Clock: clock})
	if err != nil {
		return err
	}
	mon, err := secmon.New(secmon.Config{
		Store: store, Detector: eng, Clock: clock,
		QueueCapacity: len(d.events) + 1, FlushInterval: time.Hour,
	})
	if err != nil {
		return err
	}
	for _, e := range d.events {
		clock.set(e.Time)
		if err := mon.Log(ctx, e); err != nil {
			mon.Close(ctx)
			return fmt.Errorf("logging a %s event: %w", e.Type, err)
		}
	}
	return mon.Close(ctx)
}

// judgeCorpus validates every corpus file once with the real validator, so
// the demo's upload events carry the verdicts and threat codes secmon gives.
func (d *demo) judgeCorpus(ctx context.Context) error {
	v, err := upload.NewValidator(upload.Config{DisableSanitize: true})
	if err != nil {
		return err
	}
	judge := func(cases []uploadcorpus.Case, allowed bool) ([]judgedUpload, error) {
		var out []judgedUpload
		for _, c := range cases {
			vd, err := v.Validate(ctx, c.Upload)
			if err != nil {
				return nil, fmt.Errorf("validating %s: %w", c.Name, err)
			}
			if vd.Allowed != allowed {
				return nil, fmt.Errorf("corpus case %s: allowed = %v", c.Name, vd.Allowed)
			}
			out = append(out, judgedUpload{name: c.Name, upload: c.Upload, verdict: vd})
		}
		return out, nil
	}
	if d.benign, err = judge(uploadcorpus.Benign(), true); err != nil {
		return err
	}
	d.hostile, err = judge(uploadcorpus.Hostile(), false)
	return err
}

// activity is how busy hour h (UTC) is, between 0.1 and 1: quiet at night,
// peaking mid-afternoon.
func activity(h int) float64 {
	return 0.1 + 0.9*math.Exp(-float64((h-14)*(h-14))/(2*4.5*4.5))
}

// at returns the time offset into hour (counted from the window's start).
func (d *demo) at(hour int, offset time.Duration) time.Time {
	return d.from.Add(time.Duration(hour)*time.Hour + offset)
}

// within returns a random time in hour.
func (d *demo) within(hour int) time.Time {
	return d.at(hour, time.Duration(d.rng.Int64N(int64(time.Hour))))
}

func (d *demo) add(e secmon.Event) { d.events = append(d.events, e) }

var browsers = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
}

type demoUser struct {
	id      string
	ip      netip.Addr
	browser string
}

func (d *demo) users(n int) []demoUser {
	us := make([]demoUser, n)
	for i := range us {
		var ip netip.Addr
		if i%4 == 3 {
			ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i), 0, 1, 0, 0, 0, 0, 0, 0, 0, byte(d.rng.IntN(250) + 1)})
		} else {
			ip = netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)})
		}
		us[i] = demoUser{id: fmt.Sprintf("user%02d", i+1), ip: ip, browser: browsers[d.rng.IntN(len(browsers))]}
	}
	return us
}

func (d *demo) generate() error {
	users := d.users(40)
	pick := func() demoUser { return users[d.rng.IntN(len(users))] }
	for h := 0; h < 24; h++ {
		hourOfDay := d.from.Add(time.Duration(h) * time.Hour).UTC().Hour()
		w := activity(hourOfDay)

		// Ordinary sign-ins, some after a mistyped password, and sign-outs.
		for range 2 + int(34*w) + d.rng.IntN(5) {
			u := pick()
			t := d.within(h)
			if d.rng.IntN(100) < 7 {
				d.add(secmon.Event{Time: t, Type: secmon.EventLoginFailure, Severity: secmon.SeverityLow, UserID: u.id, IP: u.ip,
					UserAgent: u.browser, Metadata: map[string]string{"reason": "bad_password"}})
				t = t.Add(time.Duration(5+d.rng.IntN(20)) * time.Second)
			}
			sess := fmt.Sprintf("s-%s-%d-%d", u.id, h, d.rng.IntN(1e6))
			d.add(secmon.Event{Time: t, Type: secmon.EventLoginSuccess, UserID: u.id, SessionID: sess, IP: u.ip, UserAgent: u.browser})
			if d.rng.IntN(2) == 0 {
				d.add(secmon.Event{Time: t.Add(time.Duration(5+d.rng.IntN(50)) * time.Minute), Type: secmon.EventLogout,
					UserID: u.id, SessionID: sess, IP: u.ip, UserAgent: u.browser})
			}
		}
		// Uploads: mostly photos and charts, now and then a hostile file.
		for range int(12*w) + d.rng.IntN(3) {
			u := pick()
			if d.rng.IntN(100) < 6 {
				d.uploadEvent(d.within(h), u, d.hostile[d.rng.IntN(len(d.hostile))])
			} else {
				d.uploadEvent(d.within(h), u, d.benign[d.rng.IntN(len(d.benign))])
			}
		}
		// Exports and the odd refused page in working hours.
		for range int(3*w) + d.rng.IntN(2) {
			u := pick()
			d.add(secmon.Event{Time: d.within(h), Type: secmon.EventExport, UserID: u.id, IP: u.ip, UserAgent: u.browser,
				Metadata: map[string]string{"export_format": "csv", "rows": strconv.Itoa(50 + d.rng.IntN(5000))}})
		}
		if d.rng.IntN(3) == 0 {
			u := pick()
			d.add(secmon.Event{Time: d.within(h), Type: secmon.EventAccessDenied, Severity: secmon.SeverityLow, UserID: u.id, IP: u.ip,
				Metadata: map[string]string{"path": "/admin/settings", "status": "403"}})
		}
	}

	if err := d.bruteForce(3, 12*time.Minute); err != nil {
		return err
	}
	d.ipv6Rotation(21, 5*time.Minute)
	d.uploadAttack(16, 20*time.Minute)
	d.impossibleTravel(users[6], 8)
	// A role change: user03 becomes an admin.
	d.add(secmon.Event{Time: d.at(10, 42*time.Minute), Type: secmon.EventRoleChange, Severity: secmon.SeverityMedium,
		UserID: "user03", IP: users[0].ip, Metadata: map[string]string{"actor_id": "user01", "old_role": "member", "new_role": "admin"}})
	d.add(secmon.Event{Time: d.at(11, 5*time.Minute), Type: secmon.EventPasswordChange, UserID: "user03", IP: users[2].ip})
	return nil
}

// uploadEvent logs an upload of f by u at t, with a validation time that
// grows with the pretended file size; files refused on their size or type are
// refused before the expensive stages run.
func (d *demo) uploadEvent(t time.Time, u demoUser, f judgedUpload) {
	size := 40_000 + d.rng.IntN(4_800_000)
	codes := make([]secmon.ThreatCode, 0, len(f.verdict.Threats))
	sev := secmon.SeverityInfo
	for _, th := range f.verdict.Threats {
		codes = append(codes, th.Code)
		sev = max(sev, th.Severity)
	}
	var took time.Duration
	switch {
	case slices.Contains(codes, secmon.ThreatSizeExceeded):
		size = uploadcorpus.OversizedBytes
		took = time.Duration(20+d.rng.IntN(60)) * time.Microsecond
	case slices.Contains(codes, secmon.ThreatTypeMismatch) || slices.Contains(codes, secmon.ThreatDisallowedType):
		took = time.Duration(200+d.rng.IntN(600)) * time.Microsecond
	default:
		// About 1.5 ms plus 6 ms per MB, ±25 %.
		base := 1500*time.Microsecond + time.Duration(size)*6*time.Nanosecond
		took = time.Duration(float64(base) * (0.75 + 0.5*d.rng.Float64()))
	}
	e := secmon.Event{Time: t, Type: secmon.EventUploadAccepted, UserID: u.id, IP: u.ip, UserAgent: u.browser, Duration: took,
		Metadata: map[string]string{
			"file_name": f.upload.Name, "file_size": strconv.Itoa(size),
			"declared_type": f.upload.DeclaredType, "detected_type": f.verdict.DetectedType,
		}}
	if !f.verdict.Allowed {
		e.Type, e.Severity = secmon.EventUploadBlocked, sev
		e.Metadata["threat_codes"] = joinCodes(codes)
	}
	d.add(e)
}

// bruteForce: from one address, a password-guessing run against a list of
// account names, held back by the login rate limiter (10 a minute): the
// allowed attempts fail, the others are rate_limited.
func (d *demo) bruteForce(hour int, length time.Duration) error {
	attacker := netip.MustParseAddr("203.0.113.66")
	lim, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Login})
	if err != nil {
		return err
	}
	key := "ip:" + secmon.IPGroup(attacker).String()
	// Enumeration: many account names, a few guesses each.
	targets := []string{"admin", "root", "test", "guest", "info", "support", "sales", "billing", "ops", "dev",
		"hr", "office", "web", "mail", "backup", "oracle", "postgres", "ftp", "demo", "user"}
	for i := 1; i <= 40; i++ {
		targets = append(targets, fmt.Sprintf("user%02d", i))
	}
	d.rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	start := d.at(hour, 10*time.Minute)
	for i, t := 0, start; t.Before(start.Add(length)); i, t = i+1, t.Add(time.Duration(1500+d.rng.IntN(1500))*time.Millisecond) {
		dec, err := lim.AllowAt(key, t)
		if err != nil {
			return err
		}
		e := secmon.Event{Time: t, IP: attacker, UserID: targets[i%len(targets)], UserAgent: "python-requests/2.32.3"}
		if dec.Allowed {
			e.Type, e.Severity = secmon.EventLoginFailure, secmon.SeverityLow
			e.Metadata = map[string]string{"reason": "unknown_user"}
		} else {
			e.Type, e.Severity = secmon.EventRateLimited, secmon.SeverityLow
			e.Metadata = map[string]string{"route": "/login", "retry_after": strconv.Itoa(int(math.Ceil(dec.RetryAfter.Seconds())))}
		}
		d.add(e)
	}
	return nil
}

// ipv6Rotation: one attacker using a new address of its /64 for each guess
// at the admin password.
func (d *demo) ipv6Rotation(hour int, length time.Duration) {
	start := d.at(hour, 20*time.Minute)
	for t := start; t.Before(start.Add(length)); t = t.Add(time.Duration(8+d.rng.IntN(8)) * time.Second) {
		var a [16]byte
		copy(a[:], netip.MustParseAddr("2001:db8:bad:1::").AsSlice())
		for i := 8; i < 16; i++ {
			a[i] = byte(d.rng.IntN(256))
		}
		d.add(secmon.Event{Time: t, Type: secmon.EventLoginFailure, Severity: secmon.SeverityLow, UserID: "admin",
			IP: netip.AddrFrom16(a), UserAgent: "curl/8.5.0", Metadata: map[string]string{"reason": "bad_password"}})
	}
}

// uploadAttack: one account probing the upload endpoint with hostile files.
func (d *demo) uploadAttack(hour int, length time.Duration) {
	u := demoUser{id: "user29", ip: netip.MustParseAddr("192.0.2.150"), browser: browsers[0]}
	start := d.at(hour, 35*time.Minute)
	files := slices.Clone(d.hostile)
	slices.SortFunc(files, func(a, b judgedUpload) int { return cmp.Compare(a.name, b.name) })
	for t := start; t.Before(start.Add(length)); t = t.Add(time.Duration(40+d.rng.IntN(80)) * time.Second) {
		d.uploadEvent(t, u, files[d.rng.IntN(len(files))])
	}
}

// impossibleTravel: u signs in from Berlin, then 35 minutes later from New
// York.
func (d *demo) impossibleTravel(u demoUser, hour int) {
	t := d.at(hour, 5*time.Minute)
	d.add(secmon.Event{Time: t, Type: secmon.EventLoginSuccess, UserID: u.id, SessionID: "s-travel-1", IP: u.ip, UserAgent: u.browser,
		Geo: secmon.Geo{Country: "DE", City: "Berlin", Latitude: 52.52, Longitude: 13.405, AccuracyKM: 20}})
	d.add(secmon.Event{Time: t.Add(35 * time.Minute), Type: secmon.EventLoginSuccess, UserID: u.id, SessionID: "s-travel-2",
		IP: netip.MustParseAddr("192.0.2.77"), UserAgent: browsers[1],
		Geo: secmon.Geo{Country: "US", City: "New York", Latitude: 40.7128, Longitude: -74.006, AccuracyKM: 20}})
}

// joinCodes lists threat codes separated by commas.
func joinCodes(codes []secmon.ThreatCode) string {
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(c))
	}
	return b.String()
}
