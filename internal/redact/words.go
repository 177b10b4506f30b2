package redact

import "strings"

// scanWord inspects the word s[i:e]: URL credentials, chat webhook URLs,
// e-mail addresses, JWTs, AWS-style secret keys and other long random
// tokens. Tokens inside pr's ranges (values named as no secret) are kept.
func scanWord(s string, i, e int, sp *Spans, pr *protect) {
	// Trailing sentence punctuation is not part of the word, except for
	// the empty signature of an unsigned JWT ("eyJ….eyJ….").
	for e > i && !strings.HasPrefix(s[i:e], "eyJ") && (s[e-1] == '.' || s[e-1] == ':' || s[e-1] == '!' || s[e-1] == '?') {
		e--
	}
	w := s[i:e]
	// URL userinfo: scheme://user:pass@host
	userAt := -1
	if k := strings.Index(w, "://"); k > 0 {
		a := k + 3
		b := a
		for b < len(w) && w[b] != '/' && w[b] != '?' && w[b] != '#' {
			b++
		}
		if at := strings.LastIndexByte(w[a:b], '@'); at > 0 {
			userAt = a + at
			sp.Add(i+a, i+userAt)
		}
		// Chat webhook URLs carry their credential in the path.
		for _, m := range webhookMarkers {
			if k := strings.Index(w, m); k >= 0 {
				a := k + len(m)
				b := a
				for b < len(w) && w[b] != '?' && w[b] != '#' {
					b++
				}
				sp.Add(i+a, i+b)
			}
		}
	}
	// E-mail addresses, anywhere in the word (a URL's query included), the
	// '@' also URL-encoded once (%40) or twice (%2540).
	prevAt := 0 // a local part never reaches back over an earlier at-sign
	for at := 0; at < len(w); at++ {
		atLen := 0
		switch {
		case w[at] == '@':
			atLen = 1
		case w[at] == '%' && hasPrefixFold(w[at:], "%40"):
			atLen = 3
		case w[at] == '%' && hasPrefixFold(w[at:], "%2540"):
			atLen = 5
		default:
			continue
		}
		if at != userAt {
			if start, end, ok := emailAt(w, prevAt, at, atLen); ok {
				sp.Add(i+start, i+end)
			}
		}
		prevAt = at + atLen
		at += atLen - 1
	}
	if len(w) < 32 {
		return
	}
	// Base64 runs with '/' (an AWS secret access key is 40 of them).
	for a := 0; a < len(w); {
		if !isBase64(w[a]) {
			a++
			continue
		}
		b := a
		slashes := 0
		for b < len(w) && isBase64(w[b]) {
			if w[b] == '/' {
				slashes++
			}
			b++
		}
		for b < len(w) && w[b] == '=' {
			b++
		}
		if slashes > 0 && slashes <= 2 && b-a >= 40 && w[a] != '/' && (a == 0 || w[a-1] != '/') && highEntropy(w[a:b], 20) && !pr.has(i+a, i+b) {
			sp.Add(i+a, i+b)
		}
		a = b
	}
	// Runs of token characters inside the word.
	for a := 0; a < len(w); {
		if !isTokenChar(w[a]) {
			a++
			continue
		}
		b := a
		for b < len(w) && (isTokenChar(w[b]) || w[b] == '.') {
			b++
		}
		run := w[a:b]
		if jwtLen := jwtPrefix(run); jwtLen > 0 {
			sp.Add(i+a, i+a+jwtLen)
		} else if discordToken(run) || mailchimpKey(run) {
			sp.Add(i+a, i+b)
		} else {
			// Dots split ordinary tokens (host names, file names).
			for c := a; c < b; {
				d := c
				for d < b && w[d] != '.' {
					d++
				}
				if randomToken(w[c:d]) && !pr.has(i+c, i+d) {
					sp.Add(i+c, i+d)
				}
				c = d + 1
			}
		}
		a = b
	}
}

func isTokenChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '+' }

func isEmailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// emailAt finds an e-mail address around the at-sign w[at:at+atLen], its
// local part starting no earlier than lo.
func emailAt(w string, lo, at, atLen int) (start, end int, ok bool) {
	// An address's local part holds at most 64 characters (RFC 5321),
	// three bytes each when URL-encoded; the bound keeps a word of many
	// at-signs linear.
	start = at
	for start > lo && at-start < 192 && isEmailLocal(w[start-1]) {
		start--
	}
	if start == at {
		return 0, 0, false
	}
	dom := at + atLen
	end = dom
	lastDot := -1
	for end < len(w) && end-dom < 255 && (isAlnum(w[end]) || w[end] == '-' || w[end] == '.') {
		if w[end] == '.' {
			lastDot = end
		}
		end++
	}
	for end > dom && w[end-1] == '.' { // trailing dot
		end--
	}
	if lastDot < 0 || lastDot >= end || lastDot == dom {
		return 0, 0, false
	}
	tld := 0
	for k := lastDot + 1; k < end; k++ {
		if !isAlpha(w[k]) {
			return 0, 0, false
		}
		tld++
	}
	return start, end, tld >= 2
}

// webhookMarkers precede the secret path of chat webhook URLs (Slack,
// Discord, Microsoft Teams).
var webhookMarkers = [...]string{
	"hooks.slack.com/services/", "hooks.slack.com/workflows/", "hooks.slack.com/triggers/",
	"/api/webhooks/", "webhook.office.com/webhookb2/",
}

func isBase64(c byte) bool { return isAlnum(c) || c == '+' || c == '/' }

// The kinds of character kindsOf tells apart.
const (
	kindUpper = 1 << iota
	kindLower
	kindDigit
	kindOther
	kindMixed = kindUpper | kindLower | kindDigit
)

// kindsOf returns the kinds of character t holds and how many distinct
// ASCII bytes.
func kindsOf(t string) (kinds uint8, distinct int) {
	var seen [2]uint64
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case isUpper(c):
			kinds |= kindUpper
		case isLower(c):
			kinds |= kindLower
		case isDigit(c):
			kinds |= kindDigit
		default:
			kinds |= kindOther
		}
		if c < 128 {
			seen[c>>6] |= 1 << (c & 63)
		}
	}
	return kinds, popcount(seen[0]) + popcount(seen[1])
}

// highEntropy reports whether t mixes upper case, lower case and digits
// with at least minDistinct distinct characters.
func highEntropy(t string, minDistinct int) bool {
	k, distinct := kindsOf(t)
	return k&kindMixed == kindMixed && distinct >= minDistinct
}

// jwtPrefix returns the length of a JWT at the start of run, or 0: three
// base64url segments separated by dots, the first starting "eyJ", or two
// both starting "eyJ" (an unsigned token cut before its signature).
func jwtPrefix(run string) int {
	if len(run) < 10 || run[0] != 'e' || run[1] != 'y' || run[2] != 'J' {
		return 0
	}
	dots := 0
	seg := 0
	i := 0
	for ; i < len(run); i++ {
		c := run[i]
		if c == '.' {
			if seg == 0 {
				return 0
			}
			dots++
			seg = 0
			if dots == 3 {
				break
			}
			continue
		}
		if !(isAlnum(c) || c == '_' || c == '-') {
			break
		}
		seg++
	}
	if dots < 2 && !(dots == 1 && hasPrefix(run[strings.IndexByte(run, '.')+1:], "eyJ")) {
		return 0 // one dot: a header and a claims set without a signature
	}
	return i
}

// discordToken reports a Discord bot token: the base64 of a user id (24
// to 26 characters from M, N or O on), a dot, 6 characters, a dot and 27 to
// 38 characters.
func discordToken(run string) bool {
	if len(run) < 59 || run[0] < 'M' || run[0] > 'O' {
		return false
	}
	seg, n := 0, 0
	lens := [3]int{}
	for i := 0; i < len(run); i++ {
		c := run[i]
		if c == '.' {
			if seg == 2 {
				return false
			}
			lens[seg] = n
			seg++
			n = 0
			continue
		}
		if !(isAlnum(c) || c == '_' || c == '-') {
			return false
		}
		n++
	}
	lens[seg] = n
	return seg == 2 && lens[0] >= 24 && lens[0] <= 26 && lens[1] == 6 && lens[2] >= 27 && lens[2] <= 38 && highEntropy(run, 16)
}

// mailchimpKey reports a Mailchimp API key: 32 hexadecimal digits, "-us"
// and the data centre's number.
func mailchimpKey(run string) bool {
	if len(run) < 36 || len(run) > 37 || run[32] != '-' || run[33] != 'u' || run[34] != 's' {
		return false
	}
	for i := 0; i < 32; i++ {
		if !isHex(run[i]) {
			return false
		}
	}
	for i := 35; i < len(run); i++ {
		if !isDigit(run[i]) {
			return false
		}
	}
	return true
}

// randomToken reports a run of token characters that looks random: 32 or
// more characters mixing upper case, lower case and digits with at least
// 16 distinct ones. Hexadecimal strings (digests, commit and object ids)
// and UUIDs are not random tokens in this sense: a hexadecimal secret is
// found by its name or its vendor's shape instead.
func randomToken(t string) bool {
	if len(t) < 32 || isUUIDLike(t) {
		return false
	}
	if k, distinct := kindsOf(t); k&kindMixed != kindMixed || distinct < 16 || allHex(t) {
		return false
	}
	return looksRandom(t) && !placeholder(t)
}

// looksRandom tells a random token from an identifier made of words
// (SN_id_Gost28147_89_None_KeyMeshing, SlackAppConfigurationAccessToken,
// R21A-V010SP13-Release-OTA): a random string switches between upper
// case, lower case and digits at about six of ten characters, words far
// less often; and an identifier's parts between '_' and '-' are short,
// or hexadecimal (a digest inside a file name).
func looksRandom(t string) bool {
	switches, prev := 0, byte(0)
	longest, seg, segHex, seps := 0, 0, true, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		var cls byte
		switch {
		case isUpper(c):
			cls = 1
		case isLower(c):
			cls = 2
		case isDigit(c):
			cls = 3
		default:
			seps++
			if !segHex && seg > longest {
				longest = seg
			}
			seg, segHex, prev = 0, true, 0
			continue
		}
		if prev != 0 && cls != prev {
			switches++
		}
		prev = cls
		seg++
		if !isHex(c) {
			segHex = false
		}
	}
	if !segHex && seg > longest {
		longest = seg
	}
	if seps >= 2 && longest < 16 {
		return false
	}
	return switches*5 >= (len(t)-seps)*2
}

// placeholder reports a value that stands for a secret without being one:
// a long run of one character (xxxxxxxx, 00000000, ********), a run of ten
// letters of the alphabet or digits in order (abcdefghij), or a word such
// as EXAMPLE,
// your_token, _here, changeme, dummy or redacted.
func placeholder(t string) bool {
	run, seq := 1, 1
	for i := 1; i < len(t); i++ {
		a, b := lower(t[i-1]), lower(t[i])
		if a == b {
			if run++; run >= 6 {
				return true
			}
		} else {
			run = 1
		}
		if b == a+1 && (isLower(a) && isLower(b) || isDigit(a) && isDigit(b)) {
			if seq++; seq >= 10 {
				return true
			}
		} else {
			seq = 1
		}
	}
	return placeholderWord(t)
}

// placeholderWord reports whether t, of six bytes or more, holds one of
// placeholderWords in any case.
func placeholderWord(t string) bool {
	if len(t) < 6 {
		return false
	}
	for _, w := range placeholderWords {
		if indexFold(t, w) >= 0 {
			return true
		}
	}
	return false
}

var placeholderWords = [...]string{"example", "your_", "your-", "yourtoken", "yourkey", "yoursecret", "_here", "here_", "changeme", "placeholder", "dummy", "redacted", "insert_", "replace_", "replaceme"}

// placeholderValue reports a value under a credential name that stands
// for one: a run of six x, X, * or #, sixteen letters of the alphabet in
// order, or a placeholder word (see placeholder). Runs of other characters and counting sequences are kept:
// vendors' documentation uses them as real-looking examples.
func placeholderValue(t string) bool {
	run, seq := 1, 1
	for i := 1; i < len(t); i++ {
		if c := t[i]; c == t[i-1] && (c == 'x' || c == 'X' || c == '*' || c == '#') {
			if run++; run >= 6 {
				return true
			}
		} else {
			run = 1
		}
		if a, b := lower(t[i-1]), lower(t[i]); b == a+1 && isLower(a) && isLower(b) {
			if seq++; seq >= 16 {
				return true // an alphabet: ABCDEFGHIJKLMNOPQRSTUVWXYZ
			}
		} else {
			seq = 1
		}
	}
	return placeholderWord(t)
}

// indexFold returns the first index of the lower-case sub in s, ignoring
// case, or -1.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if hasPrefixFold(s[i:], sub) {
			return i
		}
	}
	return -1
}

func popcount(x uint64) int {
	n := 0
	for x != 0 {
		x &= x - 1
		n++
	}
	return n
}

// allHex reports whether t holds hexadecimal digits only.
func allHex(t string) bool {
	for i := 0; i < len(t); i++ {
		if !isHex(t[i]) {
			return false
		}
	}
	return true
}

// isUUIDLike reports whether t is a UUID.
func isUUIDLike(t string) bool {
	if len(t) != 36 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHex(c) {
			return false
		}
	}
	return true
}
