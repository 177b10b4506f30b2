package redact

import "strings"

// The keyword prefilter. Every position of a value is looked up in a
// bitmap of the first three bytes (case-folded, reduced to five bits each)
// of every keyword: a credential word such as "pass" or "token", or a
// keyword of a gitleaks rule such as "ghp_" or "xoxb". Only where the bitmap
// says a keyword may start is the keyword compared, so a value holding none
// costs a table lookup per byte.

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
// two-byte keyword).
type triEntry struct {
	tri  uint16
	kw   uint16
	back uint8
}

const triSize = 1 << 15

var (
	keywords []keyword
	triBits  [triSize / 64]uint64
	// triTab is an open-addressing table from trigram to its run in
	// triList.
	triTab  [4096]struct{ tri, start, end uint16 }
	triList []triEntry
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
	// Group by trigram.
	byTri := map[uint16][]triEntry{}
	var order []uint16
	for _, e := range entries {
		if _, ok := byTri[e.tri]; !ok {
			order = append(order, e.tri)
		}
		byTri[e.tri] = append(byTri[e.tri], e)
	}
	if len(order) > len(triTab)/2 {
		panic("redact: too many keyword trigrams")
	}
	for _, t := range order {
		triBits[t>>6] |= 1 << (t & 63)
		start := len(triList)
		triList = append(triList, byTri[t]...)
		h := triHash(t)
		for triTab[h].end != 0 {
			h = (h + 1) & (len(triTab) - 1)
		}
		triTab[h] = struct{ tri, start, end uint16 }{t, uint16(start), uint16(len(triList))}
	}
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

func triHash(t uint16) int { return int(uint32(t)*2654435761>>20) & 4095 }

// lookupTri returns the keywords whose trigram is t.
func lookupTri(t uint16) []triEntry {
	for h := triHash(t); ; h = (h + 1) & (len(triTab) - 1) {
		e := triTab[h]
		if e.end == 0 {
			return nil
		}
		if e.tri == t {
			return triList[e.start:e.end]
		}
	}
}
