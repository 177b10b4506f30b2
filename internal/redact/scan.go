package redact

import (
	"encoding/binary"
	"math/bits"
)

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

	// The state of scanBytes, exact at offset exactTo: the open word
	// starts at ws and holds the classes wf; numRun digits end there and
	// numMax is the longest run so far; all is the union of the classes
	// scanBytes saw.
	exactTo, ws    int
	wf, all        uint16
	numRun, numMax int
	// pending: the open word may yet be one the token scanners look at,
	// so the next block needs scanBytes too.
	pending bool
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

// block is how many bytes Scan's fast path classifies at once.
const block = 16

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
//
// The pass reads s in blocks of 16 bytes (classify): it ORs the bytes'
// classes and tests the keyword trigrams ending at two positions with one
// lookup. A block holding a word separator and no mark ('@', '%', ':')
// ends no word the token scanners look at, unless the word open before
// it may (pending): a word in it, or reaching into it from a block like
// it, is shorter than minWord. So such a block needs only its keyword
// candidates looked at, its digits counted (digits) and, when pending, its
// first separator found. A block without a separator continues the open
// word. Blocks with a mark and the tail go through scanBytes, byte by
// byte, and so does the block after one that needed it for a mark or a
// long run of digits (values that hold one usually hold many). Either way
// the same hits and words are recorded in the same order as by scanBytes
// alone.
func Scan(s string, sp *Spans) Info {
	var sc scanner
	// PEM blocks first: a public key's or certificate's body is protected
	// from the token scanners.
	scanPEM(s, sp, &sc.pr)
	var all uint16
	st := pairState{lo: lowBit[0]} // before s: code 0
	// slow: the block before needed scanBytes for a mark or the byte-wise
	// count of a long run of digits, so the next one likely does too: it
	// goes straight to scanBytes, which suits every block.
	slow := false
	q := 0
	for ; q+block <= len(s); q += block {
		if slow {
			slow = sc.scanBytes(s, sp, q, q+block)&(clsMark|clsDigit) != 0
			if !slow && q+block+block <= len(s) {
				st = pairState{c1: code5[s[q+block-1]], lo: lowBit[s[q+block-2]]}
			}
			continue
		}
		acc, hm := classify(s[q:q+block], &st)
		all |= acc
		if acc&clsMark != 0 {
			sc.scanBytes(s, sp, q, q+block)
			slow = true
			continue
		}
		if acc&clsDigit != 0 {
			slow = sc.digits(s, q)
		} else if acc&clsBreak != 0 {
			sc.numRun = 0
		}
		switch {
		case acc&clsSep == 0:
			// The open word goes on through the block.
			sc.wordAt(s, q)
			sc.exactTo = q + block
			sc.pending = sc.wf&clsMark != 0 || q+2*block-1-sc.ws >= minWord
		case sc.pending:
			// The open word ends at the block's first separator.
			e := q
			for class[s[e]]&clsSep == 0 {
				e++
			}
			for ; hm != 0 && q+bits.TrailingZeros32(hm) <= e; hm &= hm - 1 {
				sc.candidate(s, sp, q+bits.TrailingZeros32(hm))
			}
			if ws := sc.ws; e-ws >= minWord || sc.wf&clsMark != 0 && e > ws {
				sc.word(s, sp, ws, e)
			}
			sc.pending = false
		}
		for ; hm != 0; hm &= hm - 1 {
			sc.candidate(s, sp, q+bits.TrailingZeros32(hm))
		}
	}
	sc.scanBytes(s, sp, q, len(s))
	if ws := sc.ws; len(s)-ws >= minWord || sc.wf&clsMark != 0 && len(s) > ws {
		sc.word(s, sp, ws, len(s))
	}
	sc.flushHits(s, sp)
	sc.flushWords(s, sp)
	if sc.numMax >= 13 {
		scanCards(s, sp)
	}
	if sc.numMax >= 8 {
		scanIBAN(s, sp)
	}
	all |= sc.all
	var info Info
	if all&clsControl != 0 {
		info |= NotPlain
	}
	if all&clsEscaped != 0 {
		info |= Escapes
	}
	return info
}

// classify reads the block b: it returns the union of its bytes' classes
// and the offsets in b where a keyword trigram ends (bit j for b[j]),
// testing two offsets with one lookup in pairTri. st carries the two
// bytes before b from one block to the next.
func classify(b string, st *pairState) (acc uint16, hm uint32) {
	_ = b[block-1]
	c1, lo := st.c1, st.lo
	for j := 0; j < block; j += 2 {
		b0, b1 := b[j], b[j+1]
		k0, k1 := class[b0], class[b1]
		acc |= k0 | k1
		// Trigram (c0, c1, code(b0)) ends at j and (c1, code(b0), code(b1))
		// at j+1: bit c0 and bit 32+code(b1) of pairTri[c1, code(b0)].
		m := pairTri[(c1|uint32(k0&codeMask))&(1<<10-1)]
		if hi := highBit[b1]; m&(lo|hi) != 0 {
			if m&lo != 0 {
				hm |= 1 << j
			}
			if m&hi != 0 {
				hm |= 2 << j
			}
		}
		c1, lo = code5[b1], lowBit[b0]
	}
	st.c1, st.lo = c1, lo
	return acc, hm
}

// pairState is what classify needs of the two bytes before a block: c1,
// the code of the last one shifted left by 5, and lo, the lowBit of the
// one before it.
type pairState struct {
	c1 uint32
	lo uint64
}

// lowBit, highBit and code5 hold each byte's trigram code as the bits
// classify tests and as the index it looks up.
var lowBit, highBit, code5 = func() (lo, hi [256]uint64, c5 [256]uint32) {
	for b := range 256 {
		c := class[b] & codeMask
		lo[b], hi[b], c5[b] = 1<<c, 1<<(32+c), uint32(c)<<5
	}
	return
}()

// trigramAt returns the trigram of codes ending at s[i] (0 for the bytes
// before s).
func trigramAt(s string, i int) uint16 {
	if i >= 2 {
		return class[s[i-2]]&codeMask<<10 | class[s[i-1]]&codeMask<<5 | class[s[i]]&codeMask
	}
	var h uint16
	for k := max(0, i-2); k <= i; k++ {
		h = h<<5 | class[s[k]]&codeMask
	}
	return h
}

// wordAt makes sc.ws and sc.wf exact at offset i. After a block the fast
// path handled alone (which holds a separator and no mark), the open
// word starts after that block's last separator.
func (sc *scanner) wordAt(s string, i int) {
	if i == sc.exactTo {
		return
	}
	ws := i
	for ws > 0 && class[s[ws-1]]&clsSep == 0 {
		ws--
	}
	sc.ws, sc.wf = ws, 0
}

// digits follows the runs of digits through the block s[q:q+block]. Only
// runs of 8 digits or more decide anything (Scan's calls of scanCards and
// scanIBAN), so the block is read byte by byte only when one may end in
// it, which digits reports; otherwise the run that goes on is counted back
// from the block's end.
func (sc *scanner) digits(s string, q int) (bytewise bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	n := 0
	for k := q; k < q+block; k += 8 {
		x := binary.LittleEndian.Uint64([]byte(s[k : k+8]))
		y := x &^ highs
		// y+(0x80-'0') sets a byte's high bit from '0' on, y+(0x80-'9'-1)
		// from ':' on; x's own high bit marks non-ASCII.
		d := (y + (0x80-'0')*ones) &^ (y + (0x80-'9'-1)*ones) &^ x & highs
		n += bits.OnesCount64(d)
	}
	if sc.numRun+n >= 8 {
		run, longest := sc.numRun, sc.numMax
		for i := q; i < q+block; i++ {
			k := class[s[i]]
			run = (run + int(k>>7&1)) & (int(k>>11&1) - 1)
			longest = max(longest, run)
		}
		sc.numRun, sc.numMax = run, longest
		return true
	}
	// No run reaches 8 digits: numMax may stay below its exact value, as
	// long as it stays below 8.
	run, i := 0, q+block
	for i > q && class[s[i-1]]&clsBreak == 0 {
		i--
		run += int(class[s[i]] >> 7 & 1)
	}
	if i == q {
		run += sc.numRun
	}
	sc.numRun = run
	return false
}

// scanBytes is Scan's exact path over s[from:to]: per byte it tests the
// keyword trigram, follows the words for the token scanners and counts
// the runs of digits for the card and IBAN scanners. It resumes the state
// left at sc.exactTo; after a block of the fast path (which holds a
// separator and no mark), the open word starts after that block's last
// separator. It returns the union of the classes of s[from:to].
func (sc *scanner) scanBytes(s string, sp *Spans, from, to int) uint16 {
	sc.wordAt(s, from)
	ws, wf := sc.ws, sc.wf
	numRun, numMax := sc.numRun, sc.numMax
	var all uint16
	h := trigramAt(s, from-1)
	cls, bits := &class, &triBits
	for i := from; i < to; i++ {
		k := cls[s[i]]
		all |= k
		h = (h<<5 | k&codeMask) & (triSize - 1)
		if bits[h>>6&(triSize/64-1)]>>(h&63)&1 != 0 {
			sc.candidate(s, sp, i)
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
		numRun++
		numMax = max(numMax, numRun)
	}
	sc.ws, sc.wf, sc.numRun, sc.numMax = ws, wf, numRun, numMax
	sc.all |= all
	sc.exactTo = to
	// A word from ws may end at a separator in the next block: with a
	// mark, or long enough by then.
	sc.pending = wf&clsMark != 0 || to+block-1-ws >= minWord
	return all
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

// candidate verifies the keywords whose trigram ends at s[i], after a
// test of the byte that follows (most trigrams that start a keyword
// stand in ordinary words: "display" for "discord").
func (sc *scanner) candidate(s string, sp *Spans, i int) {
	r := triRankOf(trigramAt(s, i))
	if r < 0 {
		return
	}
	c := uint32(0)
	if i+1 < len(s) {
		c = uint32(class[s[i+1]] & codeMask)
	}
	if triNext[r]>>c&1 == 0 {
		return
	}
	l := triList[triStart[r]:triStart[r+1]]
	for k := range l {
		e := &l[k]
		p := i - int(e.back)
		if p < 0 || !e.at(s, p) {
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
