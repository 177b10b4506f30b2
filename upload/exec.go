package upload

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/secmon-go/secmon"
)

// This file holds the scan of the whole file, pixel data included, for
// executable code. Compressed pixels are close to random bytes, so only
// signatures that random bytes practically never form are looked for:
//
//   - "<?php", a blank and two bytes of ASCII text (PHP's open tag needs
//     the blank);
//   - "<?=" then at least minPHPCode bytes of ASCII text, or "<?" and a
//     blank then at least minPHPShortCode, and "?>" or "__halt_compiler"
//     (PHP refuses to compile a file whose code runs into binary bytes, so
//     a working payload is closed);
//   - "<%" then at least minASPCode bytes of ASCII text and "%>" (ASP, JSP);
//   - "<script" and a blank, "/" or ">";
//   - a tag ("<" and one to 16 letters, then a blank or "/") whose
//     attributes, in the same run of ASCII text, hold an event handler
//     (on…=) or a javascript:, vbscript: or data:text/html URL;
//   - a ZIP end-of-central-directory record in the last 64 KiB whose
//     central directory is where it says (ZIP and JAR readers open such a
//     file as an archive).
//
// The odds that random bytes hold one of these by chance are worked out in
// the package documentation: about 6.2e-14 per byte, one 5 MB file in
// three million.

const (
	minPHPCode      = 4    // "`id`" is a complete program between <?= and ?>
	minPHPShortCode = 8    // after "<? ": short tags need short_open_tag, payloads are longer
	minPHPAfterTag  = 2    // code bytes after "<?php " in pixel data ("/*" at least)
	minASPCode      = 12   // `eval request("c")` and JSP scriptlets are longer
	maxCode         = 4096 // a payload's code is short; longer runs are not followed
	maxTagRun       = 512  // attributes of one tag
)

// isCode reports whether c can be part of a script payload's ASCII text.
func isCode(c byte) bool { return c >= 0x20 && c < 0x7f || c == '\t' || c == '\n' || c == '\r' }

// execAt matches executable code at the '<' at b[i] (see codeUntil for
// lenient). It returns a name for the threat detail and the match's
// length.
func execAt(b []byte, i int, lenient bool) (string, int, bool) {
	if i+2 > len(b) {
		return "", 0, false
	}
	switch c1 := b[i+1]; {
	case c1 == '?':
		if foldAt(b, i, "<?php", 1) {
			if i+5 < len(b) && isBlank(b[i+5]) && (lenient || codeRun(b, i+6, minPHPAfterTag)) {
				return "<?php", 6, true
			}
			return "", 0, false
		}
		if i+2 < len(b) && (b[i+2] == '=' || isBlank(b[i+2])) {
			min := minPHPCode
			if b[i+2] != '=' {
				min = minPHPShortCode
			}
			if n, ok := codeUntil(b, i+3, min, "?>", true, lenient); ok {
				return "<?" + string(b[i+2:i+3]) + " … ?>", n + 3, true
			}
		}
	case c1 == '%':
		if n, ok := codeUntil(b, i+2, minASPCode, "%>", false, lenient); ok {
			return "<% … %>", n + 2, true
		}
	case isLetter(c1):
		if foldAt(b, i, "<script", 1) {
			if i+7 < len(b) && (isBlank(b[i+7]) || b[i+7] == '/' || b[i+7] == '>') {
				return "<script", 8, true
			}
		}
		return tagAt(b, i)
	}
	return "", 0, false
}

// codeRun reports whether b[p:] starts with n bytes of ASCII text.
func codeRun(b []byte, p, n int) bool {
	if len(b)-p < n {
		return false
	}
	for _, c := range b[p : p+n] {
		if !isCode(c) {
			return false
		}
	}
	return true
}

// codeUntil reports whether b[p:] holds at least min bytes of code and
// then end (or, for PHP, __halt_compiler), within maxCode bytes, and
// returns the length up to and including the terminator. Code is ASCII
// text; when lenient, quoted strings and /* */ comments may hold any byte,
// as PHP, ASP and JSP allow (`id<binary>` is a PHP program). Lenient
// matching is for metadata, which is small; pixel data gets the strict
// form, whose odds are computed in the package documentation.
func codeUntil(b []byte, p, min int, end string, php, lenient bool) (int, bool) {
	quote := byte(0)
	for j := p; j < len(b) && j-p <= maxCode; j++ {
		c := b[j]
		if quote != 0 {
			if c == quote || quote == '*' && c == '*' && j+1 < len(b) && b[j+1] == '/' {
				if quote == '*' {
					j++
				}
				quote = 0
			}
			continue
		}
		if c == end[0] && j+1 < len(b) && b[j+1] == end[1] {
			return j + 2 - p, j-p >= min
		}
		if php && c == '_' && j-p >= min && foldAt(b, j, "__halt_compiler", 1) {
			return j + 15 - p, true
		}
		if lenient {
			switch {
			case c == '\'' || c == '"' || c == '`':
				quote = c
				continue
			case c == '/' && j+1 < len(b) && b[j+1] == '*':
				quote = '*'
				j++
				continue
			}
		}
		if !isCode(c) {
			return 0, false
		}
	}
	return 0, false
}

// tagAt matches a start tag at b[i] whose attributes carry script.
func tagAt(b []byte, i int) (string, int, bool) {
	j := i + 1
	for j < len(b) && j-i <= 17 && isLetter(b[j]) {
		j++
	}
	if j-i > 17 || j >= len(b) || !isBlank(b[j]) && b[j] != '/' {
		return "", 0, false
	}
	for k := j; k < len(b) && k-j < maxTagRun; k++ {
		c := b[k]
		if c == '>' || c == '<' || !isCode(c) {
			break
		}
		switch lower(c) {
		case 'o':
			if _, n, ok := eventHandlerAt(b, k, 1); ok {
				return "tag with an on…= event handler", k + n - i, true
			}
		case 'j':
			if foldAt(b, k, "javascript:", 1) {
				return "tag with a javascript: URL", k + 11 - i, true
			}
		case 'v':
			if foldAt(b, k, "vbscript:", 1) {
				return "tag with a vbscript: URL", k + 9 - i, true
			}
		case 'd':
			if foldAt(b, k, "data:text/html", 1) {
				return "tag with a data:text/html URL", k + 14 - i, true
			}
		}
	}
	return "", 0, false
}

// zipEOCD returns the offset of a ZIP end-of-central-directory record in
// the last 64 KiB of b whose central directory starts right before it
// with its own signature, or -1.
func zipEOCD(b []byte) int {
	from := max(0, len(b)-(1<<16+22))
	for i := len(b) - 22; i >= from; i-- {
		j := bytes.LastIndex(b[from:i+4], []byte("PK\x05\x06"))
		if j < 0 {
			return -1
		}
		i = from + j
		if i+22 > len(b) {
			continue
		}
		r := b[i:]
		disk, cdDisk := binary.LittleEndian.Uint16(r[4:]), binary.LittleEndian.Uint16(r[6:])
		here, total := binary.LittleEndian.Uint16(r[8:]), binary.LittleEndian.Uint16(r[10:])
		size := int(binary.LittleEndian.Uint32(r[12:]))
		if disk == cdDisk && here == total && total > 0 && size >= 46 && size <= i {
			if c := i - size; string(b[c:c+4]) == "PK\x01\x02" {
				return i
			}
		}
	}
	return -1
}

// inEdit reports whether data[off] lies in a region sanitising removes.
func (st *state) inEdit(off int) bool {
	for _, e := range st.edits {
		if e.off <= off && off < e.end {
			return true
		}
	}
	return false
}

// inSpan reports whether data[off] lies in a metadata block's container.
func (st *state) inSpan(off int) bool {
	for _, s := range st.spans {
		if s.cOff <= off && off < s.cEnd {
			return true
		}
	}
	return false
}

// scanWhole scans the file up to its logical end for executable code and
// an archive that readers would open. Code in a metadata block is
// script_in_metadata (removed with the block where sanitising drops it);
// code anywhere else lies in image data, and only re-encoding removes it.
func (st *state) scanWhole() {
	d := st.data[:st.end]
	for i := 0; i < len(d); i++ {
		k := bytes.IndexByte(d[i:], '<')
		if k < 0 {
			break
		}
		i += k
		name, _, ok := execAt(d, i, false)
		if !ok {
			continue
		}
		if st.inEdit(i) {
			st.add(secmon.ThreatScriptInMetadata, i, fmt.Sprintf("%q in metadata at byte %d", name, i))
			continue
		}
		if st.inSpan(i) {
			// Metadata that sanitising keeps (an ICC profile): not
			// removable, and not image data either.
			st.add(secmon.ThreatScriptInMetadata, i, fmt.Sprintf("%q in kept metadata at byte %d", name, i))
			continue
		}
		st.addImageData(secmon.ThreatScriptInImageData, i, fmt.Sprintf("%q in %s image data at byte %d, outside every metadata block", name, st.mime, i))
		break
	}
	if z := zipEOCD(d); z >= 0 {
		if st.inEdit(z) {
			st.add(secmon.ThreatEmbeddedArchive, z, fmt.Sprintf("ZIP archive ending at byte %d, in metadata", z))
		} else {
			st.addImageData(secmon.ThreatEmbeddedArchive, z, fmt.Sprintf("ZIP archive ending at byte %d, inside the image: archive readers open the file", z))
		}
	}
}
