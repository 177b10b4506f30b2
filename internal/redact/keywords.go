package redact

import (
	"encoding/binary"
	"math/bits"
	"strings"
)

// The keyword prefilter. Every position of a value is looked up in a
// bitmap of the first three bytes (case-folded, reduced to five bits each)
// of every keyword: a credential word such as "pass" or "token", or a
// keyword of a gitleaks rule such as "ghp_" or "xoxb". Scan tests two
// positions with one lookup (pairTri). Where the bitmap says a keyword may
// start, the byte after the trigram is tested (triNext), then the keyword
// is compared, eight bytes at once; a value holding none costs a table
// lookup per byte and one per pair of bytes.

// Byte classes: the low five bits are the byte's trigram code; the flags
// above tell the word scanner what the byte is.
const (
	codeMask = 31
	clsSep   = 1 << 5 // separates words (see isWordSep)
	clsMark  = 1 << 6 // '@', '%' or ':': a word holding one is looked at
	clsDigit = 1 << 7
	// clsInNumber: may stand inside a card number or an IBAN between its
	// digits (separators, upper-case letters), so a run of digits goes on.
	clsInNumber = 1 << 8
	// clsControl: not printable ASCII (a control byte or part of UTF-8).
	clsControl = 1 << 9
	// clsEscaped: written escaped by the caller (< > " ' & and the line
	// breaks a sanitized value may hold).
	clsEscaped = 1 << 10
	// clsBreak: ends a run of digits for the card and IBAN scanners
	// (neither a digit nor clsInNumber).
	clsBreak = 1 << 11
)

var class = func() (t [256]uint16) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		var code uint16
		switch {
		case isLower(b):
			code = uint16(b-'a') + 1
		case isUpper(b):
			code = uint16(b-'A') + 1
		case isDigit(b):
			code = 27
		case b == '_':
			code = 28
		case b == '-':
			code = 29
		case b == '.':
			code = 30
		case b == '~' || b == '/':
			code = 31
		}
		t[c] = code
		if isWordSep(b) {
			t[c] |= clsSep
		}
		if b == '@' || b == '%' || b == ':' {
			t[c] |= clsMark
		}
		if isDigit(b) {
			t[c] |= clsDigit
		}
		if b == ' ' || b == '-' || b == '.' || b == '_' || isUpper(b) {
			t[c] |= clsInNumber
		} else if !isDigit(b) {
			t[c] |= clsBreak
		}
		if b < 0x20 || b >= 0x7f {
			t[c] |= clsControl
		}
		switch b {
		case '<', '>', '"', '\'', '&', '\t', '\n':
			t[c] |= clsEscaped
		}
	}
	return t
}()

// isWordSep reports the bytes that separate words for the word scanners.
func isWordSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '"', '\'', '`', ',', ';', '(', ')', '[', ']', '{', '}', '<', '>', '|', '\\':
		return true
	}
	return false
}

// keyword is one entry of the prefilter.
type keyword struct {
	text  string // lower case
	cred  bool   // a credential word: look for an assignment around it
	rules []int  // gitleaks rules it gates (indexes into gitleaksRules)
}

// triEntry points from a trigram to a keyword; back is how many bytes
// before the trigram's last byte the keyword starts (2, or 1 for a
// two-byte keyword). A trigram's entries keep the order of keywords.
type triEntry struct {
	tri  uint16
	kw   uint16
	back uint8
	// head is the keyword's first eight bytes (fewer, zero-padded, when
	// it is shorter; little-endian) and headMask selects them, so that
	// one comparison of eight case-folded bytes verifies most keywords.
	head, headMask uint64
}

const triSize = 1 << 15

var (
	keywords []keyword
	triBits  [triSize / 64]uint64
	// triRank[w] counts the trigrams set in triBits[:w], so a trigram's
	// rank among them is triRank[t>>6] plus the bits below it in its
	// word; triStart[rank] is where its run in triList starts.
	triRank  [triSize / 64]uint16
	triStart []uint16
	triList  []triEntry
	// triNext[rank] holds bit c when a keyword of the trigram may go on
	// with a byte of code c after it (every bit when one ends with it).
	triNext []uint32
	// pairTri holds triBits by the trigram's middle pair of codes, so one
	// lookup tests two positions (see Scan): pairTri[a<<5|b] has bit x set
	// when (x, a, b) is a keyword trigram, and bit 32+y when (a, b, y) is.
	pairTri [1 << 10]uint64
)

// credentialWords start every name CredentialName accepts, so that a hit
// on one finds every credential name in a value.
var credentialWords = [...]string{
	"pass", "pwd", "pw", "pswd", "secret", "token", "key", "auth", "cred", "sess", "cookie", "sig",
	"pin", "otp", "jwt", "bearer", "basic", "csrf", "xsrf", "ssn", "iban", "cvv", "cvc", "card",
	"kennwort", "motdepasse", "contrasena", "wachtwoord", "code", "sid",
}

func init() {
	index := map[string]int{}
	add := func(text string) int {
		if i, ok := index[text]; ok {
			return i
		}
		index[text] = len(keywords)
		keywords = append(keywords, keyword{text: text})
		return len(keywords) - 1
	}
	for _, w := range credentialWords {
		keywords[add(w)].cred = true
	}
	for ri := range gitleaksRules {
		for _, k := range gitleaksRules[ri].keywords {
			k = strings.ToLower(k)
			if len(k) < 2 {
				continue
			}
			i := add(k)
			keywords[i].rules = append(keywords[i].rules, ri)
		}
	}
	code := func(c byte) uint16 { return uint16(class[c] & codeMask) }
	var entries []triEntry
	for i, k := range keywords {
		if len(k.text) == 2 {
			// Any byte may stand before a two-byte keyword.
			for x := uint16(0); x < 32; x++ {
				entries = append(entries, triEntry{tri: x<<10 | code(k.text[0])<<5 | code(k.text[1]), kw: uint16(i), back: 1})
			}
			continue
		}
		entries = append(entries, triEntry{tri: code(k.text[0])<<10 | code(k.text[1])<<5 | code(k.text[2]), kw: uint16(i), back: 2})
	}
	for i := range entries {
		e := &entries[i]
		t := keywords[e.kw].text
		for j := 0; j < len(t) && j < 8; j++ {
			e.head |= uint64(t[j]) << (8 * j)
			e.headMask |= 0xff << (8 * j)
		}
	}
	// Group by trigram, in the order of the keywords within each group.
	byTri := map[uint16][]triEntry{}
	for _, e := range entries {
		byTri[e.tri] = append(byTri[e.tri], e)
		triBits[e.tri>>6] |= 1 << (e.tri & 63)
	}
	rank := uint16(0)
	for w := range triBits {
		triRank[w] = rank
		rank += uint16(bits.OnesCount64(triBits[w]))
	}
	for t := 0; t < triSize; t++ {
		if triBits[t>>6]>>(t&63)&1 == 0 {
			continue
		}
		triStart = append(triStart, uint16(len(triList)))
		triList = append(triList, byTri[uint16(t)]...)
		var next uint32
		for _, e := range byTri[uint16(t)] {
			if k := keywords[e.kw].text; len(k) > int(e.back)+1 {
				next |= 1 << code(k[e.back+1])
			} else {
				next = 1<<32 - 1
			}
		}
		triNext = append(triNext, next)
		a, b, c := t>>10, t>>5&codeMask, t&codeMask
		pairTri[b<<5|c] |= 1 << a
		pairTri[a<<5|b] |= 1 << (32 + c)
	}
	triStart = append(triStart, uint16(len(triList)))
}

// stopIndex holds genericStopWords by their first two bytes.
var stopIndex = func() map[[2]byte][]string {
	m := map[[2]byte][]string{}
	for _, w := range genericStopWords {
		if len(w) >= 2 {
			k := [2]byte{w[0], w[1]}
			m[k] = append(m[k], w)
		}
	}
	return m
}()

// hasStopWord reports whether v, read in lower case, holds one of
// genericStopWords.
func hasStopWord(v string) bool {
	for i := 0; i+1 < len(v); i++ {
		for _, w := range stopIndex[[2]byte{lower(v[i]), lower(v[i+1])}] {
			if hasPrefixFold(v[i:], w) {
				return true
			}
		}
	}
	return false
}

// lower8 folds the upper-case ASCII letters of eight bytes to lower case.
func lower8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x &^ highs
	upper := (y + (0x80-'A')*ones) &^ (y + (0x80-'Z'-1)*ones) &^ x & highs
	return x | upper>>2
}

// at reports whether e's keyword stands at s[p:], in any case.
func (e *triEntry) at(s string, p int) bool {
	if p+8 > len(s) {
		return hasPrefixFold(s[p:], keywords[e.kw].text)
	}
	x := lower8(binary.LittleEndian.Uint64([]byte(s[p : p+8])))
	if (x^e.head)&e.headMask != 0 {
		return false
	}
	t := keywords[e.kw].text
	return len(t) <= 8 || hasPrefixFold(s[p+8:], t[8:])
}

// triRankOf returns the rank of trigram t among those set in triBits,
// or -1.
func triRankOf(t uint16) int {
	w := triBits[t>>6&(triSize/64-1)]
	if w>>(t&63)&1 == 0 {
		return -1
	}
	return int(triRank[t>>6&(triSize/64-1)]) + bits.OnesCount64(w&(1<<(t&63)-1))
}

// lookupTri returns the keywords whose trigram is t.
func lookupTri(t uint16) []triEntry {
	r := triRankOf(t)
	if r < 0 {
		return nil
	}
	return triList[triStart[r]:triStart[r+1]]
}
