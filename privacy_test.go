package secmon_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/secmon-go/secmon"
)

// clean runs one value through the default policy under an allowlisted key.
func clean(t testing.TB, p *secmon.PrivacyPolicy, v string) string {
	t.Helper()
	e := secmon.Event{Type: secmon.EventLoginFailure, Metadata: map[string]string{"reason": v}}
	p.ApplyEvent(&e)
	return e.Metadata["reason"]
}

func TestPrivacyRedactsValues(t *testing.T) {
	t.Parallel()
	const R = secmon.Redacted
	tests := []struct {
		name, in, want string
	}{
		{"plain kept", "bad password", "bad password"},
		{"path kept", "/api/v1/users/42/export", "/api/v1/users/42/export"},
		{"uuid kept", "user 0190f6d2-3b7c-7e4a-9f1e-2a6b8c0d4e5f", "user 0190f6d2-3b7c-7e4a-9f1e-2a6b8c0d4e5f"},
		{"snake case identifier kept", "organization_membership_invitation_revoked_2024", "organization_membership_invitation_revoked_2024"},
		{"password pair", "login with password=hunter2 failed", "login with password=" + R + " failed"},
		{"password colon", "Password: hunter2", "Password: " + R},
		{"json password", `{"password":"hunter2","user":"bob"}`, "{&#34;password&#34;:&#34;" + R + "&#34;,&#34;user&#34;:&#34;bob&#34;}"},
		{"secret pair", "client_secret=abc&x=1", "client_secret=" + R + "&amp;x=1"},
		{"bearer", "Bearer abcDEF123456", "Bearer " + R},
		{"authorization header", "Authorization: Bearer abc.def-123", "Authorization: " + R},
		{"basic prose kept", "basic authentication failed", "basic authentication failed"},
		{"jwt", "tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk end", "tok " + R + " end"},
		{"unsigned jwt", "alg none eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "alg none " + R},
		{"stripe key", "key sk_live_4eC39HqLyjWDarjtT1zdp7dc used", "key " + R + " used"},
		{"github token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", R},
		{"slack token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", R},
		{"aws access key", "AKIAQWERTYUI7ZX5NBVC", R},
		{"aws documentation example kept", "AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"},
		{"high entropy", "cookie Zx9Q2mP7kL4vN8rT1wY6bH3jC5fD0gS2aE7uI9oK", "cookie " + R},
		{"hex digest kept", "d2c7f2a4b9e81a3c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4", "d2c7f2a4b9e81a3c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4"},
		{"hex secret under its name", "client_secret: d2c7f2a4b9e81a3c5d6e7f8091a2b3c4", "client_secret: " + R},
		{"email", "contact bob.smith+x@example.co.uk now.", "contact " + R + " now."},
		{"email in sentence end", "mail alice@example.com.", "mail " + R + "."},
		{"at without email kept", "@handle and a@b", "@handle and a@b"},
		{"card spaced", "card 4111 1111 1111 1111 declined", "card " + R + " declined"},
		{"card dashed", "4111-1111-1111-1111", R},
		{"card plain", "5555555555554444", R},
		{"card beside other numbers", "order 12 4111 1111 1111 1111", "order 12 " + R},
		{"luhn failure kept", "4111 1111 1111 1112", "4111 1111 1111 1112"},
		{"millisecond timestamp kept", "at 1700000000000", "at 1700000000000"},
		{"url credentials", "https://alice:s3cret@db.example.com/x", "https://" + R + "@db.example.com/x"},
		{"url query token", "/reset?token=abc123&next=/home", "/reset?token=" + R + "&amp;next=/home"},
		{"url access_token", "https://api.example.com/cb?access_token=ya29.a0AfH6&state=1", "https://api.example.com/cb?access_token=" + R + "&amp;state=1"},
		{"url api_key", "GET /v1?api_key=abcd", "GET /v1?api_key=" + R},
		{"url signature", "/f?X-Amz-Signature=0a1b2c&sig=zz", "/f?X-Amz-Signature=" + R + "&amp;sig=" + R},
		{"email in url query", "https://example.com/invite?email=bob@example.com&x=1", "https://example.com/invite?email=" + R + "&amp;x=1"},
		{"encoded token in query", "/login?next=%2Freset%3Ftoken%3Dabc123", "/login?next=%2Freset%3Ftoken%3D" + R},
		{"url kept", "https://example.com/a?page=2", "https://example.com/a?page=2"},
		{"script", "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"attribute breakout", `x" onmouseover='y'`, "x&#34; onmouseover=&#39;y&#39;"},
		{"controls stripped", "a\x00b\x1bc\nd\x7fe\u0085f", "abc def"},
		{"bidi override stripped", "abc\u202edcba", "abcdcba"},
		{"invalid utf8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"unicode kept", "Zürich – 東京", "Zürich – 東京"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := clean(t, nil, tt.in); got != tt.want {
				t.Errorf("clean(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPrivacyPayloadFromAudit(t *testing.T) {
	t.Parallel()
	payload := map[string]string{"password": "hunter2", "note": "<script>alert(1)</script>", "reason": "bad_password"}
	orig := maps.Clone(payload)

	e := secmon.Event{Type: secmon.EventLoginFailure, Metadata: payload}
	(*secmon.PrivacyPolicy)(nil).ApplyEvent(&e)
	if diff := cmp.Diff(map[string]string{"reason": "bad_password"}, e.Metadata); diff != "" {
		t.Errorf("default policy (-want +got):\n%s", diff)
	}

	p := &secmon.PrivacyPolicy{MetadataKeys: []string{"password", "note", "reason"}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	e = secmon.Event{Type: secmon.EventLoginFailure, Metadata: payload}
	p.ApplyEvent(&e)
	want := map[string]string{
		"password": secmon.Redacted,
		"note":     "&lt;script&gt;alert(1)&lt;/script&gt;",
		"reason":   "bad_password",
	}
	if diff := cmp.Diff(want, e.Metadata); diff != "" {
		t.Errorf("allowlisted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(orig, payload); diff != "" {
		t.Errorf("caller's map was modified (-want +got):\n%s", diff)
	}
}

func TestPrivacySensitiveKeysAlwaysRedacted(t *testing.T) {
	t.Parallel()
	keys := []string{"password", "new_password", "Passwd", "client_secret", "csrf_token", "api_key", "X-Api-Key", "Authorization", "session_cookie", "pin", "otp", "key"}
	m := map[string]string{}
	for _, k := range keys {
		m[k] = "plain"
	}
	p := &secmon.PrivacyPolicy{MetadataKeys: keys}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	e := secmon.Event{Metadata: m}
	p.ApplyEvent(&e)
	if len(e.Metadata) != len(keys) {
		t.Fatalf("kept %d keys, want %d", len(e.Metadata), len(keys))
	}
	for k, v := range e.Metadata {
		if v != secmon.Redacted {
			t.Errorf("%s = %q, want %q", k, v, secmon.Redacted)
		}
	}
}

func TestPrivacyMetadataKeys(t *testing.T) {
	t.Parallel()
	t.Run("default keys are not credential names", func(t *testing.T) {
		t.Parallel()
		m := map[string]string{}
		for _, k := range secmon.DefaultMetadataKeys {
			m[k] = "plain"
		}
		e := secmon.Event{Metadata: m}
		(&secmon.PrivacyPolicy{MaxMetadataKeys: 20}).ApplyEvent(&e)
		if len(e.Metadata) != 20 {
			t.Fatalf("kept %d keys", len(e.Metadata))
		}
		if err := (&secmon.PrivacyPolicy{MetadataKeys: secmon.DefaultMetadataKeys}).Validate(); err != nil {
			t.Fatal(err)
		}
		for _, k := range secmon.DefaultMetadataKeys {
			e := secmon.Event{Metadata: map[string]string{k: "plain"}}
			(*secmon.PrivacyPolicy)(nil).ApplyEvent(&e)
			if e.Metadata[k] != "plain" {
				t.Errorf("default key %q: value %q", k, e.Metadata[k])
			}
		}
	})
	t.Run("not allowlisted dropped", func(t *testing.T) {
		t.Parallel()
		e := secmon.Event{Metadata: map[string]string{"note": "x", "body": "y", "route": "/login"}}
		(&secmon.PrivacyPolicy{}).ApplyEvent(&e)
		if diff := cmp.Diff(map[string]string{"route": "/login"}, e.Metadata); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("nothing kept is nil", func(t *testing.T) {
		t.Parallel()
		e := secmon.Event{Metadata: map[string]string{"note": "x"}}
		(&secmon.PrivacyPolicy{}).ApplyEvent(&e)
		if e.Metadata != nil {
			t.Errorf("Metadata = %v, want nil", e.Metadata)
		}
	})
	t.Run("empty allowlist keeps nothing", func(t *testing.T) {
		t.Parallel()
		e := secmon.Event{Metadata: map[string]string{"reason": "x"}}
		(&secmon.PrivacyPolicy{MetadataKeys: []string{}}).ApplyEvent(&e)
		if e.Metadata != nil {
			t.Errorf("Metadata = %v, want nil", e.Metadata)
		}
	})
	t.Run("cap keeps first keys in sorted order", func(t *testing.T) {
		t.Parallel()
		var allow []string
		m := map[string]string{}
		for i := 0; i < 50; i++ {
			k := fmt.Sprintf("k%02d", 49-i)
			allow = append(allow, k)
			m[k] = "v"
		}
		p := &secmon.PrivacyPolicy{MetadataKeys: allow, MaxMetadataKeys: 5}
		for range 3 { // map order varies; the result must not
			e := secmon.Event{Metadata: m}
			p.ApplyEvent(&e)
			got := slices.Sorted(maps.Keys(e.Metadata))
			if diff := cmp.Diff([]string{"k00", "k01", "k02", "k03", "k04"}, got); diff != "" {
				t.Fatal(diff)
			}
		}
	})
	t.Run("ten thousand keys", func(t *testing.T) {
		t.Parallel()
		m := make(map[string]string, 10000)
		var allow []string
		for i := range 10000 {
			k := "key_" + strconv.Itoa(i)
			m[k] = strings.Repeat("v", i%50)
			if i%100 == 0 {
				allow = append(allow, k)
			}
		}
		for _, p := range []*secmon.PrivacyPolicy{nil, {MetadataKeys: allow}} {
			e := secmon.Event{Metadata: m}
			p.ApplyEvent(&e)
			if len(e.Metadata) > secmon.MaxMetadataKeys {
				t.Errorf("kept %d keys, more than %d", len(e.Metadata), secmon.MaxMetadataKeys)
			}
			if p != nil && len(e.Metadata) != secmon.MaxMetadataKeys {
				t.Errorf("kept %d keys, want %d", len(e.Metadata), secmon.MaxMetadataKeys)
			}
		}
		if len(m) != 10000 {
			t.Error("caller's map was modified")
		}
	})
}

func TestPrivacyValueCaps(t *testing.T) {
	t.Parallel()
	t.Run("10 MB value", func(t *testing.T) {
		t.Parallel()
		big := strings.Repeat("word ", 2<<20) // 10 MiB
		got := clean(t, nil, big)
		if len(got) > secmon.MaxMetadataLen || len(got) < secmon.MaxMetadataLen-5 {
			t.Errorf("len = %d, want about %d", len(got), secmon.MaxMetadataLen)
		}
	})
	t.Run("cut on rune boundary", func(t *testing.T) {
		t.Parallel()
		p := &secmon.PrivacyPolicy{MaxValueLen: 10}
		got := clean(t, p, "ééééééééé") // 18 bytes
		if got != "ééééé" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("cut never splits an entity", func(t *testing.T) {
		t.Parallel()
		p := &secmon.PrivacyPolicy{MaxValueLen: 10}
		if got := clean(t, p, "abcdefg<x"); got != "abcdefg" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("secret across the scan window is not leaked", func(t *testing.T) {
		t.Parallel()
		// The card number starts inside the 4 KiB window and ends after it.
		v := strings.Repeat("[REDACTED] ", 4096/11) + "4111 1111 1111 1111"
		got := clean(t, nil, v)
		if strings.Contains(got, "4111") {
			t.Errorf("partial card number kept: ...%q", got[max(0, len(got)-40):])
		}
	})
	t.Run("user agent", func(t *testing.T) {
		t.Parallel()
		e := secmon.Event{UserAgent: "Mozilla/5.0\r\nX-Injected: 1" + strings.Repeat("a", 1000)}
		(*secmon.PrivacyPolicy)(nil).ApplyEvent(&e)
		if len(e.UserAgent) != secmon.MaxUserAgentLen || strings.ContainsAny(e.UserAgent, "\r\n") {
			t.Errorf("UserAgent = %q (%d bytes)", e.UserAgent[:40], len(e.UserAgent))
		}
		b := secmon.SessionBeat{UserAgent: "ua\x00" + strings.Repeat("é", 300), Fingerprint: "ab\ncd" + strings.Repeat("f", 200)}
		(&secmon.PrivacyPolicy{MaxUserAgentLen: 11}).ApplyBeat(&b)
		if b.UserAgent != "uaéééé" {
			t.Errorf("beat UserAgent = %q", b.UserAgent)
		}
		if len(b.Fingerprint) != secmon.MaxFingerprintLen || !strings.HasPrefix(b.Fingerprint, "ab cd") {
			t.Errorf("beat Fingerprint = %q", b.Fingerprint)
		}
	})
}

func TestPrivacyApplyActivity(t *testing.T) {
	t.Parallel()
	a := secmon.Activity{
		UserID:   "u1",
		Action:   "export",
		Resource: "report:42 for bob@example.com",
		Metadata: map[string]string{"rows": "100", "note": "x", "path": "/dl?token=abc"},
	}
	(*secmon.PrivacyPolicy)(nil).ApplyActivity(&a)
	if a.Resource != "report:42 for "+secmon.Redacted {
		t.Errorf("Resource = %q", a.Resource)
	}
	if diff := cmp.Diff(map[string]string{"rows": "100", "path": "/dl?token=" + secmon.Redacted}, a.Metadata); diff != "" {
		t.Error(diff)
	}
}

func TestPrivacyValidate(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef")
	tests := []struct {
		name  string
		p     *secmon.PrivacyPolicy
		field string // "" = valid
	}{
		{"nil", nil, ""},
		{"zero", &secmon.PrivacyPolicy{}, ""},
		{"hash with key", &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: key}, ""},
		{"hash without key", &secmon.PrivacyPolicy{IPMode: secmon.IPHash}, "PrivacyPolicy.IPHashKey"},
		{"hash short key", &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: key[:15]}, "PrivacyPolicy.IPHashKey"},
		{"unknown mode", &secmon.PrivacyPolicy{IPMode: 9}, "PrivacyPolicy.IPMode"},
		{"too many keys", &secmon.PrivacyPolicy{MaxMetadataKeys: 21}, "PrivacyPolicy.MaxMetadataKeys"},
		{"negative keys", &secmon.PrivacyPolicy{MaxMetadataKeys: -1}, "PrivacyPolicy.MaxMetadataKeys"},
		{"value too long", &secmon.PrivacyPolicy{MaxValueLen: 1025}, "PrivacyPolicy.MaxValueLen"},
		{"ua too long", &secmon.PrivacyPolicy{MaxUserAgentLen: 513}, "PrivacyPolicy.MaxUserAgentLen"},
		{"empty key", &secmon.PrivacyPolicy{MetadataKeys: []string{"ok", ""}}, "PrivacyPolicy.MetadataKeys[1]"},
		{"bad key", &secmon.PrivacyPolicy{MetadataKeys: []string{"a b"}}, "PrivacyPolicy.MetadataKeys[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *secmon.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, secmon.ErrInvalid) {
				t.Fatalf("Validate() = %v, want a FieldError on %s", err, tt.field)
			}
			if strings.Contains(err.Error(), string(key[:15])) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}

func TestPrivacyMaskIP(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123")
	a := netip.MustParseAddr
	tests := []struct {
		mode     secmon.IPMode
		in, want string
	}{
		{secmon.IPFull, "203.0.113.77", "203.0.113.77"},
		{secmon.IPFull, "::ffff:203.0.113.77", "203.0.113.77"},
		{secmon.IPFull, "fe80::1%eth0", "fe80::1"},
		{secmon.IPFull, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"},
		{secmon.IPTruncate, "203.0.113.77", "203.0.113.0"},
		{secmon.IPTruncate, "::ffff:203.0.113.77", "203.0.113.0"},
		{secmon.IPTruncate, "2001:db8:1:2:3:4:5:6", "2001:db8:1::"},
		// 6to4 carries the whole IPv4 address in bits 16–47: a /48 would
		// keep it, so the embedded address is cut to its /24 like IPv4.
		{secmon.IPTruncate, "2002:cb00:7107:1::1", "2002:cb00:7100::"},
	}
	for _, tt := range tests {
		p := &secmon.PrivacyPolicy{IPMode: tt.mode}
		if got := p.MaskIP(a(tt.in)); got != a(tt.want) {
			t.Errorf("%v MaskIP(%s) = %s, want %s", tt.mode, tt.in, got, tt.want)
		}
	}
	if got := (&secmon.PrivacyPolicy{}).MaskIP(netip.Addr{}); got.IsValid() {
		t.Errorf("invalid address became %s", got)
	}

	hash := &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: key}
	for _, tt := range []struct{ x, y string }{
		{"203.0.113.77", "203.0.113.78"},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
		{"2002:cb00:7107:1::1", "2002:cb00:7107:2::1"}, // one 6to4 site: one pseudonym /64
	} {
		x, y := hash.MaskIP(a(tt.x)), hash.MaskIP(a(tt.y))
		if !netip.MustParsePrefix("fd00::/8").Contains(x) {
			t.Errorf("hash of %s = %s, outside fd00::/8", tt.x, x)
		}
		if x == y {
			t.Errorf("%s and %s hash alike", tt.x, tt.y)
		}
		if x != hash.MaskIP(a(tt.x)) {
			t.Errorf("hash of %s is not stable", tt.x)
		}
		if strings.Contains(x.String(), tt.x) {
			t.Errorf("hash %s shows the address", x)
		}
		// The pseudonym matches the documented construction.
		if want := expectedHash(key, a(tt.x)); x != want {
			t.Errorf("hash of %s = %s, want %s", tt.x, x, want)
		}
		sameGroup := secmon.IPGroup(x) == secmon.IPGroup(y)
		wantSame := secmon.IPGroup(a(tt.x)) == secmon.IPGroup(a(tt.y))
		if sameGroup != wantSame {
			t.Errorf("IPGroup of hashes of %s, %s equal = %v, want %v", tt.x, tt.y, sameGroup, wantSame)
		}
	}
	if hash.MaskIP(a("::ffff:203.0.113.77")) != hash.MaskIP(a("203.0.113.77")) {
		t.Error("mapped and plain IPv4 hash differently")
	}
	other := &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: []byte("another key of 16+ bytes")}
	if other.MaskIP(a("203.0.113.77")) == hash.MaskIP(a("203.0.113.77")) {
		t.Error("different keys give the same pseudonym")
	}
	long := &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: []byte(strings.Repeat("k", 100))}
	if got, want := long.MaskIP(a("203.0.113.77")), expectedHash(long.IPHashKey, a("203.0.113.77")); got != want {
		t.Errorf("long key: %s, want %s", got, want)
	}
	if got := (&secmon.PrivacyPolicy{IPMode: secmon.IPHash}).MaskIP(a("203.0.113.77")); got.IsValid() {
		t.Errorf("hash mode without key kept %s", got)
	}
}

// expectedHash recomputes the documented pseudonym with crypto/hmac.
func expectedHash(key []byte, ip netip.Addr) netip.Addr {
	mac := func(tag byte, family byte, bits int, a netip.Addr) []byte {
		h := hmac.New(sha256.New, key)
		a16 := a.As16()
		h.Write([]byte{tag, family, byte(bits)})
		h.Write(a16[:])
		return h.Sum(nil)
	}
	ip = ip.Unmap()
	family := byte(6)
	if ip.Is4() {
		family = 4
	}
	g := secmon.IPGroup(ip)
	hi := mac('g', family, g.Bits(), g.Addr())
	lo := mac('a', family, 128, ip)
	var out [16]byte
	out[0] = 0xfd
	copy(out[1:8], hi[:7])
	copy(out[8:], lo[:8])
	return netip.AddrFrom16(out)
}

func TestPrivacyZeroAllocHotPath(t *testing.T) {
	// Not parallel: testing.AllocsPerRun refuses to run in parallel tests.
	for _, mode := range []secmon.IPMode{secmon.IPFull, secmon.IPTruncate} {
		p := &secmon.PrivacyPolicy{IPMode: mode}
		e := secmon.Event{Type: secmon.EventPageView, IP: netip.MustParseAddr("2001:db8::1"), UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}
		if n := testing.AllocsPerRun(100, func() { ev := e; p.ApplyEvent(&ev) }); n != 0 {
			t.Errorf("%v: ApplyEvent allocates %v times without metadata", mode, n)
		}
	}
	// A 10 MB value costs what a 4 KiB one does: one map and one string.
	big := secmon.Event{Metadata: map[string]string{"reason": strings.Repeat("word ", 2<<20)}}
	if n := testing.AllocsPerRun(3, func() { ev := big; (*secmon.PrivacyPolicy)(nil).ApplyEvent(&ev) }); n > 5 {
		t.Errorf("%v allocations for a 10 MB value; work must not grow with it", n)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ev := big
	(*secmon.PrivacyPolicy)(nil).ApplyEvent(&ev)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("ApplyEvent allocated %d bytes for a 10 MB value", n)
	}
	// Clean values are returned as they are: one map, no string copies.
	e := secmon.Event{Metadata: map[string]string{"reason": "bad_password", "route": "/login"}}
	if n := testing.AllocsPerRun(100, func() { ev := e; (*secmon.PrivacyPolicy)(nil).ApplyEvent(&ev) }); n > 2 {
		t.Errorf("ApplyEvent with two clean values allocates %v times", n)
	}
}

// invisible lists the format characters a cleaned value never holds:
// bidirectional controls, zero-width and other invisible characters, tags.
func invisible(r rune) bool {
	return r == 0xad || r == 0x61c || r == 0x180e || r >= 0x200b && r <= 0x200f || r >= 0x202a && r <= 0x202e ||
		r >= 0x2060 && r <= 0x206f || r == 0xfeff || r >= 0xfff9 && r <= 0xfffb || r >= 0xe0000 && r <= 0xe007f
}

// checkCleaned asserts the invariants every cleaned value keeps.
func checkCleaned(t *testing.T, in, out string, max int) {
	t.Helper()
	if len(out) > max {
		t.Fatalf("len %d > cap %d for %q", len(out), max, in)
	}
	if !utf8.ValidString(out) {
		t.Fatalf("invalid UTF-8 %q from %q", out, in)
	}
	for _, r := range out {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || invisible(r) || r == 0x2028 || r == 0x2029 {
			t.Fatalf("control %U kept in %q from %q", r, out, in)
		}
	}
	if strings.ContainsAny(out, `<>"'`) {
		t.Fatalf("markup kept in %q from %q", out, in)
	}
}

func FuzzPrivacyValue(f *testing.F) {
	for _, s := range []string{
		"", "plain", "password=hunter2", `{"password":"hunter2"}`, "<script>alert(1)</script>",
		"Bearer abcDEF123456", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig", "4111 1111 1111 1111",
		"https://u:p@h/x?token=1&sig=2", "a@b.co", "\xff\xfe\x00\u202e", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
		strings.Repeat("é", 600), strings.Repeat("1 ", 700), strings.Repeat("a=b&", 400),
		`{\"pass_word\":\"x\"}`, "pass\u200bword=x", "ｐａｓｓ＝x", "bob%40example.com", "<pwd>x</pwd>",
		"-----BEGIN PRIVATE KEY----- abc", "DE89 3704 0044 0532 0130 00", "4111.1111.1111.1111",
		"sha256:" + strings.Repeat("ab12", 16), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "Cookie: a=1; b=2",
		"https://hooks.slack.com/services/T0/B0/XX", "from [2001:db8::1]:443 and 203.0.113.7:80.", "::ffff:1.2.3.4 1:2:3:4:5:6:7:8", "password\\u003dx", strings.Repeat("DE89 ", 300),
		`apiToken := "Zq3vP9xL2mK8wR5t"`, `<add key="Password" value="x y"/>`, `if ("abc" == password) {`,
		"password: correct horse\nnext: 1", `System.setProperty("X_TOKEN", "abc")`, "my password is hunter2",
		"ghp_16C7e42F292c6912E7710c838347Ae178B4a", "token=&amp;x", "&lt;pwd&gt;a&lt;/pwd&gt;", "key = AKIAQWERTYUI7ZX5NBVC",
		`{"name": "api_token", "value": "v"}`, "curl -u admin:hunter2 https://x", "[REDACTED] password=[REDACTED]",
	} {
		f.Add(s, 0)
		f.Add(s, 7)
	}
	f.Fuzz(func(t *testing.T, v string, capLen int) {
		if capLen < 0 || capLen > secmon.MaxMetadataLen {
			capLen = 0
		}
		p := &secmon.PrivacyPolicy{MaxValueLen: capLen, MetadataKeys: []string{"v"}}
		if capLen%2 == 1 {
			p.IPMode = secmon.IPTruncate // addresses in the value are masked too
		}
		max := capLen
		if max == 0 {
			max = secmon.MaxMetadataLen
		}
		e := secmon.Event{Metadata: map[string]string{"v": v}, UserAgent: v}
		p.ApplyEvent(&e)
		checkCleaned(t, v, e.Metadata["v"], max)
		// Idempotent: cleaning the cleaned value changes nothing.
		again := secmon.Event{Metadata: map[string]string{"v": e.Metadata["v"]}}
		p.ApplyEvent(&again)
		if again.Metadata["v"] != e.Metadata["v"] {
			t.Fatalf("not idempotent: %q -> %q -> %q", v, e.Metadata["v"], again.Metadata["v"])
		}
		if len(e.UserAgent) > secmon.MaxUserAgentLen || !utf8.ValidString(e.UserAgent) || strings.ContainsFunc(e.UserAgent, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("UserAgent %q from %q", e.UserAgent, v)
		}
		if p.IPMode == secmon.IPFull && e.Metadata["v"] != v && v != "" && !strings.ContainsAny(v, "<>&\"'") && utf8.ValidString(v) && len(v) <= max {
			// A changed value must have had a reason: a redaction or a control.
			if !strings.Contains(e.Metadata["v"], secmon.Redacted) && !strings.ContainsFunc(v, func(r rune) bool {
				return r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || invisible(r) ||
					r == 0x2028 || r == 0x2029 || r == 0x3000 || r >= 0xff01 && r <= 0xff5e
			}) && len(e.Metadata["v"]) == len(v) {
				t.Fatalf("value changed without reason: %q -> %q", v, e.Metadata["v"])
			}
		}
	})
}

// cleanKiB is a 1 KiB value holding no secret: log prose with paths,
// numbers, identifiers and words that start credential names (key,
// session, token) without being one.
var cleanKiB = strings.Repeat("user 42 opened /settings/display and changed the language to German; the request took 35 ms. ", 12)[:1024]

func BenchmarkApplyEvent(b *testing.B) {
	ip := netip.MustParseAddr("2001:db8::1")
	ua := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	md := map[string]string{
		"reason": "bad_password", "route": "/login", "method": "POST",
		"status": "401", "path": "/login?next=/home",
	}
	for _, bc := range []struct {
		name string
		p    *secmon.PrivacyPolicy
		md   map[string]string
	}{
		{"nil-metadata/full", &secmon.PrivacyPolicy{}, nil},
		{"nil-metadata/truncate", &secmon.PrivacyPolicy{IPMode: secmon.IPTruncate}, nil},
		{"nil-metadata/hash", &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: []byte("0123456789abcdef")}, nil},
		{"5-keys/full", &secmon.PrivacyPolicy{}, md},
		{"1KiB-clean/full", &secmon.PrivacyPolicy{}, map[string]string{"reason": cleanKiB}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			e := secmon.Event{Type: secmon.EventLoginFailure, IP: ip, UserAgent: ua, Metadata: bc.md}
			for b.Loop() {
				ev := e
				bc.p.ApplyEvent(&ev)
			}
		})
	}
}

func ExamplePrivacyPolicy_ApplyEvent() {
	p := &secmon.PrivacyPolicy{IPMode: secmon.IPTruncate}
	e := secmon.Event{
		Type: secmon.EventLoginFailure,
		IP:   netip.MustParseAddr("203.0.113.77"),
		Metadata: map[string]string{
			"password": "hunter2",                            // not allowlisted: dropped
			"note":     "<script>alert(1)</script>",          // not allowlisted: dropped
			"reason":   "bad password for alice@example.com", // e-mail redacted
			"path":     "/login?next=/home&token=abc123",     // query token redacted
			"route":    "/login",                             // kept as is
		},
	}
	p.ApplyEvent(&e)
	fmt.Println(e.IP)
	for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
		fmt.Printf("%s=%s\n", k, e.Metadata[k])
	}
	// Output:
	// 203.0.113.0
	// path=/login?next=/home&amp;token=[REDACTED]
	// reason=bad password for [REDACTED]
	// route=/login
}

// TestPrivacyAdversarialKeys feeds credential names spelled the ways
// clients and frameworks spell them, and names that only look alike.
func TestPrivacyAdversarialKeys(t *testing.T) {
	t.Parallel()
	secret := []string{
		"Password", "pass_word", "Pass-Word", "pass.word", "p_a_s_s_w_o_r_d", "userPassword", "passWord",
		"pwd", "PWD", "user_pass", "x-pass", "passcode", "pin_code", "userPIN", "mfa_code", "otp_code",
		"recovery_code", "code", "private-key", "privateKey", "access_key", "secretKey", "client-secret",
		"access-token", "sessionId", "session_id", "JSESSIONID", "PHPSESSID", "session", "user_session",
		"sid", "csrf", "XSRF-TOKEN", "X-Auth", "auth", "Proxy-Authorization", "Set-Cookie", "cvv2",
		"card_number", "creditCard", "iban", "ssn", "jwt",
	}
	kept := []string{
		"author", "author_id", "authority", "oauth_provider", "session_count", "sessions", "error_code",
		"status_code", "country_code", "threat_codes", "mfa_method", "keyword", "spinner", "passenger",
		"compass", "pinned", "option",
	}
	for _, k := range append(append([]string(nil), secret...), kept...) {
		p := &secmon.PrivacyPolicy{MetadataKeys: []string{k}}
		if err := p.Validate(); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		e := secmon.Event{Metadata: map[string]string{k: "hunter2"}}
		p.ApplyEvent(&e)
		want := "hunter2"
		if slices.Contains(secret, k) {
			want = secmon.Redacted
		}
		if got := e.Metadata[k]; got != want {
			t.Errorf("key %q: value %q, want %q", k, got, want)
		}
	}
	// A non-ASCII key can never be allowlisted, so a confusable spelling
	// of a credential name is never stored.
	if err := (&secmon.PrivacyPolicy{MetadataKeys: []string{"ＰＡＳＳＷＯＲＤ"}}).Validate(); err == nil {
		t.Error("a fullwidth key was accepted into the allowlist")
	}
}

// TestPrivacyAdversarialValues hides secrets and personal data inside
// values of allowlisted keys.
func TestPrivacyAdversarialValues(t *testing.T) {
	t.Parallel()
	const R = secmon.Redacted
	tests := []struct {
		name, in, want string
	}{
		{"separated name", "pass_word=hunter2", "pass_word=" + R},
		{"suffix name", "user_pass=hunter2", "user_pass=" + R},
		{"passcode", "passcode=123456", "passcode=" + R},
		{"spaced pair", "password    =    hunter2", "password    =    " + R},
		{"ruby hash", `"password" => "hunter2"`, "&#34;password&#34; =&gt; &#34;" + R + "&#34;"},
		{"xml element", "<password>hunter2</password>", "&lt;password&gt;" + R + "&lt;/password&gt;"},
		{"oauth code", "/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj", "/cb?code=" + R + "&amp;state=af0ifjsldkj"},
		{"escaped json", `{\"password\":\"hunter2\"}`, `{\&#34;password\&#34;:\&#34;` + R + `\&#34;}`},
		{"escaped quote inside json value", `{"password":"hun\"ter2"}`, "{&#34;password&#34;:&#34;" + R + "&#34;}"},
		{"json unicode escape", `password\u003dhunter2`, `password\u003d` + R},
		{"double encoded", "/a?next=%2Fb%253Ftoken%253Dabc", "/a?next=%2Fb%253Ftoken%253D" + R},
		{"url encoded email", "/invite?to=bob%40example.com", "/invite?to=" + R},
		{"double encoded email", "/invite?to=bob%2540example.com", "/invite?to=" + R},
		{"fullwidth at", "bob＠example.com", R},
		{"fullwidth pair", "ｐａｓｓｗｏｒｄ＝hunter2", "password=" + R},
		{"zero width inside name", "pass\u200bword=hunter2", "password=" + R},
		{"soft hyphen inside name", "pass\u00adword=hunter2", "password=" + R},
		{"digest auth", `Authorization: Digest username="bob", response="6629fae49393a05397450978507c4ef1"`, "Authorization: " + R},
		{"cookie header", "Cookie: theme=dark; sid=abc; remember=xyz", "Cookie: " + R},
		{"aws secret", "key wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9gTBr5Ykv used", "key " + R + " used"},
		{"aws documentation example secret kept", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{"slack webhook", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", R},
		{"discord webhook", "https://discord.com/api/webhooks/123456/abcDEF-token", "https://discord.com/api/webhooks/" + R},
		{"pem private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234\nabcd\n-----END RSA PRIVATE KEY----- tail", R + " tail"},
		{"pem cut by the window", "x -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA", "x " + R},
		{"pem certificate kept", "-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----"},
		{"card dotted", "4111.1111.1111.1111", R},
		{"card underscored", "4111_1111_1111_1111", R},
		{"card double spaced", "4111  1111  1111  1111", R},
		{"card fullwidth", "４１１１ １１１１ １１１１ １１１１", R},
		{"pi kept", "3.14159265358979", "3.14159265358979"},
		{"sendgrid key", "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", R},
		{"german password", "passwort=geheim", "passwort=" + R},
		{"code parameter", "/cb?code=404", "/cb?code=" + R},
		{"nested form name", "user[email]=x&user[password]=hunter2", "user[email]=x&amp;user[password]=" + R},
		{"array form name", "password[]=hunter2", "password[]=" + R},
		{"encoded nested form name", "user%5Bpassword%5D=hunter2", "user%5Bpassword%5D=" + R},
		{"code in prose kept", "upstream status code: 500, code=7", "upstream status code: 500, code=7"},
		{"iban grouped", "pay DE89 3704 0044 0532 0130 00 now", "pay " + R + " now"},
		{"iban compact", "GB82WEST12345698765432", R},
		{"iban bad checksum kept", "DE88 3704 0044 0532 0130 00", "DE88 3704 0044 0532 0130 00"},
		{"md5 labelled", "md5:d2c7f2a4b9e81a3c5d6e7f8091a2b3c4", "md5:d2c7f2a4b9e81a3c5d6e7f8091a2b3c4"},
		{"sha256 labelled", "sha256=d2c7f2a4b9e81a3c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4", "sha256=d2c7f2a4b9e81a3c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4"},
		{"commit labelled", "commit 3c593ae4b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6", "commit 3c593ae4b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6"},
		{"unlabelled hex kept", "d2c7f2a4b9e81a3c5d6e7f8091a2b3c4", "d2c7f2a4b9e81a3c5d6e7f8091a2b3c4"},
		{"commit hash kept", "deployed 3c593ae4b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6", "deployed 3c593ae4b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6"},
		{"author kept", "author: bob", "author: bob"},
		{"session count kept", "session_count=3", "session_count=3"},
		{"line separators", "a\u2028b\u2029c", "a b c"},
		{"zero width stripped", "ad\u200bmin\ufeff\u2060", "admin"},
		{"tag characters stripped", "ok\U000E0041\U000E0042", "ok"},
		{"arabic letter mark stripped", "a\u061cb", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := clean(t, nil, tt.in); got != tt.want {
				t.Errorf("clean(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestPrivacyAddressesInValues: under IPTruncate and IPHash an address
// written into a metadata value or an activity's resource is masked like
// Event.IP, so the policy cannot be sidestepped through free text.
func TestPrivacyAddressesInValues(t *testing.T) {
	t.Parallel()
	trunc := &secmon.PrivacyPolicy{IPMode: secmon.IPTruncate}
	hash := &secmon.PrivacyPolicy{IPMode: secmon.IPHash, IPHashKey: []byte("0123456789abcdef")}
	h4 := hash.MaskIP(netip.MustParseAddr("203.0.113.77")).String()
	tests := []struct {
		p        *secmon.PrivacyPolicy
		in, want string
	}{
		{nil, "blocked 203.0.113.77", "blocked 203.0.113.77"},
		{trunc, "blocked 203.0.113.77", "blocked 203.0.113.0"},
		{trunc, "from 203.0.113.77:443.", "from 203.0.113.0:443."},
		{trunc, "via [2001:db8:1:2::7]:443", "via [2001:db8:1::]:443"},
		{trunc, "peer ::ffff:203.0.113.77 and fe80::1%eth0", "peer 203.0.113.0 and fe80::%eth0"},
		{trunc, "hosts/10.1.2.3/x", "hosts/10.1.2.0/x"},
		{trunc, "at 12:30:45 mac 00:1a:2b:3c:4d:5e v1.2.3 std::vector 999.1.1.1", "at 12:30:45 mac 00:1a:2b:3c:4d:5e v1.2.3 std::vector 999.1.1.1"},
		{hash, "blocked 203.0.113.77", "blocked " + h4},
	}
	for _, tt := range tests {
		e := secmon.Event{Metadata: map[string]string{"reason": tt.in}}
		tt.p.ApplyEvent(&e)
		if got := e.Metadata["reason"]; got != tt.want {
			t.Errorf("%v: %q\n got %q\nwant %q", tt.p.MaskIP(netip.MustParseAddr("203.0.113.77")), tt.in, got, tt.want)
		}
	}
	a := secmon.Activity{Resource: "host 198.51.100.9"}
	trunc.ApplyActivity(&a)
	if a.Resource != "host 198.51.100.0" {
		t.Errorf("Resource = %q", a.Resource)
	}
}

// vendorKeywords holds the keyword of every gitleaks rule, so that each
// rule's regular expression runs.
const vendorKeywords = "-----begin 4b1d _gitlab_session= _mmk _pub a3- a3t abia absk acca adafruit adobe age-secret-key-1 airtable aiza akcp akia algolia alibaba api- api_org_ artifactory asana asia atatt3 atlassian atlasv1 authress_ beamer bedrock-api-key- bintray bitbucket bittrex bundle_enterprise__contribsys__com bundle_gems__contribsys__com clojars_ cloudflare cmvmd co_api_key codecov cohere coinbase confluence confluent contentful curl dapi datadog discord dnkey doo_v1_ dop_v1_ dor_v1_ dp.pt. droneci dropbox dt0c01. duffel_ eaaa eaac eaam enterprise.contribsys.com etsy ext_ ey eyjrijoi ezak eztk facebook fastly finicity finnhub fio-u- flickr flwpubk_test flwseck_test fm1 fm2_ fo1_ freshbooks gems.contribsys.com gho_ ghp_ ghr_ ghs_ ghu_ github_pat_ gitter glagent- glc_ glcbt- gldt- glffct- glft- glimt- gloas- glpat- glptt- glrt- glsa_ glsoat- gocardless gr1348941 heroku hf_ hooks.slack.com hrku-aa hubspot hvb. hvs. ico- incomingwebhook intercom intra jfrog jira kraken kucoin launchdarkly lin_api_ linear linked-in linked_in linkedin live_ live_pub looker ltai mailchimp mailgun mapbox mattermost meraki message-bird message_bird messagebird netlify new-relic new-york-times new_relic newrelic newyorktimes npm_ nrak nrii- nrjs- ntn_ nytimes okta ops_ p8e- pat. plaid pmak- pnu_ pplx- private-ai private_ai privateai pscale_oauth_ pscale_pw_ pscale_tkn_ pul- pypi-ageichlwas5vcmc q~ rapidapi rdme_ rk_live rk_prod rk_test rubygems_ s-s4t2af- s-s4t2ud- s. sat. sc_ scauth_ sendbird sentry sg. sgp_ sha256~ shippo_ shpat_ shpca_ shppa_ shpss_ sk sk-ant-admin01 sk-ant-api03 sk_live sk_prod sk_test sm_aat sm_pat sm_sat sntrys_eyjpyxqio sntryu_ snyk sonar sourcegraph sq0atp- squarespace sumo t3blbkfj telegr test_ test_pub tfp_ tk-us- travis twitch twitter v1.0- webhook.office.com webhookb2 xapp xkeysib- xoxa xoxb xoxe- xoxe.xoxb- xoxe.xoxp- xoxo xoxp- xoxr xoxs xray yandex zendesk zxlk"

// BenchmarkApplyEventHostile cleans 4 KiB values shaped to make each
// scanner work hardest: many separators, at-signs, IBAN and card
// candidates, PEM headers, addresses.
func BenchmarkApplyEventHostile(b *testing.B) {
	for _, bc := range []struct{ name, v string }{
		{"words", strings.Repeat("word ", 819)},
		{"pairs", strings.Repeat("password=", 455)},
		{"encoded-at", strings.Repeat("%40", 1365)},
		{"iban", strings.Repeat("DE89 ", 819)},
		{"card", strings.Repeat("4 ", 2048)},
		{"pem", strings.Repeat("-----BEGIN PRIVATE-----", 178)},
		{"addresses-truncate", strings.Repeat("203.0.113.7 ", 341)},
		{"vendor-keywords", strings.Repeat(vendorKeywords+" = x ", 4096/(len(vendorKeywords)+5)+1)[:4096]},
		{"assignments", strings.Repeat("api_token = ", 342)},
	} {
		p := &secmon.PrivacyPolicy{IPMode: secmon.IPTruncate}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.v)))
			for b.Loop() {
				e := secmon.Event{Metadata: map[string]string{"reason": bc.v}}
				p.ApplyEvent(&e)
			}
		})
	}
}
