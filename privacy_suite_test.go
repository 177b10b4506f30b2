package secmon_test

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
)

// suiteCase is one line of a testdata/secrets file.
type suiteCase struct {
	Rule   string `json:"rule"`
	Kind   string `json:"kind"` // "tp": holds a secret; "fp": a benign look-alike; "skip": neither counted
	Text   string `json:"text"`
	Secret string `json:"secret"` // in a tp, the secret that must not survive
}

func loadSuite(t *testing.T, name string) []suiteCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "secrets", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r *bufio.Scanner
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = bufio.NewScanner(zr)
	} else {
		r = bufio.NewScanner(f)
	}
	r.Buffer(nil, 1<<20)
	var out []suiteCase
	for r.Scan() {
		var c suiteCase
		if err := json.Unmarshal(r.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, c)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// leaks reports whether out, a cleaned value, still shows secret: whole,
// or for a long secret either half of it.
func leaks(out, secret string) bool {
	out = html.UnescapeString(out)
	if secret == "" {
		return false
	}
	if strings.Contains(out, secret) {
		return true
	}
	if n := len(secret); n >= 16 {
		return strings.Contains(out, secret[:n/2]) || strings.Contains(out, secret[n/2:])
	}
	return false
}

// TestPrivacySecretSuites runs the public secret-scanner suites in
// testdata/secrets through the default policy, each value under an
// allowlisted key, and reports recall (secrets that do not survive) and the
// share of benign look-alikes changed. See testdata/secrets/README.md.
func TestPrivacySecretSuites(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"gitleaks.jsonl.gz", "detect-secrets.jsonl"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cases := loadSuite(t, name)
			var tp, caught, fp, changed int
			missed := map[string][]string{}
			var wrongly []string
			for _, c := range cases {
				out := clean(t, nil, c.Text)
				switch {
				case c.Kind == "tp":
					tp++
					// Without a named secret, a true positive is caught
					// when something in it was redacted.
					if c.Secret != "" && leaks(out, c.Secret) || c.Secret == "" && !strings.Contains(out, secmon.Redacted) {
						missed[c.Rule] = append(missed[c.Rule], c.Text)
					} else {
						caught++
					}
				case c.Kind == "fp" && c.Secret == "":
					// A false positive of one gitleaks rule that another
					// rule finds is no benign value; only the others count.
					fp++
					if strings.Contains(out, secmon.Redacted) && !strings.Contains(c.Text, secmon.Redacted) {
						changed++
						wrongly = append(wrongly, c.Rule+": "+c.Text+"\n    -> "+out)
					}
				}
			}
			recall := float64(caught) / float64(tp)
			benign := float64(changed) / float64(fp)
			t.Logf("%s: recall %.1f%% (%d of %d secrets), benign changed %.1f%% (%d of %d)", name, 100*recall, caught, tp, 100*benign, changed, fp)
			if testing.Verbose() {
				rules := make([]string, 0, len(missed))
				for r := range missed {
					rules = append(rules, r)
				}
				sort.Strings(rules)
				for _, r := range rules {
					t.Logf("missed %s (%d): %q", r, len(missed[r]), missed[r][0])
				}
				for _, w := range wrongly {
					t.Logf("changed %s", w)
				}
			}
			if recall < 0.95 {
				t.Errorf("recall %.1f%% < 95%%", 100*recall)
			}
			if benign > 0.05 {
				t.Errorf("benign values changed %.1f%% > 5%%", 100*benign)
			}
		})
	}
}
