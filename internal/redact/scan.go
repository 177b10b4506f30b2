package redact

// Scan bounds.
const (
	maxHits  = 16 // keyword hits handled at once
	maxWords = 32 // words of interest handled at once
	maxRuns  = 16 // rule windows remembered, so a rule does not run twice on one window
	// minWord is the shortest word the token scanners look at unless it
	// holds '@', '%' or ':' (the shortest random token they redact has 32
	// bytes; a word may carry punctuation around it).
	minWord = 32
)

type hit struct {
	pos int32
	kw  uint16
}

// scanner is the state of one Scan.
//
// It holds no pointers: s and sp are passed to each method, so that the
// regular expressions, which keep s, do not make sp escape to the heap.
type scanner struct {
	pr      protect
	hits    [maxHits]hit
	nh      int
	words   [maxWords][2]int32
	nw      int
	nameEnd int // end of the last credential name handled
	// runs holds the rules that ran and the end of their window.
	runs  [maxRuns]struct{ rule, end int32 }
	nruns int
	// regexBytes is how much text the rules have read; past
	// maxRegexBytes the rest of the value is redacted instead.
	regexBytes int
}

// maxRegexBytes bounds the text the gitleaks rules read in one value
// (about four windows; a window is the keyword's token and a few hundred
// bytes around it), so a value stuffed with every vendor's keyword costs a
// few milliseconds at worst, not hundreds of them. Past it, everything
// from the next keyword on is redacted: such a value is no ordinary log
// text, and failing safe keeps whatever secret it hides.
const maxRegexBytes = 2048

// ranUntil returns the end of the window rule ri last ran on, or -1.
func (sc *scanner) ranUntil(ri int) int {
	for _, r := range sc.runs[:sc.nruns] {
		if int(r.rule) == ri {
			return int(r.end)
		}
	}
	return -1
}

func (sc *scanner) ran(ri, end int) {
	for i := range sc.runs[:sc.nruns] {
		if int(sc.runs[i].rule) == ri {
			sc.runs[i].end = int32(end)
			return
		}
	}
	if sc.nruns == maxRuns {
		copy(sc.runs[:], sc.runs[1:])
		sc.nruns--
	}
	sc.runs[sc.nruns] = struct{ rule, end int32 }{int32(ri), int32(end)}
	sc.nruns++
}

// Scan records in sp the ranges of s that hold a secret or a personal
// identifier: values assigned to credential names (see assign.go), tokens
// of the vendors gitleaks knows by their shape, JWTs, random tokens, URL
// credentials, chat webhook secrets, PEM private keys, e-mail addresses,
// card numbers and IBANs. It returns what it saw of s's bytes, so a caller
// that must sanitize or escape needs no pass of its own.
//
// Scan takes time linear in len(s): one pass with a table lookup per byte
// finds keyword and word candidates, and only those are looked at; every
// regular expression runs on a bounded window around its keyword.
func Scan(s string, sp *Spans) Info {
	var sc scanner
	// PEM blocks first: a public key's or certificate's body is protected
	// from the token scanners.
	scanPEM(s, sp, &sc.pr)
	// Card numbers need 13 digits and IBANs 8 within one run of digits,
	// separators and upper-case letters: count the longest.
	numRun, numMax := 0, 0
	var h uint16
	ws := 0
	var wf, all uint16
	cls, bits := &class, &triBits
	for i := 0; i < len(s); i++ {
		k := cls[s[i]]
		all |= k
		h = (h<<5 | k&codeMask) & (triSize - 1)
		if bits[h>>6&(triSize/64-1)]>>(h&63)&1 != 0 {
			sc.keywordAt(s, sp, i, h)
		}
		if k&(clsSep|clsDigit) == 0 {
			// The common case: a letter or punctuation inside a word.
			wf |= k
			if k&clsInNumber == 0 {
				numRun = 0
			}
			continue
		}
		if k&clsSep != 0 {
			if i-ws >= minWord || wf&clsMark != 0 && i > ws {
				sc.word(s, sp, ws, i)
			}
			ws, wf = i+1, 0
			if k&clsInNumber == 0 {
				numRun = 0
			}
			continue
		}
		wf |= k
		if k&clsDigit != 0 {
			numRun++
			numMax = max(numMax, numRun)
		} else if k&clsInNumber == 0 {
			numRun = 0
		}
	}
	if len(s)-ws >= minWord || wf&clsMark != 0 && len(s) > ws {
		sc.word(s, sp, ws, len(s))
	}
	sc.flushHits(s, sp)
	sc.flushWords(s, sp)
	if numMax >= 13 {
		scanCards(s, sp)
	}
	if numMax >= 8 {
		scanIBAN(s, sp)
	}
	var info Info
	if all&clsControl != 0 {
		info |= NotPlain
	}
	if all&clsEscaped != 0 {
		info |= Escapes
	}
	return info
}

// Info describes the bytes of a scanned value.
type Info uint8

// Info bits.
const (
	// NotPlain: the value holds bytes other than printable ASCII.
	NotPlain Info = 1 << iota
	// Escapes: the value holds < > " ' &, a tab or a line break.
	Escapes
)

// keywordAt verifies the keywords whose trigram ends at s[i].
func (sc *scanner) keywordAt(s string, sp *Spans, i int, h uint16) {
	for _, e := range lookupTri(h) {
		p := i - int(e.back)
		if p < 0 || !hasPrefixFold(s[p:], keywords[e.kw].text) {
			continue
		}
		if sc.nh == maxHits {
			sc.flushHits(s, sp)
		}
		sc.hits[sc.nh] = hit{pos: int32(p), kw: e.kw}
		sc.nh++
	}
}

// flushHits handles the keyword hits collected so far: credential names
// first, then the gitleaks rules they call for.
func (sc *scanner) flushHits(s string, sp *Spans) {
	for _, x := range sc.hits[:sc.nh] {
		if keywords[x.kw].cred && int(x.pos) >= sc.nameEnd {
			sc.nameEnd = assign(s, int(x.pos), sp, &sc.pr)
		}
	}
	for _, x := range sc.hits[:sc.nh] {
		kw := &keywords[x.kw]
		pos := int(x.pos)
		if len(kw.rules) == 0 || len(kw.text) <= 2 && !shortKeywordOK(s, pos) {
			continue
		}
		for _, ri := range kw.rules {
			if sc.ranUntil(ri) > pos+len(kw.text) {
				continue // this window already covered the hit
			}
			if sc.regexBytes > maxRegexBytes {
				sp.Add(pos, len(s))
				sc.nh = 0
				return
			}
			end := runRule(s, ri, pos, sp, &sc.pr)
			sc.regexBytes += end - max(0, pos-windowBefore)
			sc.ran(ri, end)
		}
	}
	sc.nh = 0
}

// word records the word s[a:b] for the token scanners.
func (sc *scanner) word(s string, sp *Spans, a, b int) {
	if sc.nw == maxWords {
		sc.flushWords(s, sp)
	}
	sc.words[sc.nw] = [2]int32{int32(a), int32(b)}
	sc.nw++
}

// flushWords runs the token scanners on the words recorded so far. The
// credential names seen by then have set the protected ranges; words come
// after them in the value or in the same flush.
func (sc *scanner) flushWords(s string, sp *Spans) {
	sc.flushHits(s, sp)
	for _, w := range sc.words[:sc.nw] {
		if sp.Done(int(w[0])) {
			break
		}
		scanWord(s, int(w[0]), int(w[1]), sp, &sc.pr)
	}
	sc.nw = 0
}

// GitleaksVersion is the gitleaks release whose rule set Scan uses.
func GitleaksVersion() string { return gitleaksVersion }

// RuleCount is how many gitleaks rules Scan uses.
func RuleCount() int { return len(gitleaksRules) }
