package upload

import (
	"bytes"
	"encoding/binary"
)

// walkJPEG walks the marker segments from SOI to EOI, skipping each scan's
// entropy-coded data (byte stuffing and restart markers included) without
// looking inside it.
func walkJPEG(st *state) {
	data := st.data
	pos := 2
	sawSOF, sawSOS := false, false
	for {
		if pos >= len(data) {
			st.corrupt(-1, "JPEG truncated: no EOI marker")
			return
		}
		if data[pos] != 0xff {
			st.corrupt(-1, "JPEG: expected a marker at byte %d", pos)
			return
		}
		start := pos
		for pos < len(data) && data[pos] == 0xff {
			pos++ // fill bytes
		}
		if pos >= len(data) {
			st.corrupt(-1, "JPEG truncated: no EOI marker")
			return
		}
		m := data[pos]
		pos++
		switch {
		case m == 0xd9:
			if !sawSOS {
				st.corrupt(-1, "JPEG has no scan before EOI")
			}
			st.end = pos
			return
		case m == 0xd8 || m == 0x00:
			st.corrupt(-1, "JPEG: unexpected marker 0x%02x at byte %d", m, start)
			return
		case m >= 0xd0 && m <= 0xd7 || m == 0x01:
			continue // standalone markers
		}
		if len(data)-pos < 2 {
			st.corrupt(-1, "JPEG truncated in the segment at byte %d", start)
			return
		}
		l := int(binary.BigEndian.Uint16(data[pos:]))
		if l < 2 {
			st.corrupt(-1, "JPEG segment at byte %d has length %d", start, l)
			return
		}
		end := pos + l
		if end > len(data) {
			st.corrupt(-1, "JPEG truncated: segment 0x%02x at byte %d declares %d bytes", m, start, l)
			return
		}
		body := data[pos+2 : end]
		switch {
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			if sawSOF {
				st.corrupt(-1, "JPEG has a second frame header at byte %d", start)
				return
			}
			sawSOF = true
			if len(body) < 6 || len(body) < 6+3*int(body[5]) || body[5] == 0 {
				st.corrupt(-1, "JPEG frame header at byte %d is malformed", start)
				return
			}
			h, w := binary.BigEndian.Uint16(body[1:]), binary.BigEndian.Uint16(body[3:])
			if w == 0 || h == 0 {
				st.corrupt(-1, "JPEG frame header declares %d×%d", w, h)
				return
			}
			st.width, st.height = int64(w), int64(h)
			st.pixels = mulPixels(st.width, st.height)
		case m == 0xda:
			if !sawSOF {
				st.corrupt(-1, "JPEG scan at byte %d precedes the frame header", start)
				return
			}
			sawSOS = true
			p, ok := skipEntropy(data, end)
			if !ok {
				st.corrupt(-1, "JPEG truncated inside the scan at byte %d: no EOI marker", start)
				return
			}
			pos = p
			continue
		case m >= 0xe0 && m <= 0xef:
			jpegApp(st, m, start, end, pos+2, body)
		case m == 0xfe:
			st.addSpan(span{off: pos + 2, end: end, where: "JPEG COM segment", text: true, edit: st.drop(start, end)})
		}
		pos = end
	}
}

// skipEntropy returns the offset of the first marker after entropy-coded
// data starting at p: 0xFF followed by a byte that is neither 0x00
// (stuffing) nor a restart marker.
func skipEntropy(data []byte, p int) (int, bool) {
	for {
		i := bytes.IndexByte(data[p:], 0xff)
		if i < 0 {
			return 0, false
		}
		p += i
		if p+1 >= len(data) {
			return 0, false
		}
		if nb := data[p+1]; nb == 0x00 || nb >= 0xd0 && nb <= 0xd7 {
			p += 2
			continue
		}
		return p, true
	}
}

// jpegApp classifies an APPn segment: kept (JFIF, ICC profile, Adobe
// colour transform) or dropped when sanitising, scanned unless it holds
// thumbnail pixels or colour data.
func jpegApp(st *state, m byte, start, end, bodyOff int, body []byte) {
	switch {
	case m == 0xe0 && hasPrefix(body, "JFIF\x00"):
		return // kept; its optional thumbnail is pixel data
	case m == 0xe0 && hasPrefix(body, "JFXX\x00"):
		st.drop(start, end) // thumbnail only
		return
	case m == 0xe2 && hasPrefix(body, "ICC_PROFILE\x00"):
		return // kept: colour data
	case m == 0xee && hasPrefix(body, "Adobe"):
		return // kept: colour transform
	case m == 0xe1 && hasPrefix(body, "Exif\x00\x00"):
		st.addSpan(span{off: bodyOff + 6, end: end, where: "JPEG APP1 EXIF", kind: spanEXIF, edit: st.drop(start, end)})
	case m == 0xe1 && (hasPrefix(body, "http://ns.adobe.com/xap/1.0/\x00") || hasPrefix(body, "http://ns.adobe.com/xmp/extension/\x00")):
		st.addSpan(span{off: bodyOff, end: end, where: "JPEG APP1 XMP", text: true, edit: st.drop(start, end)})
	default:
		st.addSpan(span{off: bodyOff, end: end, where: "JPEG APP" + string("0123456789ABCDEF"[m-0xe0]) + " segment", edit: st.drop(start, end)})
	}
}

// jpegEXIFSegment wraps a TIFF block in an APP1 EXIF segment.
func jpegEXIFSegment(tiff []byte) []byte {
	out := make([]byte, 0, 10+len(tiff))
	out = append(out, 0xff, 0xe1)
	out = binary.BigEndian.AppendUint16(out, uint16(2+6+len(tiff)))
	out = append(out, "Exif\x00\x00"...)
	return append(out, tiff...)
}
