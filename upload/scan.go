package upload

import (
	"bytes"
	"encoding/binary"
)

// This file holds the single-pass matcher that looks for active content
// (markup, script, server-side code) and embedded file signatures inside
// metadata and trailing bytes. It never lower-cases a copy of its input and
// uses no regular expressions: at each byte that can start a pattern it
// compares in place, ignoring ASCII case, both as plain bytes and as
// UTF-16LE (each ASCII character followed by a zero byte).

type hitKind uint8

const (
	hitMarkup  hitKind = iota + 1 // HTML, script or server-side code
	hitArchive                    // an embedded archive, document or executable
)

// hit is the first suspicious pattern found in a span.
type hit struct {
	kind hitKind
	name string // the pattern, e.g. "<script" or "ZIP local header"
	off  int    // offset of the match inside the scanned bytes
	n    int    // length of the match in bytes
	wide bool   // matched as UTF-16LE
}

// markupPattern is matched ignoring ASCII case. Patterns are stored in
// lower case.
type markupPattern struct {
	s        string
	textOnly bool // looked for in text only
	call     bool // a function name: blanks may stand before its "("
	doctype  bool // "<!doctype": only an HTML document type counts
	scripted bool // a tag that counts only when its attributes carry script
}

// markupPatterns are what a browser or an interpreter executes and the
// tags that make text an HTML document. Tags that execute nothing by
// themselves (<img, <svg, <a, <meta …) count in text only, and only when
// their attributes carry an event handler or a script URL (entities
// decoded, as a browser decodes them). Short server-side tags (<?=, <? ,
// <%) count when closed: execAt.
var markupPatterns = [...]markupPattern{
	{s: "<script"},
	{s: "<?php"},
	{s: "<html"},
	{s: "<iframe"},
	{s: "<object"},
	{s: "<embed"},
	{s: "<jsp:"},
	{s: "<!--#exec"},
	{s: "<!--#include"},
	{s: "<body", textOnly: true},
	{s: "<frame", textOnly: true, scripted: true},
	{s: "<svg", textOnly: true, scripted: true},
	{s: "<form", textOnly: true, scripted: true},
	{s: "<meta", textOnly: true, scripted: true},
	{s: "<base", textOnly: true, scripted: true},
	{s: "<link", textOnly: true, scripted: true},
	{s: "<img", textOnly: true, scripted: true},
	{s: "<a ", textOnly: true, scripted: true}, // a link, whose href may be an entity-encoded javascript: URL
	{s: "<a\t", textOnly: true, scripted: true},
	{s: "<a\n", textOnly: true, scripted: true},
	{s: "<a/", textOnly: true, scripted: true},
	{s: "<!doctype", doctype: true}, // an XML DOCTYPE (a plist's) is not markup a browser runs
	{s: "<!entity"},
	{s: "javascript:"},
	{s: "vbscript:"},
	{s: "data:text/html"},
	{s: "eval", call: true},
	{s: "base64_decode", call: true},
	{s: "gzinflate", call: true},
	{s: "shell_exec", call: true},
	{s: "passthru", call: true},
	{s: "document.cookie"},
}

// signature is matched exactly (binary).
type signature struct {
	s    string
	name string
}

var signatures = [...]signature{
	{"PK\x03\x04", "ZIP local file header"},
	{"PK\x05\x06", "ZIP end of central directory"},
	{"%PDF-", "PDF header"},
	{"\x7fELF", "ELF executable"},
	{"Rar!\x1a\x07", "RAR archive"},
	{"7z\xbc\xaf\x27\x1c", "7-Zip archive"},
	{"\xca\xfe\xba\xbe", "Java class or Mach-O fat binary"},
	{"\xcf\xfa\xed\xfe", "Mach-O executable"},
	{"\xce\xfa\xed\xfe", "Mach-O executable"},
}

// byFirst indexes markupPatterns by their (lower-case) first byte.
var byFirst = func() (t [256][]uint8) {
	for k, p := range markupPatterns {
		t[p.s[0]] = append(t[p.s[0]], uint8(k))
	}
	return t
}()

// starts marks the bytes that can begin a pattern.
var starts = func() (t [256]bool) {
	for _, p := range markupPatterns {
		c := p.s[0]
		t[c] = true
		t[upper(c)] = true
	}
	for _, s := range signatures {
		t[s.s[0]] = true
	}
	t['o'], t['O'] = true, true // event handlers
	t['&'] = true               // markup behind an entity-encoded '<'
	t['M'] = true               // PE executables
	return t
}()

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func isLetter(c byte) bool { c = lower(c); return 'a' <= c && c <= 'z' }

func isAlnum(c byte) bool { return isLetter(c) || '0' <= c && c <= '9' }

// at returns the k-th character of b starting at i, as plain bytes
// (stride 1) or UTF-16LE (stride 2, the high byte must be zero).
func at(b []byte, i, k, stride int) (byte, bool) {
	j := i + k*stride
	if j+stride > len(b) {
		return 0, false
	}
	if stride == 2 && b[j+1] != 0 {
		return 0, false
	}
	return b[j], true
}

// scanMode says what kind of bytes are scanned.
type scanMode uint8

const (
	modeBinary scanMode = iota // binary metadata: every pattern but the shortest
	modeText                   // text: every pattern, '<' entities decoded
	modeImage                  // image data inside metadata (thumbnails, maker notes): long patterns only
)

// minImagePattern is the shortest pattern looked for in image data. Three
// or four bytes (<?=, <img, an event handler) turn up by chance in tens of
// kilobytes of compressed or raw pixels; five or more do not.
const minImagePattern = 5

// scanBytes reports the first markup pattern or embedded signature in b.
// text says the bytes are meant to be text (a comment, a tEXt chunk, an EXIF
// string), which enables the shortest patterns.
func scanBytes(b []byte, text bool) (hit, bool) {
	if text {
		return scanIn(b, modeText)
	}
	return scanIn(b, modeBinary)
}

// scanIn is scanBytes for any mode.
func scanIn(b []byte, mode scanMode) (hit, bool) {
	for i := 0; i < len(b); i++ {
		if !starts[b[i]] {
			continue
		}
		if h, ok := matchAt(b, i, 1, mode); ok {
			return h, true
		}
		if i+1 < len(b) && b[i+1] == 0 {
			if h, ok := matchAt(b, i, 2, mode); ok {
				h.wide = true
				return h, true
			}
		}
	}
	return hit{}, false
}

func matchAt(b []byte, i, stride int, mode scanMode) (hit, bool) {
	text := mode == modeText
	c := b[i]
	if stride == 1 {
		for _, s := range signatures {
			if s.s[0] == c && hasPrefix(b[i:], s.s) {
				return hit{kind: hitArchive, name: s.name, off: i, n: len(s.s)}, true
			}
		}
		if c == 'M' && isPE(b, i) {
			return hit{kind: hitArchive, name: "PE executable", off: i, n: 2}, true
		}
	}
	lc := lower(c)
	if isLetter(c) && i >= stride && isLetter(b[i-stride]) {
		return hit{}, false // inside a word: "retrieval(" is not "eval("
	}
	c1, ok1 := at(b, i, 1, stride)
	c1 = lower(c1)
	for _, k := range byFirst[lc] {
		p := &markupPatterns[k]
		if !ok1 || c1 != p.s[1] || (p.textOnly && !text) || (mode == modeImage && len(p.s) < minImagePattern) {
			continue
		}
		if n := patternAt(b, i, 0, p, stride); n > 0 {
			return hit{kind: hitMarkup, name: p.s, off: i, n: n * stride}, true
		}
	}
	if c == '&' && text {
		// Text that a reader decodes (XMP is XML, a comment may be shown
		// as HTML) turns &lt; into '<'.
		if n := entityLT(b, i, stride); n > 0 {
			for _, k := range byFirst['<'] {
				if p := &markupPatterns[k]; patternAt(b, i+n*stride, 1, p, stride) > 0 {
					return hit{kind: hitMarkup, name: "entity-encoded " + p.s, off: i, n: (n + len(p.s) - 1) * stride}, true
				}
			}
		}
	}
	if lc == 'o' && mode != modeImage {
		if name, k, ok := eventHandlerAt(b, i, stride); ok {
			return hit{kind: hitMarkup, name: name, off: i, n: k * stride}, true
		}
	}
	if c == '<' && stride == 1 {
		// Executable code of a structure random bytes practically never
		// have: looked for in every mode, image data included.
		if name, n, ok := execAt(b, i, mode != modeImage); ok {
			return hit{kind: hitMarkup, name: name, off: i, n: n}, true
		}
	}
	return hit{}, false
}

// patternAt matches p at i from its from-th character and returns the
// match's length in characters (from the pattern's start), or 0.
func patternAt(b []byte, i, from int, p *markupPattern, stride int) int {
	if !foldAt(b, i, p.s[from:], stride) {
		return 0
	}
	k := len(p.s) - from
	switch {
	case p.call:
		j := k
		for n := 0; n < 8; n++ {
			if c, ok := at(b, i, j, stride); !ok || !isBlank(c) {
				break
			}
			j++
		}
		if c, ok := at(b, i, j, stride); !ok || c != '(' {
			return 0
		}
		return from + j + 1
	case p.scripted:
		if !scriptedTag(b, i+k*stride, stride) {
			return 0
		}
		return from + k
	case p.doctype:
		j := k
		for n := 0; n < 8; n++ {
			if c, ok := at(b, i, j, stride); !ok || !isBlank(c) {
				break
			}
			j++
		}
		if j == k || !foldAt(b, i+j*stride, "html", stride) {
			return 0
		}
		return from + j + 4
	}
	return from + k
}

// maxTagAttrs is how many characters of a tag's attributes are read.
const maxTagAttrs = 512

// scriptedTag reports whether the attributes from i to the next '>' carry
// script: an on…= event handler, or a javascript:, vbscript: or
// data:text/html URL. Character references are decoded and, in URLs, tabs
// and line breaks dropped, as browsers do ("java&#115;cript:",
// "java\tscript:").
func scriptedTag(b []byte, i, stride int) bool {
	var buf [maxTagAttrs]byte
	n := 0
	for k := 0; n < len(buf); k++ {
		c, ok := at(b, i, k, stride)
		if !ok || c == '>' {
			break
		}
		if c == '&' {
			if v, m := charRef(b, i+k*stride, stride); m > 0 {
				c = v
				k += m - 1
			}
		}
		buf[n] = lower(c)
		n++
	}
	attrs := buf[:n]
	for k := range attrs {
		if attrs[k] == 'o' {
			if _, _, ok := eventHandlerAt(attrs, k, 1); ok {
				return true
			}
		}
	}
	m := 0
	for _, c := range attrs {
		if c != '\t' && c != '\n' && c != '\r' {
			attrs[m] = c
			m++
		}
	}
	attrs = attrs[:m]
	return bytes.Contains(attrs, []byte("javascript:")) || bytes.Contains(attrs, []byte("vbscript:")) || bytes.Contains(attrs, []byte("data:text/html"))
}

// charRef decodes an HTML character reference at i: numeric (&#115;
// &#x73;, the semicolon optional) or one of the few named ones that matter
// here. It returns the character (ASCII only) and the reference's length
// in characters, or 0.
func charRef(b []byte, i, stride int) (byte, int) {
	for _, r := range [...]struct {
		name string
		c    byte
	}{{"&colon;", ':'}, {"&tab;", '\t'}, {"&newline;", '\n'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&amp;", '&'}} {
		if foldAt(b, i, r.name, stride) {
			return r.c, len(r.name)
		}
	}
	v, k := numRef(b, i, stride)
	if k == 0 || v == 0 || v > 0x7f {
		return 0, 0
	}
	return byte(v), k
}

// numRef decodes a numeric character reference at i (&#115; &#x73;, any
// case, at most 8 digits, the semicolon optional). It returns the value and
// the reference's length in characters, or 0 and 0.
func numRef(b []byte, i, stride int) (v, n int) {
	if !foldAt(b, i, "&#", stride) {
		return 0, 0
	}
	k, base := 2, 10
	if c, ok := at(b, i, 2, stride); ok && lower(c) == 'x' {
		k, base = 3, 16
	}
	v, digits := 0, 0
	for ; digits < 8; k++ {
		c, ok := at(b, i, k, stride)
		if !ok {
			break
		}
		d := -1
		switch lc := lower(c); {
		case '0' <= lc && lc <= '9':
			d = int(lc - '0')
		case base == 16 && 'a' <= lc && lc <= 'f':
			d = int(lc-'a') + 10
		}
		if d < 0 {
			break
		}
		v = v*base + d
		digits++
	}
	if digits == 0 {
		return 0, 0
	}
	if c, ok := at(b, i, k, stride); ok && c == ';' {
		k++
	}
	return v, k
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// entityLT returns the length in characters of an HTML character reference
// for '<' at i (&lt; &#60; &#x3c;, any case, leading zeros, the semicolon
// optional as HTML parsers allow), or 0.
func entityLT(b []byte, i, stride int) int {
	if foldAt(b, i, "&lt", stride) {
		if c, ok := at(b, i, 3, stride); ok && c == ';' {
			return 4
		}
		return 3
	}
	if v, k := numRef(b, i, stride); k > 0 && v == '<' {
		return k
	}
	return 0
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// foldAt reports whether the lower-case pattern p occurs at i ignoring ASCII
// case.
func foldAt(b []byte, i int, p string, stride int) bool {
	for k := 0; k < len(p); k++ {
		c, ok := at(b, i, k, stride)
		if !ok || lower(c) != p[k] {
			return false
		}
	}
	return true
}

// eventHandlerAt matches an HTML event handler attribute at i: a word
// boundary, "on", three to 32 letters, up to eight blanks and "=". It
// returns a generic name (the attribute itself is never echoed) and the
// match's length in characters.
func eventHandlerAt(b []byte, i, stride int) (string, int, bool) {
	// An attribute follows a blank, a quote that closed the previous
	// value, or the slash of "<svg/onload": base64 ("AAAA/onAbc=") and
	// prefixed XML names ("xmp:onTrack=") are not attributes.
	if i >= stride {
		switch p := b[i-stride]; {
		case isBlank(p), p == '"', p == '\'', p == '`':
		case p == '/':
			if !tagBefore(b, i-stride, stride) {
				return "", 0, false
			}
		default:
			return "", 0, false
		}
	}
	if c, ok := at(b, i, 1, stride); !ok || lower(c) != 'n' {
		return "", 0, false
	}
	k := 2
	for ; k < 2+32; k++ {
		c, ok := at(b, i, k, stride)
		if !ok || !isLetter(c) {
			break
		}
	}
	if k-2 < 3 {
		return "", 0, false
	}
	for n := 0; n < 8; n++ {
		c, ok := at(b, i, k, stride)
		if !ok || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			break
		}
		k++
	}
	if c, ok := at(b, i, k, stride); ok && c == '=' {
		return "on…= event handler", k + 1, true
	}
	return "", 0, false
}

// tagBefore reports whether "<" and a tag name of one to 16 letters end
// at the slash at j.
func tagBefore(b []byte, j, stride int) bool {
	n := 0
	for j -= stride; j >= 0 && n <= 16 && isLetter(b[j]); j -= stride {
		if stride == 2 && b[j+1] != 0 {
			return false
		}
		n++
	}
	return n > 0 && n <= 16 && j >= 0 && b[j] == '<'
}

// isPE reports whether an MS-DOS header at i leads to a PE signature.
func isPE(b []byte, i int) bool {
	if len(b)-i < 0x40 || b[i+1] != 'Z' {
		return false
	}
	lfanew := uint64(binary.LittleEndian.Uint32(b[i+0x3c:]))
	if lfanew > uint64(len(b)-i) || uint64(len(b)-i)-lfanew < 4 {
		return false
	}
	j := i + int(lfanew)
	return string(b[j:j+4]) == "PE\x00\x00"
}

// scanStraddle reports the first pattern in b[from:to] that crosses the
// edge of the content b[lo:hi] or lies in its framing: matches wholly
// inside the content were the content scan's to find, and matches wholly
// outside the container b[cLo:cHi] belong to bytes that are not scanned.
func scanStraddle(b []byte, from, to, lo, hi, cLo, cHi int, mode scanMode) (hit, bool) {
	for i := from; i < to; {
		h, ok := scanIn(b[i:to], mode)
		if !ok {
			return hit{}, false
		}
		s, e := i+h.off, i+h.off+h.n
		if !(lo <= s && e <= hi) && s < cHi && e > cLo {
			h.off = s
			return h, true
		}
		i = s + 1
	}
	return hit{}, false
}

// scanOverlap is how many bytes a streaming scan keeps from one window to
// the next so that a pattern split across reads is still seen. It exceeds
// the longest pattern in UTF-16LE (an event handler: 2+32+8+1 characters).
const scanOverlap = 96

// streamScanner scans a stream in fixed windows without buffering it.
type streamScanner struct {
	buf  [4096 + scanOverlap]byte
	n    int   // bytes held in buf
	base int64 // stream offset of buf[0]
	text bool
}

// write scans p, returning the first hit with its offset in the stream.
func (s *streamScanner) write(p []byte) (hit, int64, bool) {
	for len(p) > 0 {
		c := copy(s.buf[s.n:], p)
		p = p[c:]
		s.n += c
		if s.n < len(s.buf) && len(p) == 0 {
			break
		}
		if h, ok := scanBytes(s.buf[:s.n], s.text); ok {
			return h, s.base + int64(h.off), true
		}
		keep := min(scanOverlap, s.n)
		copy(s.buf[:], s.buf[s.n-keep:s.n])
		s.base += int64(s.n - keep)
		s.n = keep
	}
	return hit{}, 0, false
}

// flush scans what is left.
func (s *streamScanner) flush() (hit, int64, bool) {
	if h, ok := scanBytes(s.buf[:s.n], s.text); ok {
		return h, s.base + int64(h.off), true
	}
	return hit{}, 0, false
}
