package dashboard

import (
	"encoding/base64"
	"encoding/binary"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

var now = time.Date(2026, 3, 3, 15, 40, 0, 0, time.UTC)

func TestParseTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                          "",
		"2026-03-02 14:05":          "2026-03-02T14:05:00Z",
		"2026-03-02T14:05":          "2026-03-02T14:05:00Z",
		"2026-03-02 14:05:09":       "2026-03-02T14:05:09Z",
		"2026-03-02 14:05:09 UTC":   "2026-03-02T14:05:09Z",
		"2026-03-02":                "2026-03-02T00:00:00Z",
		"2026-03-02T14:05:09+02:00": "2026-03-02T12:05:09Z",
	} {
		got, err := parseTime("from", in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if s := got.Format(time.RFC3339); (in == "" && !got.IsZero()) || (in != "" && s != want) {
			t.Errorf("%q = %s, want %s", in, s, want)
		}
	}
	for _, in := range []string{"yesterday", "2026-13-01", "0001-01-01", "2026-03-02 25:00", strings.Repeat("9", 100)} {
		if _, err := parseTime("from", in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestParseAddrOrPrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"203.0.113.7":            "203.0.113.7/32",
		" 203.0.113.7 ":          "203.0.113.7/32",
		"ip:203.0.113.7/32":      "203.0.113.7/32",
		"203.0.113.7/24":         "203.0.113.0/24",
		"2001:db8::1":            "2001:db8::1/128",
		"2001:db8::1/64":         "2001:db8::/64",
		"::ffff:203.0.113.7":     "203.0.113.7/32",
		"::ffff:203.0.113.0/120": "203.0.113.0/24",
		"fe80::1%eth0":           "fe80::1/128",
	} {
		got, err := parseAddrOrPrefix("ip", in)
		if err != nil || got.String() != want {
			t.Errorf("%q = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"300.1.1.1", "203.0.113.7/33", "host.example", "1.2.3.4/x", strings.Repeat("1", 70)} {
		if _, err := parseAddrOrPrefix("ip", in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := secmon.EventCursor{Time: time.Date(2026, 3, 3, 1, 2, 3, 456789123, time.UTC), ID: uuid.MustParse("019cb45b-2c80-7a9d-a842-8357a36c198e")}
	got, err := parseCursor(formatCursor(c))
	if err != nil || !got.Time.Equal(c.Time) || got.ID != c.ID {
		t.Errorf("round trip: %v, %v", got, err)
	}
	if formatCursor(secmon.EventCursor{}) != "" {
		t.Error("the zero cursor is not empty")
	}
	for _, bad := range []string{"x", "1_", "_019cb45b-2c80-7a9d-a842-8357a36c198e", "-5_019cb45b-2c80-7a9d-a842-8357a36c198e",
		"1_019cb45b2c807a9da8428357a36c198e", "99999999999999999999_019cb45b-2c80-7a9d-a842-8357a36c198e"} {
		if _, err := parseCursor(bad); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func TestEventFilterRoundTrip(t *testing.T) {
	t.Parallel()
	v := url.Values{"type": {"login_failure"}, "user": {" alice "}, "ip": {"2001:db8::/64"}, "from": {"2026-03-02T14:05"},
		"to": {"2026-03-03"}, "severity": {"HIGH"}, "before": {"1_019cb45b-2c80-7a9d-a842-8357a36c198e"}}
	f, err := parseEventFilter(v)
	if err != nil {
		t.Fatal(err)
	}
	q := f.query(10)
	if q.Types[0] != secmon.EventLoginFailure || q.UserID != "alice" || q.IP.String() != "2001:db8::/64" || q.MinSeverity != secmon.SeverityHigh ||
		q.Before.IsZero() || q.Limit != 10 || !q.From.Equal(time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)) {
		t.Errorf("query %+v", q)
	}
	again, err := parseEventFilter(f.values())
	if err != nil {
		t.Fatal(err)
	}
	again.Before = f.Before // values() leaves the cursor out
	if again != f {
		t.Errorf("values() does not round-trip: %+v vs %+v", again, f)
	}
	_, err = parseEventFilter(url.Values{"type": {"Bad"}, "ip": {"x"}, "severity": {"loud"}})
	if msgs := fieldMessages(err); len(msgs) != 3 {
		t.Errorf("three bad fields gave %v", msgs)
	}
	if _, err := parseEventFilter(url.Values{"user": {strings.Repeat("u", maxInputLen+1)}}); err == nil {
		t.Error("an over-long input was accepted")
	}
}

func TestParseBack(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                 "alerts",
		"alerts":                           "alerts",
		"alerts?status=all&done=lifted":    "alerts?status=all",
		"events?ip=1.2.3.4&before=x":       "events?before=x&ip=1.2.3.4",
		"?x=1":                             "./?x=1",
		"https://evil.example/alerts":      "alerts",
		"//evil.example/alerts":            "alerts",
		"/alerts":                          "alerts",
		"../alerts":                        "alerts",
		"alerts#x":                         "alerts",
		`alerts\..\x`:                      "alerts",
		"javascript:alert(1)":              "alerts",
		"blocks?%zz":                       "alerts",
		"settings":                         "alerts",
		"alerts?a=%0d%0aSet-Cookie:%20x=1": "alerts?a=%0D%0ASet-Cookie%3A+x%3D1",
	} {
		if got := parseBack(in, "alerts"); got != want {
			t.Errorf("parseBack(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseBlockRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		form    url.Values
		subject string
		until   time.Time
	}{
		{url.Values{"scope": {"ip"}, "value": {"203.0.113.7"}, "duration": {"1h"}}, "ip:203.0.113.7/32", now.Add(time.Hour)},
		{url.Values{"scope": {"ip"}, "value": {"2001:db8:1:2:3::9"}, "duration": {"15m"}}, "ip:2001:db8:1:2::/64", now.Add(15 * time.Minute)},
		{url.Values{"value": {"ip:2001:db8:1:2::/64"}, "duration": {"1h0m0s"}}, "ip:2001:db8:1:2::/64", now.Add(time.Hour)},
		{url.Values{"scope": {"prefix"}, "value": {"198.51.100.7/24"}, "duration": {"permanent"}}, "prefix:198.51.100.0/24", time.Time{}},
		{url.Values{"scope": {"user"}, "value": {" bob "}, "duration": {"720h"}}, "user:bob", now.Add(720 * time.Hour)},
		{url.Values{"value": {"user:alice"}, "duration": {"24h"}, "reason": {"  stuffing  "}}, "user:alice", now.Add(24 * time.Hour)},
	} {
		req, err := parseBlockRequest(tc.form, now)
		if err != nil {
			t.Errorf("%v: %v", tc.form, err)
			continue
		}
		if req.Subject != tc.subject || !req.Until.Equal(tc.until) || req.Origin != secmon.OriginManual || !req.Created.Equal(now) || req.Reason == "" {
			t.Errorf("%v: %+v", tc.form, req.Block)
		}
	}
	for _, bad := range []url.Values{
		{"scope": {"ip"}, "value": {""}, "duration": {"1h"}},
		{"scope": {"ip"}, "value": {"198.51.100.0/24"}, "duration": {"1h"}},
		{"scope": {"prefix"}, "value": {"0.0.0.0/0"}, "duration": {"1h"}},
		{"scope": {"prefix"}, "value": {"::/0"}, "duration": {"1h"}},
		{"scope": {"user"}, "value": {"a\x00b"}, "duration": {"1h"}},
		{"scope": {"ip"}, "value": {"1.2.3.4"}, "duration": {"-1h"}},
		{"scope": {"ip"}, "value": {"1.2.3.4"}, "duration": {"1h"}, "reason": {strings.Repeat("r", 201)}},
		{"scope": {"session"}, "value": {"x"}, "duration": {"1h"}},
	} {
		if _, err := parseBlockRequest(bad, now); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	s, err := newCSRFSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.token("alice", now)
	if len(tok) != csrfTextLen {
		t.Errorf("token length %d, want %d", len(tok), csrfTextLen)
	}
	if err := s.check(tok, "alice", now.Add(11*time.Hour)); err != nil {
		t.Errorf("fresh token: %v", err)
	}
	for name, tc := range map[string]struct {
		tok, who string
		at       time.Time
		want     error
	}{
		"other person": {tok, "bob", now, errCSRFInvalid},
		"expired":      {tok, "alice", now.Add(13 * time.Hour), errCSRFExpired},
		"future":       {s.token("alice", now.Add(time.Hour)), "alice", now, errCSRFExpired},
		"empty":        {"", "alice", now, errCSRFMissing},
		"truncated":    {tok[:len(tok)-1], "alice", now, errCSRFInvalid},
		"flipped":      {flip(tok), "alice", now, errCSRFInvalid},
	} {
		if err := s.check(tc.tok, tc.who, tc.at); err != tc.want {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	other, _ := newCSRFSigner(nil)
	if other.check(tok, "alice", now) == nil {
		t.Error("a token of another key was accepted")
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	for in, want := range map[any]string{0: "0", 999: "999", 1000: "1,000", int64(-1234567): "-1,234,567", uint64(10_000_000): "10,000,000"} {
		if got := formatInt(in); got != want {
			t.Errorf("formatInt(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{15 * time.Minute: "15 min", time.Hour: "1 h", 24 * time.Hour: "24 h", 7 * 24 * time.Hour: "7 days", 90 * time.Second: "1m30s"} {
		if got := humanSpan(in); got != want {
			t.Errorf("humanSpan(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{850 * time.Microsecond: "850 µs", 12400 * time.Microsecond: "12.4 ms", 3200 * time.Millisecond: "3.2 s"} {
		if got := formatDuration(in); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", in, got, want)
		}
	}
	if got := truncate(3, "héllo"); got != "hél…" {
		t.Errorf("truncate = %q", got)
	}
	if got := left(now.Add(3*time.Hour+20*time.Minute), now); got != "3 h 20 min left" {
		t.Errorf("left = %q", got)
	}
	if got := ago(now.Add(-90*time.Second), now); got != "1 min ago" {
		t.Errorf("ago = %q", got)
	}
	if got := formatUTC(time.Date(2026, 3, 2, 14, 5, 9, 0, time.FixedZone("CET", 3600))); got != "2026-03-02 13:05:09 UTC" {
		t.Errorf("formatUTC = %q", got)
	}
	if got := inert("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"); got != "<script>alert('x')</script>" {
		t.Errorf("inert = %q", got)
	}
}

// Fuzz targets: every parser of what arrives in an address or a form.

func FuzzEventFilter(f *testing.F) {
	for _, s := range []string{"type=login_failure&ip=1.2.3.4", "from=2026-03-02T14:05&to=2026-03-01", "before=1_019cb45b-2c80-7a9d-a842-8357a36c198e",
		"ip=ip:2001:db8::/64&severity=HIGH", "user=%00", "ip=::ffff:1.2.3.4/100", "from=2026-03-02%2014:05:09%20UTC"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		filter, err := parseEventFilter(v)
		if err != nil {
			if len(fieldMessages(err)) == 0 {
				t.Fatalf("error without a field message: %v", err)
			}
			return
		}
		again, err := parseEventFilter(filter.values())
		if err != nil {
			t.Fatalf("values() of a valid filter does not parse: %v", err)
		}
		again.Before = filter.Before
		if again != filter {
			t.Fatalf("round trip changed the filter: %+v vs %+v", again, filter)
		}
		if c, err := parseCursor(formatCursor(filter.Before)); err != nil || !c.Time.Equal(filter.Before.Time) || c.ID != filter.Before.ID {
			t.Fatalf("cursor round trip: %v %v", c, err)
		}
	})
}

func FuzzParseBack(f *testing.F) {
	for _, s := range []string{"alerts?status=all", "//evil", "https://x/", "\\\\x", "events?ip=1.2.3.4", "?", "blocks#frag", "%2F%2Fevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := parseBack(s, "alerts")
		path, query, _ := strings.Cut(got, "?")
		if path != "./" && !returnPages[path] || path == "" {
			t.Fatalf("parseBack(%q) = %q: not a dashboard page", s, got)
		}
		if strings.ContainsAny(got, "\\#\r\n") || strings.HasPrefix(got, "/") {
			t.Fatalf("parseBack(%q) = %q", s, got)
		}
		if _, err := url.ParseQuery(query); err != nil {
			t.Fatalf("parseBack(%q) = %q: query does not parse", s, got)
		}
	})
}

func FuzzBlockRequest(f *testing.F) {
	f.Add("ip", "203.0.113.7", "1h", "probing")
	f.Add("", "ip:2001:db8::/64", "permanent", "")
	f.Add("prefix", "10.0.0.0/8", "720h", "list")
	f.Add("user", "user:alice", "15m", "x")
	f.Add("prefix", "::ffff:10.0.0.0/104", "1h", "")
	f.Fuzz(func(t *testing.T, scope, value, duration, reason string) {
		req, err := parseBlockRequest(url.Values{"scope": {scope}, "value": {value}, "duration": {duration}, "reason": {reason}}, now)
		if err != nil {
			return
		}
		switch req.Scope {
		case secmon.ScopeIP:
			if req.Prefix != secmon.IPGroup(req.Prefix.Addr()) || req.Subject != "ip:"+req.Prefix.String() {
				t.Fatalf("ip block %+v", req.Block)
			}
		case secmon.ScopePrefix:
			if req.Prefix != req.Prefix.Masked() || req.Prefix.Addr().Is4() && req.Prefix.Bits() < 8 || req.Prefix.Addr().Is6() && req.Prefix.Bits() < 32 {
				t.Fatalf("prefix block %+v", req.Block)
			}
		case secmon.ScopeUser:
			if req.UserID == "" || len(req.UserID) > secmon.MaxIDLen || req.Subject != "user:"+req.UserID {
				t.Fatalf("user block %+v", req.Block)
			}
		default:
			t.Fatalf("scope %q", req.Scope)
		}
		if !req.Until.IsZero() && (req.Until.Sub(now) < minBlockFor || req.Until.Sub(now) > maxBlockFor) {
			t.Fatalf("until %v", req.Until)
		}
		if len(req.Reason) > maxReasonLen || strings.ContainsAny(req.Reason, "\r\n\x00") {
			t.Fatalf("reason %q", req.Reason)
		}
	})
}

func FuzzCSRFCheck(f *testing.F) {
	s, _ := newCSRFSigner([]byte(strings.Repeat("k", 32)))
	f.Add(s.token("alice", now), "alice")
	f.Add("", "")
	f.Add(strings.Repeat("A", csrfTextLen), "alice")
	f.Fuzz(func(t *testing.T, tok, who string) {
		err := s.check(tok, who, now)
		if err == nil && !validToken(s, tok, who) {
			t.Fatalf("accepted a token it did not issue: %q for %q", tok, who)
		}
	})
}

// validToken reports whether tok is the token s issues for who at the
// time tok carries.
func validToken(s *csrfSigner, tok, who string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != csrfRawLen {
		return false
	}
	return s.token(who, time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)) == tok
}
