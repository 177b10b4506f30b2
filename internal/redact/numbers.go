package redact

import "strings"

// scanCards redacts card numbers: 13 to 19 digits starting with 2 to 6 (the
// major networks' ranges, which also spares millisecond timestamps),
// optionally grouped by single spaces or dashes, or by dots, underscores or
// double spaces between groups of at least three digits, that pass the Luhn
// check. Every run of consecutive groups is tried, so a card number is
// found even when other numbers stand next to it.
func scanCards(s string, sp *Spans) {
	// sepAt returns the length of a group separator at q that a digit
	// follows (0 when there is none), and whether it is a loose one.
	sepAt := func(q int) (int, bool) {
		if q+1 >= len(s) {
			return 0, false
		}
		switch s[q] {
		case ' ':
			if isDigit(s[q+1]) {
				return 1, false
			}
			if s[q+1] == ' ' && q+2 < len(s) && isDigit(s[q+2]) {
				return 2, true
			}
		case '-':
			if isDigit(s[q+1]) {
				return 1, false
			}
		case '.', '_':
			if isDigit(s[q+1]) {
				return 1, true
			}
		}
		return 0, false
	}
	for i := 0; i < len(s); {
		if !isDigit(s[i]) || i > 0 && isAlnum(s[i-1]) {
			i++
			continue
		}
		g := i // start of the current group
		for {
			if sp.Done(g) {
				return
			}
			// Luhn sums kept for both parities, so each candidate length is
			// checked in O(1): with nd digits, the digit at index j (from
			// the left) is doubled when j and nd have the same parity.
			var sum [2]int
			nd, first := 0, byte(0)
			firstEnd := -1
			loose, minGroup := false, 19
			for p := g; p < len(s); {
				q := p
				for q < len(s) && isDigit(s[q]) {
					q++
				}
				if firstEnd < 0 {
					firstEnd = q
				}
				if nd+q-p > 19 {
					break
				}
				for k := p; k < q; k++ {
					x := int(s[k] - '0')
					if nd == 0 {
						first = s[k] - '0'
					}
					x2 := 2 * x
					if x2 > 9 {
						x2 -= 9
					}
					sum[nd%2] += x2 // for lengths of this index's parity
					sum[1-nd%2] += x
					nd++
				}
				minGroup = min(minGroup, q-p)
				if nd >= 13 && first >= 2 && first <= 6 && (q == len(s) || !isAlpha(s[q])) && !(loose && minGroup < 3) && sum[nd%2]%10 == 0 {
					sp.Add(g, q)
				}
				n, l := sepAt(q)
				if n == 0 {
					break
				}
				loose = loose || l
				p = q + n
			}
			n, _ := sepAt(firstEnd)
			if n == 0 {
				i = firstEnd
				break
			}
			g = firstEnd + n
		}
	}
}

// scanPEM redacts PEM blocks holding a private key ("-----BEGIN RSA
// PRIVATE KEY-----" … "-----END RSA PRIVATE KEY-----"), through the end of
// the value when the END line is missing or was cut off, unless the block
// holds no key material (an empty template: no run of 16 base64
// characters). The bodies of other blocks (public keys, certificates) are
// public and protected from the token scanners.
func scanPEM(s string, sp *Spans, pr *protect) {
	const begin, dashes = "-----BEGIN ", "-----"
	for off := 0; off < len(s); {
		k := strings.Index(s[off:], begin)
		if k < 0 {
			return
		}
		start := off + k
		lab := start + len(begin)
		e := strings.Index(s[lab:min(len(s), lab+80)], dashes)
		if e < 0 {
			off = lab
			continue
		}
		body := lab + e + len(dashes)
		end := len(s)
		if m := strings.Index(s[body:], "-----END "); m >= 0 {
			end = body + m
			m = end + len("-----END ")
			if c := strings.Index(s[m:min(len(s), m+80)], dashes); c >= 0 {
				end = m + c + len(dashes)
			}
		}
		if !strings.Contains(s[lab:lab+e], "PRIVATE") {
			pr.add(body, end)
		} else if keyMaterial(s[body:end]) {
			sp.Add(start, end)
		}
		off = max(end, lab)
	}
}

// keyMaterial reports whether a PEM body holds a run of 16 base64
// characters.
func keyMaterial(b string) bool {
	run := 0
	for i := 0; i < len(b); i++ {
		if isBase64(b[i]) || b[i] == '=' {
			if run++; run >= 16 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// scanIBAN redacts international bank account numbers: a country code, two
// check digits and 11 to 30 letters and digits (at least 8 digits),
// written compact or in groups of four separated by single spaces, whose
// ISO 13616 mod-97 checksum holds. Only upper-case letters are read.
func scanIBAN(s string, sp *Spans) {
	const pow6 = 1000000 % 97
	isUpper := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	for i := 0; i+15 <= len(s) && !sp.Done(i); i++ {
		if !isUpper(s[i]) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || i > 0 && isAlnum(s[i-1]) {
			continue
		}
		// The country code and check digits move to the end.
		head := (int(s[i]-'A'+10)*100+int(s[i+1]-'A'+10))*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
		p := i + 4
		grouped := p < len(s) && s[p] == ' '
		rem, n, digits, group := 0, 0, 0, 4
		for p < len(s) && n < 30 {
			c := s[p]
			if grouped && c == ' ' {
				if group != 4 || p+1 >= len(s) || s[p+1] == ' ' {
					break
				}
				group = 0
				p++
				continue
			}
			switch {
			case isDigit(c):
				rem = (rem*10 + int(c-'0')) % 97
				digits++
			case isUpper(c):
				rem = (rem*100 + int(c-'A'+10)) % 97
			default:
				n = -1
			}
			if n < 0 {
				break
			}
			n++
			group++
			p++
			if grouped && group > 4 {
				break
			}
			if n >= 11 && digits >= 8 && (p == len(s) || !isAlnum(s[p])) && (rem*pow6+head)%97 == 1 {
				sp.Add(i, p)
			}
		}
	}
}
