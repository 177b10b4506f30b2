package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/upload"
)

// memoryChecks are the checks that need no service.
func memoryChecks() []check {
	return append([]check{
		{"upload-hostile-blocked", checkHostileUploads},
		{"upload-benign-allowed", checkBenignUploads},
		{"exif-injection-sanitized", checkEXIFSanitized},
		{"heartbeat-rate-limit", checkHeartbeatLimit},
		{"login-ip-group-limit", checkLoginLimit},
		{"brute-force-replay", checkBruteForceReplay},
		{"ipv6-rotation-detected", checkIPv6Rotation},
		{"alert-dedup", checkAlertDedup},
		{"metadata-redaction", checkRedaction},
		{"ip-privacy-modes", checkIPModes},
	}, guardChecks()...)
}

// epoch is the fixed instant the time-driven checks start from, so every run
// judges the same timeline.
var epoch = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

// failures collects what went wrong in a check so it can report all of it.
type failures []string

func (f *failures) add(format string, args ...any) { *f = append(*f, fmt.Sprintf(format, args...)) }

func (f failures) err() error {
	if len(f) == 0 {
		return nil
	}
	const most = 5
	if len(f) > most {
		return fmt.Errorf("%s (and %d more)", strings.Join(f[:most], "; "), len(f)-most)
	}
	return errors.New(strings.Join(f, "; "))
}

func threatCodes(v secmon.Verdict) []secmon.ThreatCode {
	codes := make([]secmon.ThreatCode, len(v.Threats))
	for i, t := range v.Threats {
		codes[i] = t.Code
	}
	return codes
}

// checkHostileUploads: every hostile upload of the corpus is blocked with the
// threat codes it must carry.
func checkHostileUploads(ctx context.Context, _ *suite) error {
	v, err := upload.NewValidator(upload.Config{})
	if err != nil {
		return err
	}
	cases := uploadcorpus.Hostile()
	if len(cases) == 0 {
		return errors.New("the hostile corpus is empty")
	}
	var f failures
	for _, c := range cases {
		vd, err := v.Validate(ctx, c.Upload)
		if vd.Allowed {
			f.add("%s was allowed", c.Name)
			continue
		}
		if err != nil {
			f.add("%s: validator error %v", c.Name, err)
			continue
		}
		got := threatCodes(vd)
		for _, want := range c.WantCodes {
			if !slices.Contains(got, want) {
				f.add("%s: want threat %s, got %v", c.Name, want, got)
			}
		}
	}
	return f.err()
}

// checkBenignUploads: every benign upload of the corpus is allowed.
func checkBenignUploads(ctx context.Context, _ *suite) error {
	v, err := upload.NewValidator(upload.Config{})
	if err != nil {
		return err
	}
	cases := uploadcorpus.Benign()
	if len(cases) == 0 {
		return errors.New("the benign corpus is empty")
	}
	var f failures
	for _, c := range cases {
		vd, err := v.Validate(ctx, c.Upload)
		switch {
		case err != nil:
			f.add("%s: validator error %v", c.Name, err)
		case !vd.Allowed:
			f.add("%s was blocked: %v", c.Name, threatCodes(vd))
		case len(vd.Sanitized) == 0:
			f.add("%s: no sanitised copy", c.Name)
		}
	}
	return f.err()
}

// checkEXIFSanitized is the PRD's EXIF injection check: a photo with script
// in its EXIF is blocked, and its sanitised copy is the same photo without the
// script, which validates clean.
func checkEXIFSanitized(ctx context.Context, _ *suite) error {
	v, err := upload.NewValidator(upload.Config{})
	if err != nil {
		return err
	}
	var c *uploadcorpus.Case
	for _, h := range uploadcorpus.Hostile() {
		if h.Name == "jpeg_exif_script" {
			c = &h
			break
		}
	}
	if c == nil {
		return errors.New("the corpus has no jpeg_exif_script case")
	}
	vd, err := v.Validate(ctx, c.Upload)
	if err != nil {
		return err
	}
	if vd.Allowed || !slices.Contains(threatCodes(vd), secmon.ThreatScriptInMetadata) {
		return fmt.Errorf("script in EXIF not reported: allowed=%v threats=%v", vd.Allowed, threatCodes(vd))
	}
	if len(vd.Sanitized) == 0 {
		return errors.New("no sanitised copy of a photo whose only threat was its metadata")
	}
	if len(vd.Sanitized) >= len(c.Upload.Data) {
		return fmt.Errorf("sanitised copy is %d bytes, the original %d: nothing was stripped", len(vd.Sanitized), len(c.Upload.Data))
	}
	again, err := v.Validate(ctx, secmon.Upload{Name: c.Upload.Name, DeclaredType: c.Upload.DeclaredType, Data: vd.Sanitized})
	if err != nil {
		return err
	}
	if !again.Allowed {
		return fmt.Errorf("sanitised copy still blocked: %v", threatCodes(again))
	}
	return nil
}

type userKey struct{}

// serve sends one request through h and returns the response.
func serve(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// checkHeartbeatLimit: the heartbeat endpoint allows 2 beats a minute per
// user; the 3rd gets 429 with Retry-After, another user is unaffected, and the
// user may beat again once a token has refilled.
func checkHeartbeatLimit(_ context.Context, _ *suite) error {
	clock := secmontest.NewClock(epoch)
	lim, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Heartbeat, Clock: clock})
	if err != nil {
		return err
	}
	var served int
	h := ratelimit.Middleware(lim, ratelimit.MiddlewareConfig{
		KeyFunc: ratelimit.KeyByUser(func(r *http.Request) string {
			u, _ := r.Context().Value(userKey{}).(string)
			return u
		}),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		w.WriteHeader(http.StatusNoContent)
	}))
	beat := func(user string) *http.Response {
		r := httptest.NewRequest(http.MethodPost, "/api/session/heartbeat", nil)
		return serve(h, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	}
	for i := 1; i <= 2; i++ {
		if res := beat("alice"); res.StatusCode != http.StatusNoContent {
			return fmt.Errorf("heartbeat %d of the minute got %d, want 204", i, res.StatusCode)
		}
		clock.Advance(time.Second)
	}
	res := beat("alice")
	if res.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("3rd heartbeat in a minute got %d, want 429", res.StatusCode)
	}
	ra, err := strconv.Atoi(res.Header.Get(ratelimit.HeaderRetryAfter))
	if err != nil || ra < 1 || ra > 60 {
		return fmt.Errorf("429 carries Retry-After %q, want 1 to 60 seconds", res.Header.Get(ratelimit.HeaderRetryAfter))
	}
	if served != 2 {
		return fmt.Errorf("handler ran %d times, want 2", served)
	}
	if res := beat("bob"); res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("another user's first heartbeat got %d, want 204", res.StatusCode)
	}
	clock.Advance(time.Duration(ra) * time.Second)
	if res := beat("alice"); res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("heartbeat after Retry-After (%ds) got %d, want 204", ra, res.StatusCode)
	}
	return nil
}

// checkLoginLimit: the login endpoint allows 10 attempts a minute per IP
// group. A client connecting directly cannot escape by writing its own
// X-Forwarded-For; an IPv6 client rotating through its /64 stays one key; a
// trusted proxy's forwarding is believed.
func checkLoginLimit(_ context.Context, _ *suite) error {
	clock := secmontest.NewClock(epoch)
	lim, err := ratelimit.NewMemory(ratelimit.MemoryConfig{Policy: ratelimit.Login, Clock: clock})
	if err != nil {
		return err
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	h := ratelimit.Middleware(lim, ratelimit.MiddlewareConfig{KeyFunc: ratelimit.KeyByIPGroup(proxies)})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	login := func(peer, xff string) int {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return serve(h, r).StatusCode
	}
	limit := ratelimit.Login.Limit

	// A direct client spoofing a new X-Forwarded-For on every attempt.
	for i := 0; i < limit; i++ {
		if code := login("203.0.113.9:40000", fmt.Sprintf("198.51.100.%d", i+1)); code != http.StatusOK {
			return fmt.Errorf("attempt %d of %d got %d, want 200", i+1, limit, code)
		}
	}
	if code := login("203.0.113.9:40001", "198.51.100.200"); code != http.StatusTooManyRequests {
		return fmt.Errorf("attempt %d with a spoofed X-Forwarded-For got %d, want 429: the header was believed", limit+1, code)
	}
	if code := login("203.0.113.10:40000", ""); code != http.StatusOK {
		return fmt.Errorf("a different client got %d, want 200", code)
	}

	// An IPv6 client rotating through its /64.
	for i := 0; i < limit; i++ {
		if code := login(fmt.Sprintf("[2001:db8:7:7::%x]:443", i+1), ""); code != http.StatusOK {
			return fmt.Errorf("IPv6 attempt %d got %d, want 200", i+1, code)
		}
	}
	if code := login("[2001:db8:7:7:ffff::1]:443", ""); code != http.StatusTooManyRequests {
		return fmt.Errorf("a new address in the same /64 got %d, want 429", code)
	}

	// Behind a trusted proxy, the forwarded client is the key.
	for i := 0; i < limit; i++ {
		if code := login("10.1.2.3:8080", "192.0.2.44"); code != http.StatusOK {
			return fmt.Errorf("proxied attempt %d got %d, want 200", i+1, code)
		}
	}
	if code := login("10.1.2.3:8080", "192.0.2.44"); code != http.StatusTooManyRequests {
		return fmt.Errorf("proxied attempt %d for one client got %d, want 429", limit+1, code)
	}
	if code := login("10.1.2.3:8080", "192.0.2.45"); code != http.StatusOK {
		return fmt.Errorf("another client behind the same proxy got %d, want 200: the proxy was keyed instead of the client", code)
	}
	return nil
}

// loginFailures returns n login failures from ip(i) for user(i), one every
// step from start.
func loginFailures(n int, start time.Time, step time.Duration, ip func(i int) netip.Addr, user func(i int) string) []secmon.Event {
	events := make([]secmon.Event, n)
	for i := range events {
		events[i] = secmon.Event{
			Time: start.Add(time.Duration(i) * step), Type: secmon.EventLoginFailure, Severity: secmon.SeverityLow,
			IP: ip(i), UserID: user(i), Metadata: map[string]string{"reason": "bad_password"},
		}
	}
	return events
}

func countFindings(findings []secmon.Finding, rule secmon.RuleName, subject string) int {
	n := 0
	for _, f := range findings {
		if f.Rule == rule && f.Subject == subject {
			n++
		}
	}
	return n
}

// checkBruteForceReplay replays 200 failed logins from one address over 100
// seconds, a quiet spell, and a second burst: brute_force_ip reports one
// finding per burst (per window), not one per event.
func checkBruteForceReplay(ctx context.Context, _ *suite) error {
	eng, err := detect.New(detect.Config{})
	if err != nil {
		return err
	}
	attacker := netip.MustParseAddr("203.0.113.7")
	same := func(int) netip.Addr { return attacker }
	users := func(i int) string { return fmt.Sprintf("user%d", i%3) }
	first := loginFailures(200, epoch, 500*time.Millisecond, same, users)
	// The second burst starts after a full window (10 minutes) of silence.
	second := loginFailures(200, epoch.Add(20*time.Minute), 500*time.Millisecond, same, users)

	findings, err := detect.Replay(ctx, eng, append(first, second...))
	if err != nil {
		return err
	}
	subject := detect.SubjectIP + "203.0.113.7/32"
	if n := countFindings(findings, detect.RuleBruteForceIP, subject); n != 2 {
		return fmt.Errorf("%d brute_force_ip findings for %s over 2 bursts of 200 events, want 2 (one per window)", n, subject)
	}
	for _, f := range findings {
		if f.Rule == detect.RuleBruteForceIP && f.Action.Kind != secmon.ActionBlock {
			return fmt.Errorf("brute_force_ip suggests %q, want block", f.Action.Kind)
		}
	}
	if len(findings) > 10 {
		return fmt.Errorf("%d findings for 400 events: repeats are not suppressed", len(findings))
	}
	// Below the threshold, nothing fires.
	eng2, err := detect.New(detect.Config{})
	if err != nil {
		return err
	}
	// Below the threshold, nothing fires: 4 failures, and 5 more whose
	// first and last are a whole window (10 minutes) apart.
	slow := append(loginFailures(4, epoch, time.Second, same, func(int) string { return "carol" }),
		loginFailures(5, epoch.Add(time.Hour), 150*time.Second, same, func(int) string { return "carol" })...)
	quiet, err := detect.Replay(ctx, eng2, slow)
	if err != nil {
		return err
	}
	if n := countFindings(quiet, detect.RuleBruteForceIP, subject); n != 0 {
		return fmt.Errorf("failures below the threshold (5 within 10 minutes) gave %d brute_force_ip findings", n)
	}
	return nil
}

// checkIPv6Rotation: an attacker using a new address of one IPv6 /64 for
// every attempt is still one source.
func checkIPv6Rotation(ctx context.Context, _ *suite) error {
	eng, err := detect.New(detect.Config{})
	if err != nil {
		return err
	}
	base := netip.MustParseAddr("2001:db8:abcd:12::").As16()
	rotate := func(i int) netip.Addr {
		a := base
		a[8], a[9], a[14], a[15] = byte(i*37), byte(i*11), byte(i>>8), byte(i)
		return netip.AddrFrom16(a)
	}
	events := loginFailures(30, epoch, 2*time.Second, rotate, func(i int) string { return fmt.Sprintf("victim%d", i%4) })
	seen := map[netip.Addr]bool{}
	for _, e := range events {
		seen[e.IP] = true
	}
	if len(seen) != len(events) {
		return fmt.Errorf("the replay reuses addresses (%d distinct of %d)", len(seen), len(events))
	}
	findings, err := detect.Replay(ctx, eng, events)
	if err != nil {
		return err
	}
	subject := detect.SubjectIP + "2001:db8:abcd:12::/64"
	if n := countFindings(findings, detect.RuleBruteForceIP, subject); n != 1 {
		var got []string
		for _, f := range findings {
			got = append(got, string(f.Rule)+" "+f.Subject)
		}
		return fmt.Errorf("%d brute_force_ip findings for %s, want 1; findings: %v", n, subject, got)
	}
	for _, f := range findings {
		if strings.HasPrefix(f.Subject, detect.SubjectIP) && f.Subject != subject {
			return fmt.Errorf("finding %s for %s: the /64 was split", f.Rule, f.Subject)
		}
	}
	return nil
}

// newMonitor returns a Monitor over a fresh memstore with the default
// detection engine, both on clock.
func newMonitor(clock secmon.Clock, privacy *secmon.PrivacyPolicy) (*secmon.Monitor, *memstore.Store, error) {
	store := memstore.New()
	eng, err := detect.New(detect.Config{Clock: clock})
	if err != nil {
		return nil, nil, err
	}
	mon, err := secmon.New(secmon.Config{Store: store, Detector: eng, Clock: clock, Privacy: privacy, FlushInterval: time.Hour})
	if err != nil {
		return nil, nil, err
	}
	return mon, store, nil
}

// checkAlertDedup: 1,000 failed logins from one address over 16 minutes go
// through the Monitor and leave one open brute_force_ip alert whose Count grew
// with each window, and every event stored.
func checkAlertDedup(ctx context.Context, _ *suite) error {
	clock := secmontest.NewClock(epoch)
	mon, store, err := newMonitor(clock, nil)
	if err != nil {
		return err
	}
	defer mon.Close(context.WithoutCancel(ctx))
	attacker := netip.MustParseAddr("203.0.113.66")
	const n = 1000
	events := loginFailures(n, epoch, time.Second, func(int) netip.Addr { return attacker }, func(int) string { return "admin" })
	for _, e := range events {
		clock.Advance(time.Second)
		if err := mon.Log(ctx, e); err != nil {
			return fmt.Errorf("Log: %w", err)
		}
	}
	if err := mon.Close(ctx); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	subject := detect.SubjectIP + "203.0.113.66/32"
	alerts, err := store.Alerts(ctx, secmon.AlertQuery{Rule: detect.RuleBruteForceIP, Subject: subject})
	if err != nil {
		return err
	}
	if len(alerts) != 1 {
		return fmt.Errorf("%d brute_force_ip alerts for %s after %d failed logins, want 1", len(alerts), subject, n)
	}
	a := alerts[0]
	// 1,000 seconds span 4 windows of 5 minutes: one finding each, merged.
	if a.Status != secmon.AlertOpen || a.Count < 2 {
		return fmt.Errorf("alert status %s count %d, want open with a count that grew (≥ 2)", a.Status, a.Count)
	}
	if !a.LastSeen.After(a.FirstSeen) {
		return fmt.Errorf("alert LastSeen %v not after FirstSeen %v", a.LastSeen, a.FirstSeen)
	}
	open, err := store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen, Limit: secmon.MaxQueryLimit})
	if err != nil {
		return err
	}
	if len(open) > 3 { // brute_force_ip, brute_force_account for admin, nothing per event
		return fmt.Errorf("%d open alerts for one attack", len(open))
	}
	stored, err := store.QueryEvents(ctx, secmon.EventQuery{Types: []secmon.EventType{secmon.EventLoginFailure}, Limit: secmon.MaxQueryLimit})
	if err != nil {
		return err
	}
	if len(stored) != n {
		return fmt.Errorf("%d of %d events stored", len(stored), n)
	}
	return nil
}

// checkRedaction: secrets, free text and markup in event metadata never
// reach the store.
func checkRedaction(ctx context.Context, _ *suite) error {
	clock := secmontest.NewClock(epoch)
	mon, store, err := newMonitor(clock, nil)
	if err != nil {
		return err
	}
	defer mon.Close(context.WithoutCancel(ctx))
	const (
		jwt    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
		bearer = "Bearer a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV"
		email  = "alice.secret@example.com"
	)
	err = mon.Log(ctx, secmon.Event{
		Type: secmon.EventLoginFailure, UserID: "alice", IP: netip.MustParseAddr("198.51.100.4"),
		Metadata: map[string]string{
			"password": "hunter2",
			"note":     "<script>alert(document.cookie)</script>",
			"reason":   "header was " + bearer,
			"path":     "/api/session?token=" + jwt,
			"client":   "contact " + email,
			"resource": "<img src=x onerror=alert(1)>",
		},
	})
	if err != nil {
		return err
	}
	if err := mon.Close(ctx); err != nil {
		return err
	}
	events, err := store.QueryEvents(ctx, secmon.EventQuery{UserID: "alice"})
	if err != nil {
		return err
	}
	if len(events) != 1 {
		return fmt.Errorf("%d events stored, want 1", len(events))
	}
	md := events[0].Metadata
	var f failures
	for _, k := range []string{"password", "note"} {
		if _, ok := md[k]; ok {
			f.add("key %q was stored", k)
		}
	}
	var all strings.Builder
	for k, v := range md {
		all.WriteString(k + "=" + v + "\n")
	}
	for _, secret := range []string{"hunter2", "<script", "<img", "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV", jwt[:36], "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", email, "alice.secret"} {
		if strings.Contains(all.String(), secret) {
			f.add("%q reached the store", secret)
		}
	}
	for _, k := range []string{"reason", "path", "client"} {
		if !strings.Contains(md[k], secmon.Redacted) {
			f.add("%s = %q, want it to hold %s", k, md[k], secmon.Redacted)
		}
	}
	if !strings.Contains(md["resource"], "&lt;img") {
		f.add("resource = %q, want the markup escaped", md["resource"])
	}
	return f.err()
}

// checkIPModes: the privacy policy's IP modes keep, truncate or pseudonymise
// addresses as documented, and an IPHash policy without a proper key is
// refused.
func checkIPModes(ctx context.Context, _ *suite) error {
	v4 := netip.MustParseAddr("203.0.113.77")
	v6 := netip.MustParseAddr("2001:db8:1:2:3:4:5:6")
	mapped := netip.MustParseAddr("::ffff:203.0.113.77")
	var f failures

	full := &secmon.PrivacyPolicy{IPMode: secmon.IPFull}
	if got := full.MaskIP(mapped); got != v4 {
		f.add("full: %v kept as %v, want %v", mapped, got, v4)
	}

	trunc := &secmon.PrivacyPolicy{IPMode: secmon.IPTruncate}
	if got, want := trunc.MaskIP(v4), netip.MustParseAddr("203.0.113.0"); got != want {
		f.add("truncate: %v kept as %v, want %v", v4, got, want)
	}
	if got, want := trunc.MaskIP(v6), netip.MustParseAddr("2001:db8:1::"); got != want {
		f.add("truncate: %v kept as %v, want %v", v6, got, want)
	}

	key := []byte("selftest-ip-hash-key-0123456789ab")
	hash := &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: key}
	if err := hash.Validate(); err != nil {
		f.add("hash policy with a %d-byte key: %v", len(key), err)
	}
	ula := netip.MustParsePrefix("fd00::/8")
	h1 := hash.MaskIP(v4)
	switch {
	case !ula.Contains(h1):
		f.add("hash: %v became %v, outside fd00::/8", v4, h1)
	case hash.MaskIP(v4) != h1:
		f.add("hash: not deterministic")
	case hash.MaskIP(netip.MustParseAddr("203.0.113.78")) == h1:
		f.add("hash: two addresses share a pseudonym")
	}
	sib := netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if g1, g2 := secmon.IPGroup(hash.MaskIP(v6)), secmon.IPGroup(hash.MaskIP(sib)); g1 != g2 {
		f.add("hash: addresses of one /64 got pseudonyms in different groups %v and %v", g1, g2)
	}
	other := &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: []byte("another-key-of-enough-length-xyz")}
	if other.MaskIP(v4) == h1 {
		f.add("hash: a different key gave the same pseudonym")
	}
	weak := &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: []byte("short")}
	if err := weak.Validate(); err == nil {
		f.add("hash policy with a 5-byte key was accepted")
	} else if strings.Contains(err.Error(), "short") {
		f.add("the validation error reveals the key: %v", err)
	}
	if _, err := secmon.New(secmon.Config{Store: memstore.New(), Privacy: weak}); err == nil {
		f.add("secmon.New accepted a hash policy with a 5-byte key")
	}

	// Through the Monitor: the stored event holds the truncated address.
	clock := secmontest.NewClock(epoch)
	mon, store, err := newMonitor(clock, trunc)
	if err != nil {
		return err
	}
	defer mon.Close(context.WithoutCancel(ctx))
	if err := mon.Log(ctx, secmon.Event{Type: secmon.EventLoginSuccess, UserID: "dora", IP: v4}); err != nil {
		return err
	}
	if err := mon.Close(ctx); err != nil {
		return err
	}
	events, err := store.QueryEvents(ctx, secmon.EventQuery{UserID: "dora"})
	if err != nil {
		return err
	}
	if len(events) != 1 || events[0].IP != netip.MustParseAddr("203.0.113.0") {
		f.add("Monitor with IPTruncate stored %v", events)
	}
	return f.err()
}
