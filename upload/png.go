package upload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/secmon-go/secmon"
)

// walkPNG walks the chunks from the signature to IEND, checking lengths,
// CRCs and the order IHDR … IDAT … IEND.
func walkPNG(st *state) {
	data := st.data
	pos := 8
	seenIDAT, idatDone, seenPLTE := false, false, false
	colour := byte(0)
	fcTL := int64(0)
	for first := true; ; first = false {
		if len(data)-pos < 12 {
			st.corrupt(-1, "PNG truncated at byte %d: no IEND chunk", pos)
			return
		}
		n := binary.BigEndian.Uint32(data[pos:])
		typ := data[pos+4 : pos+8]
		if n > 1<<31-1 {
			st.corrupt(-1, "PNG chunk at byte %d declares %d bytes", pos, n)
			return
		}
		if !isLetter(typ[0]) || !isLetter(typ[1]) || !isLetter(typ[2]) || !isLetter(typ[3]) {
			st.corrupt(-1, "PNG chunk at byte %d has an invalid type", pos)
			return
		}
		if uint64(len(data)-pos-12) < uint64(n) {
			st.corrupt(-1, "PNG truncated: %s chunk at byte %d declares %d bytes, %d remain", typ, pos, n, len(data)-pos-12)
			return
		}
		body := data[pos+8 : pos+8+int(n)]
		end := pos + 12 + int(n)
		want := binary.BigEndian.Uint32(data[end-4:])
		if crc32.Update(crc32.Update(0, crc32.IEEETable, typ), crc32.IEEETable, body) != want {
			st.corrupt(-1, "PNG %s chunk at byte %d fails its CRC", typ, pos)
		}
		switch {
		case first && string(typ) != "IHDR":
			st.corrupt(-1, "PNG chunk %q at byte %d comes before IHDR", typ, pos)
			return
		case !first && string(typ) == "IHDR":
			st.corrupt(-1, "PNG has a second IHDR chunk at byte %d", pos)
			return
		}
		if seenIDAT && !idatDone && string(typ) != "IDAT" {
			idatDone = true
		}
		switch string(typ) { // no allocation: the compiler compares in place
		case "IHDR":
			if !pngHeader(st, body) {
				return
			}
			colour = body[9]
		case "IDAT":
			if idatDone {
				st.corrupt(-1, "PNG IDAT chunk at byte %d is separated from the image data before it by other chunks", pos)
				return
			}
			if !seenIDAT && colour == 3 && !seenPLTE {
				st.corrupt(-1, "PNG palette image has no PLTE chunk before its image data at byte %d", pos)
				return
			}
			seenIDAT = true
		case "IEND":
			if !seenIDAT {
				st.corrupt(-1, "PNG has no IDAT chunk")
			}
			// An APNG decoder renders as many frames as there are fcTL
			// chunks, whatever acTL declares.
			st.frames = max(st.frames, fcTL)
			st.pixels = mulPixels(st.pixels, max(st.frames, 1))
			st.end = end
			return
		case "acTL":
			if len(body) != 8 {
				st.corrupt(-1, "PNG acTL chunk at byte %d has %d bytes, want 8", pos, len(body))
				return
			}
			st.frames = max(st.frames, int64(binary.BigEndian.Uint32(body)))
		case "PLTE":
			switch {
			case len(body) == 0 || len(body)%3 != 0 || len(body) > 3*256:
				st.corrupt(-1, "PNG PLTE chunk at byte %d has %d bytes", pos, len(body))
				return
			case seenPLTE:
				st.corrupt(-1, "PNG has a second PLTE chunk at byte %d", pos)
				return
			case seenIDAT:
				st.corrupt(-1, "PNG PLTE chunk at byte %d follows the image data", pos)
				return
			case colour == 0 || colour == 4:
				st.corrupt(-1, "PNG PLTE chunk at byte %d in a greyscale image", pos)
				return
			}
			seenPLTE = true
		case "tEXt":
			st.addSpan(span{off: pos + 8, end: end - 4, where: "PNG tEXt chunk", text: true, edit: st.drop(pos, end)})
			if k := indexNul(body, 80); k >= 0 {
				pngTextValue(st, pos, "PNG tEXt chunk", body[:k], body[k+1:], true)
			}
		case "zTXt":
			pngCompressedText(st, pos, end, body, 0, "PNG zTXt chunk")
		case "iTXt":
			pngITXt(st, pos, end, body)
		case "eXIf":
			off := pos + 8
			if hasPrefix(body, "Exif\x00\x00") {
				off += 6
			}
			st.addSpan(span{off: off, end: end - 4, where: "PNG eXIf chunk", kind: spanEXIF, edit: st.drop(pos, end)})
		case "tIME":
			st.drop(pos, end)
		case "iCCP":
			// colour profile: kept; its keyword and compressed bytes are
			// scanned as binary (a stored deflate block holds bytes as is)
			st.addSpan(span{off: pos + 8, end: end - 4, cOff: pos, cEnd: end, where: "PNG iCCP chunk", edit: -1})
		case "tRNS", "fdAT":
			// pixel data (transparency, animation frames): kept, not scanned
		case "cHRM", "gAMA", "sBIT", "sRGB", "cICP", "mDCv", "cLLI", "bKGD", "pHYs", "fcTL":
			// rendering information of a fixed size: kept when it has that
			// size, scanned and dropped otherwise, so that no byte beyond
			// what decoders read is kept unread
			if !pngFixedSize(string(typ), len(body)) {
				st.addSpan(span{off: pos + 8, end: end - 4, where: "PNG " + string(typ) + " chunk of an invalid size", edit: st.drop(pos, end)})
			} else if string(typ) == "fcTL" {
				fcTL++
			}
		default:
			if typ[0]&0x20 == 0 {
				st.corrupt(-1, "PNG has an unknown critical chunk %q", typ)
				return
			}
			st.addSpan(span{off: pos + 8, end: end - 4, where: "PNG ancillary chunk", edit: st.drop(pos, end)})
		}
		pos = end
	}
}

// pngFixedSize reports whether a rendering chunk has one of the sizes the
// PNG and APNG specifications give it.
func pngFixedSize(typ string, n int) bool {
	switch typ {
	case "cHRM":
		return n == 32
	case "gAMA", "cICP":
		return n == 4
	case "sBIT":
		return n >= 1 && n <= 4
	case "sRGB":
		return n == 1
	case "mDCv":
		return n == 24
	case "cLLI":
		return n == 8
	case "bKGD":
		return n == 1 || n == 2 || n == 6
	case "pHYs":
		return n == 9
	case "fcTL":
		return n == 26
	}
	return false
}

// pngHeader checks IHDR and records the dimensions.
func pngHeader(st *state, b []byte) bool {
	if len(b) != 13 {
		st.corrupt(-1, "PNG IHDR has %d bytes, want 13", len(b))
		return false
	}
	w, h := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	depth, color := b[8], b[9]
	if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
		st.corrupt(-1, "PNG IHDR has invalid dimensions %d×%d", w, h)
		return false
	}
	ok := false
	switch color {
	case 0:
		ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case 3:
		ok = depth == 1 || depth == 2 || depth == 4 || depth == 8
	case 2, 4, 6:
		ok = depth == 8 || depth == 16
	}
	if !ok || b[10] != 0 || b[11] != 0 || b[12] > 1 {
		st.corrupt(-1, "PNG IHDR has an invalid format (colour type %d, depth %d)", color, depth)
		return false
	}
	st.width, st.height = int64(w), int64(h)
	st.pixels = mulPixels(st.width, st.height)
	return true
}

// pngCompressedText records a chunk whose text starts compressed at
// body[textAt:] after a keyword and method byte (zTXt), or at the given
// offset (iTXt).
func pngCompressedText(st *state, pos, end int, body []byte, textAt int, where string) {
	e := st.drop(pos, end)
	if textAt == 0 {
		k := indexNul(body, 80)
		if k < 0 || k+2 > len(body) || body[k+1] != 0 {
			st.corrupt(pos, "%s at byte %d is malformed", where, pos)
			return
		}
		textAt = k + 2
		pngTextValue(st, pos, where, body[:k], nil, false)
	}
	st.addSpan(span{off: pos + 8, end: pos + 8 + textAt, where: where, text: true, edit: e})
	st.addSpan(span{off: pos + 8 + textAt, end: end - 4, where: where, text: true, kind: spanZlib, edit: e, pngValue: true})
}

// pngTextValue flags a text chunk that makes a converter read a local
// file: ImageMagick reads the file that a "profile" text names into the
// image it writes (CVE-2022-44268), and a value that is a local path
// invites the same. The value is checked when it is not compressed
// (compressed values are checked as they inflate).
func pngTextValue(st *state, pos int, where string, keyword, value []byte, plain bool) {
	switch {
	case len(keyword) == 7 && foldAt(keyword, 0, "profile", 1):
		st.add(secmon.ThreatMetadataExfiltration, pos, fmt.Sprintf("%s at byte %d has the keyword \"profile\": ImageMagick reads the file it names into the converted image (CVE-2022-44268)", where, pos))
	case plain && localPath(value):
		st.add(secmon.ThreatMetadataExfiltration, pos, fmt.Sprintf("%s at byte %d names a local file: converters that read it leak the file into their output", where, pos))
	}
}

// maxPathValue is the longest text value checked for a local path.
const maxPathValue = 1024

// localPath reports whether a text value, blanks and NULs trimmed, is one
// name of a local file: a file: URL, an absolute Unix path, a home or
// parent-relative path, a Windows drive or UNC path, or ImageMagick's
// "@file" form. A path inside prose ("see /usr/share") is not.
func localPath(v []byte) bool {
	v = bytes.Trim(v, " \t\r\n\x00")
	if len(v) < 2 || len(v) > maxPathValue {
		return false
	}
	for _, c := range v {
		if c < 0x21 || c == 0x7f { // one name: no blank, no control, no line break
			return false
		}
	}
	if foldAt(v, 0, "file:", 1) {
		return true
	}
	if v[0] == '@' {
		v = v[1:]
	}
	switch {
	case len(v) >= 2 && v[0] == '/' && isAlnum(v[1]),
		len(v) >= 3 && v[0] == '~' && v[1] == '/',
		len(v) >= 3 && v[0] == '.' && v[1] == '.' && (v[2] == '/' || v[2] == '\\'),
		len(v) >= 3 && isLetter(v[0]) && v[1] == ':' && (v[2] == '\\' || v[2] == '/'),
		len(v) >= 3 && v[0] == '\\' && v[1] == '\\' && isAlnum(v[2]):
		return true
	}
	return false
}

// pngITXt handles keyword\0 flag method language\0 translated\0 text.
func pngITXt(st *state, pos, end int, body []byte) {
	k := indexNul(body, 80)
	if k < 0 || k+3 > len(body) {
		st.corrupt(pos, "PNG iTXt chunk at byte %d is malformed", pos)
		st.drop(pos, end)
		return
	}
	flag := body[k+1]
	i := k + 3
	for range 2 { // language tag, translated keyword
		j := indexNul(body[i:], len(body))
		if j < 0 {
			st.corrupt(pos, "PNG iTXt chunk at byte %d is malformed", pos)
			st.drop(pos, end)
			return
		}
		i += j + 1
	}
	pngTextValue(st, pos, "PNG iTXt chunk", body[:k], body[i:], flag != 1)
	if flag == 1 {
		pngCompressedText(st, pos, end, body, i, "PNG iTXt chunk")
		return
	}
	st.addSpan(span{off: pos + 8, end: end - 4, where: "PNG iTXt chunk", text: true, edit: st.drop(pos, end)})
}

func indexNul(b []byte, limit int) int {
	for i := 0; i < len(b) && i <= limit; i++ {
		if b[i] == 0 {
			return i
		}
	}
	return -1
}

// pngEXIFChunk wraps a TIFF block in an eXIf chunk.
func pngEXIFChunk(tiff []byte) []byte {
	out := make([]byte, 0, 12+len(tiff))
	out = binary.BigEndian.AppendUint32(out, uint32(len(tiff)))
	out = append(out, "eXIf"...)
	out = append(out, tiff...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}
