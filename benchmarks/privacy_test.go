package benchmarks

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect"

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

// Secret detection beside gitleaks (github.com/zricethezav/gitleaks/v8,
// its default rule set): the same values through secmon's PrivacyPolicy and
// through gitleaks' detector. gitleaks finds and reports; secmon also
// cleans, escapes and caps, so its figures include that work.

var gitleaksDetector = sync.OnceValue(func() *detect.Detector {
	d, err := detect.NewDetectorDefaultConfig()
	if err != nil {
		panic(err)
	}
	return d
})

// redactValues are the values both detectors are timed on.
var redactValues = []struct{ name, v string }{
	{"1KiB-clean", strings.Repeat("user 42 opened /settings/display and changed the language to German; the request took 35 ms. ", 12)[:1024]},
	{"short-clean", "/login?next=/home"},
	{"password-pair", "login with password=hunter2 failed"},
	{"github-token", "token ghp_16C7e42F292c6912E7710c838347Ae178B4a used"},
	{"go-assignment", `apiToken := "Zq3vP9xL2mK8wR5tY7uI1oP4"`},
	{"prose", "my password is correct-horse-42"},
}

func BenchmarkRedact(b *testing.B) {
	p := &secmon.PrivacyPolicy{}
	d := gitleaksDetector()
	for _, rv := range redactValues {
		e := secmon.Event{Type: secmon.EventLoginFailure, Metadata: map[string]string{"reason": rv.v}}
		b.Run(rv.name+"/secmon", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(rv.v)))
			for b.Loop() {
				ev := e
				p.ApplyEvent(&ev)
			}
		})
		b.Run(rv.name+"/gitleaks", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(rv.v)))
			for b.Loop() {
				d.DetectString(rv.v)
			}
		})
	}
}

// suiteLine is one line of ../testdata/secrets.
type suiteLine struct {
	Rule, Kind, Text, Secret string
}

func loadSuite(t *testing.T, name string) []suiteLine {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "secrets", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var out []suiteLine
	for sc.Scan() {
		var l suiteLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// TestRedactBesideGitleaks runs both detectors on the suites' values and
// reports what each finds: the share of secrets found (secmon: redacted so
// that the secret does not survive; gitleaks: at least one finding) and of
// benign values flagged. gitleaks' own true positives are found by
// gitleaks by construction (they are its rules' test cases); the
// detect-secrets cases are new to both.
func TestRedactBesideGitleaks(t *testing.T) {
	d := gitleaksDetector()
	p := &secmon.PrivacyPolicy{}
	for _, name := range []string{"gitleaks.jsonl.gz", "detect-secrets.jsonl"} {
		var tp, fp, smTP, glTP, smFP, glFP int
		for _, l := range loadSuite(t, name) {
			e := secmon.Event{Type: secmon.EventLoginFailure, Metadata: map[string]string{"reason": l.Text}}
			p.ApplyEvent(&e)
			out := html.UnescapeString(e.Metadata["reason"])
			redacted := strings.Contains(out, secmon.Redacted) && (l.Secret == "" || !strings.Contains(out, l.Secret))
			found := len(d.DetectString(l.Text)) > 0
			switch {
			case l.Kind == "tp":
				tp++
				if redacted {
					smTP++
				}
				if found {
					glTP++
				}
			case l.Kind == "fp" && l.Secret == "":
				fp++
				if strings.Contains(out, secmon.Redacted) {
					smFP++
				}
				if found {
					glFP++
				}
			}
		}
		pct := func(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }
		t.Logf("%s: %d secrets, %d benign values", name, tp, fp)
		t.Logf("  secmon:   secrets removed %5.1f%%, benign changed %4.1f%%", pct(smTP, tp), pct(smFP, fp))
		t.Logf("  gitleaks: secrets found   %5.1f%%, benign flagged %4.1f%%", pct(glTP, tp), pct(glFP, fp))
		if pct(smTP, tp) < 95 || pct(smFP, fp) > 5 {
			t.Errorf("secmon below its targets on %s", name)
		}
	}
}
