package redact

import (
	"math"
	"regexp"
	"strings"
	"sync"
)

// ruleSpec is one gitleaks rule as data (gitleaks_rules.go).
type ruleSpec struct {
	id       string
	keywords []string
	re       string
	group    int
	entropy  float64
	allow    []allowSpec
}

// allowSpec is one of a rule's allowlists: a finding is dropped when its
// regexes match their target ("" the secret, "match" the whole match,
// "line" the line), all of them when and is set, or when the secret holds
// a stop word.
type allowSpec struct {
	target    string
	and       bool
	regexes   []string
	stopWords []string
}

// compiledRule is a ruleSpec ready to run. Rules are compiled on first
// use, so a program pays only for the rules its values call for.
type compiledRule struct {
	once  sync.Once
	re    *regexp.Regexp
	allow []compiledAllow
}

type compiledAllow struct {
	target    string
	and       bool
	regexes   []*regexp.Regexp
	stopWords []string
}

var compiled [len(gitleaksRules)]compiledRule

func (r *compiledRule) get(spec *ruleSpec) *compiledRule {
	r.once.Do(func() {
		// Every rule compiles with the standard library: gitleaks checks
		// its rule set with it too.
		r.re = regexp.MustCompile(spec.re)
		for _, a := range spec.allow {
			ca := compiledAllow{target: a.target, and: a.and, stopWords: a.stopWords}
			for _, x := range a.regexes {
				ca.regexes = append(ca.regexes, regexp.MustCompile(x))
			}
			r.allow = append(r.allow, ca)
		}
	})
	return r
}

// Rule windows: a rule runs on the text around its keyword, not the whole
// value, so a value with many keywords costs linear time.
const (
	windowBefore = 160
	windowAfter  = 256
)

// runRule runs rule ri on the window around the keyword at p and redacts
// each secret it finds. It returns the end of the window.
func runRule(s string, ri, p int, sp *Spans, pr *protect) int {
	spec := &gitleaksRules[ri]
	r := compiled[ri].get(spec)
	a := max(0, p-windowBefore)
	b := p
	for b < len(s) && b-p < 4*windowAfter && isTokenByte(s[b]) {
		b++ // the whole token holding the keyword
	}
	b = min(len(s), b+windowAfter)
	// Widen the window to whole lines, as gitleaks reads them, when they
	// are short enough.
	if k := strings.LastIndexByte(s[max(0, a-64):a], '\n'); k >= 0 {
		a = max(0, a-64) + k + 1
	}
	w := s[a:b]
	for _, m := range r.re.FindAllStringSubmatchIndex(w, 8) {
		start, end := m[0], m[1]
		g := spec.group
		if g == 0 && len(m) > 2 {
			// Like gitleaks: without a secret group, the first group that
			// matched is the secret.
			for k := 1; 2*k+1 < len(m); k++ {
				if m[2*k] >= 0 {
					g = k
					break
				}
			}
		}
		if g > 0 && 2*g+1 < len(m) && m[2*g] >= 0 {
			start, end = m[2*g], m[2*g+1]
		}
		secret := w[start:end]
		if secret == "" || spec.entropy > 0 && shannon(secret) < spec.entropy {
			continue
		}
		if allowed(r, secret, w[m[0]:m[1]], line(w, m[0], m[1])) {
			// A value the vendor's rule knows to be public or an
			// example: the token scanners leave it too.
			pr.add(a+start, a+end)
			continue
		}
		// A match that ends inside a token takes the rest of it: the
		// secret is the token, whatever part the vendor's pattern reads.
		e := a + end
		for e < len(s) && e-(a+end) < 256 && isTokenByte(s[e]) && s[e] != '.' && s[e] != '=' && s[e] != '/' {
			e++
		}
		for e < len(s) && e-(a+end) < 258 && s[e] == '=' {
			e++ // base64 padding
		}
		sp.Add(a+start, e)
	}
	// The token holding the keyword, when the rule found no secret in it,
	// is not of the rule's vendor (a wrong length, a prefix inside a longer
	// blob, a documented example): the token scanners leave it too.
	ta, tb := p, p
	for ta > 0 && isTokenByte(s[ta-1]) {
		ta--
	}
	for tb < len(s) && isTokenByte(s[tb]) {
		tb++
	}
	if tb <= b && !sp.covered(ta, tb) {
		pr.add(ta, tb)
	}
	return b
}

// line returns the line of w holding w[start:end].
func line(w string, start, end int) string {
	a := strings.LastIndexByte(w[:start], '\n') + 1
	b := strings.IndexByte(w[end:], '\n')
	if b < 0 {
		return w[a:]
	}
	return w[a : end+b]
}

func allowed(r *compiledRule, secret, match, ln string) bool {
	for _, a := range r.allow {
		target := secret
		switch a.target {
		case "match":
			target = match
		case "line":
			target = ln
		}
		n, hits := 0, 0
		for _, re := range a.regexes {
			n++
			if re.MatchString(target) {
				hits++
			}
		}
		if len(a.stopWords) > 0 {
			n++
			ls := strings.ToLower(secret)
			for _, w := range a.stopWords {
				if strings.Contains(ls, w) {
					hits++
					break
				}
			}
		}
		if n > 0 && (a.and && hits == n || !a.and && hits > 0) {
			return true
		}
	}
	return false
}

// shannon returns the Shannon entropy of s in bits per byte.
func shannon(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// shortKeywordOK gates the few two-byte keywords ("ey", "sk", "s.",
// "q~"), which ordinary words hold: the rule runs only when the keyword
// stands in a run of at least 20 token bytes.
func shortKeywordOK(s string, p int) bool {
	a, b := p, p
	for a > 0 && isTokenByte(s[a-1]) {
		a--
	}
	for b < len(s) && isTokenByte(s[b]) {
		b++
	}
	return b-a >= 20
}

func isTokenByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-' || c == '.' || c == '~' || c == '+' || c == '/' || c == '='
}
