package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
)

// The baselines below are what services commonly write by hand: the
// leftmost X-Forwarded-For entry as the client address (spoofable, shown
// for cost only), and a set of regular expressions for secret redaction.

var benchProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

func benchRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.1:4711"
	r.Header.Set("X-Forwarded-For", "198.51.100.9, 10.0.0.3, 10.0.0.2")
	return r
}

// leftmostXFF is the naive, spoofable approach.
func leftmostXFF(r *http.Request) netip.Addr {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
			return a
		}
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	a, _ := netip.ParseAddr(strings.Trim(host, "[]"))
	return a
}

func BenchmarkClientIP(b *testing.B) {
	r := benchRequest()
	b.Run("secmon", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			secmon.ClientIP(r, benchProxies)
		}
	})
	b.Run("baseline-leftmost-split", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			leftmostXFF(r)
		}
	})
}

var redactRegexps = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?i)(password|passwd|secret|token|api_key|access_token|sig)=[^&\s]+`), "$1=[REDACTED]"},
	{regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/-]+=*`), "Bearer [REDACTED]"},
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`), "[REDACTED]"},
	{regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`), "[REDACTED]"},
	{regexp.MustCompile(`\b(?:\d[ -]?){13,19}\b`), "[REDACTED]"},
	{regexp.MustCompile(`\b(?:sk|pk|rk)_[A-Za-z0-9_]{10,}|ghp_[A-Za-z0-9]{20,}|AKIA[A-Z0-9]{16}`), "[REDACTED]"},
	{regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@`), "://[REDACTED]@"},
}

var benchAllow = map[string]bool{"reason": true, "route": true, "method": true, "status": true, "path": true}

// regexpPolicy is the baseline: allowlist, regexp redaction, cap.
func regexpPolicy(e *secmon.Event) {
	if len(e.Metadata) == 0 {
		return
	}
	out := make(map[string]string, len(e.Metadata))
	for k, v := range e.Metadata {
		if !benchAllow[k] {
			continue
		}
		for _, r := range redactRegexps {
			v = r.re.ReplaceAllString(v, r.repl)
		}
		if len(v) > secmon.MaxMetadataLen {
			v = v[:secmon.MaxMetadataLen]
		}
		out[k] = v
	}
	e.Metadata = out
}

func BenchmarkApplyEvent(b *testing.B) {
	md := map[string]string{
		"reason": "bad_password", "route": "/login", "method": "POST",
		"status": "401", "path": "/login?next=/home",
	}
	secretMD := map[string]string{
		"reason": "login for alice@example.com with password=hunter2",
		"route":  "/login", "method": "POST", "status": "401",
		"path": "/cb?access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc&state=1",
	}
	for _, c := range []struct {
		name string
		md   map[string]string
	}{{"nil-metadata", nil}, {"5-keys", md}, {"5-keys-with-secrets", secretMD}} {
		e := secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr("198.51.100.9"), UserAgent: "Mozilla/5.0", Metadata: c.md}
		b.Run(c.name+"/secmon", func(b *testing.B) {
			p := &secmon.PrivacyPolicy{IPMode: secmon.IPTruncate}
			b.ReportAllocs()
			for b.Loop() {
				ev := e
				p.ApplyEvent(&ev)
			}
		})
		b.Run(c.name+"/baseline-regexp", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ev := e
				regexpPolicy(&ev)
			}
		})
	}
}
