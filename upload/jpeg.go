package upload

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/secmon-go/secmon"
)

// MaxJPEGScans is the most scans (SOS segments) a JPEG may have. A
// progressive encoder writes about ten; decoders process the whole picture
// once per scan, so a few kilobytes of empty scans cost minutes of CPU in
// a decoder that has no limit of its own (image/jpeg has none). More is
// reported as a pixel_bomb.
const MaxJPEGScans = 256

// walkJPEG walks the marker segments from SOI to EOI, skipping each scan's
// entropy-coded data (byte stuffing and restart markers included) without
// looking inside it.
func walkJPEG(st *state) {
	data := st.data
	pos := 2
	sawSOF, sawSOS, sawDHT := false, false, false
	sofMarker := byte(0)
	scans := 0
	var xmpExt []xmpPart
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
			joinExtendedXMP(st, xmpExt)
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
			sofMarker = m
			if len(body) < 6 || len(body) < 6+3*int(body[5]) || body[5] == 0 {
				st.corrupt(-1, "JPEG frame header at byte %d is malformed", start)
				return
			}
			jpegFrameSupport(st, m, body[0], int(body[5]))
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
			if !sawDHT && !sawSOS && st.unsupported == "" && !arithmetic(sofMarker) {
				st.unsupported = fmt.Sprintf("the JPEG scan at byte %d relies on the default Huffman tables (no DHT segment), as motion-JPEG frames do; Go's decoder has no default tables", start)
			}
			sawSOS = true
			if scans++; scans == MaxJPEGScans+1 {
				st.add(secmon.ThreatPixelBomb, -1, fmt.Sprintf("JPEG has more than %d scans: decoders process the whole picture once per scan", MaxJPEGScans))
			}
			p, ok := skipEntropy(data, end)
			if !ok {
				st.corrupt(-1, "JPEG truncated inside the scan at byte %d: no EOI marker", start)
				return
			}
			pos = p
			continue
		case m >= 0xe0 && m <= 0xef:
			jpegApp(st, m, start, end, pos+2, body)
			if m == 0xe1 && len(body) >= xmpExtHeader && hasPrefix(body, xmpExtNS) && len(xmpExt) < MaxMetadataBlocks {
				xmpExt = append(xmpExt, xmpPart{off: pos + 2 + xmpExtHeader, end: end, at: binary.BigEndian.Uint32(body[xmpExtHeader-4:]), edit: len(st.edits) - 1})
			}
		case m == 0xfe:
			st.addSpan(span{off: pos + 2, end: end, where: "JPEG COM segment", text: true, edit: st.drop(start, end)})
		case m == 0xc4:
			sawDHT = true
		case m == 0xcc || m == 0xdb || m >= 0xdc && m <= 0xdf:
			// DHT, DAC, DQT, DNL, DRI, DHP, EXP: decoder tables, kept
		default:
			// Reserved and extension markers (JPG, JPGn, 0x02–0xBF) carry
			// nothing a browser renders: scanned and dropped, never kept
			// unread.
			st.addSpan(span{off: pos + 2, end: end, where: fmt.Sprintf("JPEG reserved marker 0x%02x segment", m), edit: st.drop(start, end)})
		}
		pos = end
	}
}

// arithmetic reports whether a frame marker declares arithmetic coding.
func arithmetic(m byte) bool { return m >= 0xc9 && m <= 0xcb || m >= 0xcd && m <= 0xcf }

// jpegFrameSupport records why Go's decoder cannot read a frame the JPEG
// specification allows: lossless, hierarchical and arithmetic-coded
// processes, and sample precisions other than 8 bits.
func jpegFrameSupport(st *state, m, precision byte, components int) {
	why := ""
	switch {
	case arithmetic(m):
		why = "arithmetic coding"
	case m == 0xc3:
		why = "the lossless process"
	case m >= 0xc5 && m <= 0xc7:
		why = "the hierarchical process"
	case precision != 8:
		why = fmt.Sprintf("%d-bit samples", precision)
	case components != 1 && components != 3 && components != 4:
		why = fmt.Sprintf("%d components", components)
	}
	if why != "" && st.unsupported == "" {
		st.unsupported = fmt.Sprintf("the JPEG frame (marker 0x%02x) uses %s, which Go's decoder does not implement", m, why)
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

// jpegApp classifies an APPn segment. JFIF, the ICC profile and the Adobe
// colour transform are kept; everything else is dropped when sanitising.
// Every byte a kept segment could hide a payload in is scanned: the ICC
// profile and the Adobe segment as binary, the JFIF thumbnail (which
// sanitising removes) as image data.
func jpegApp(st *state, m byte, start, end, bodyOff int, body []byte) {
	switch {
	case m == 0xe0 && hasPrefix(body, "JFIF\x00") && len(body) >= jfifHeader:
		if len(body) > jfifHeader { // a thumbnail, or bytes after the header
			e := st.drop(start, end)
			st.edits[e].repl = jfifWithoutThumbnail(body)
			st.addSpan(span{off: bodyOff + jfifHeader, end: end, where: "JPEG JFIF thumbnail", image: true, edit: e})
		}
	case m == 0xe0 && hasPrefix(body, "JFXX\x00"):
		st.addSpan(span{off: bodyOff, end: end, where: "JPEG JFXX thumbnail", image: true, edit: st.drop(start, end)})
	case m == 0xe2 && hasPrefix(body, "MPF\x00"):
		st.addSpan(span{off: bodyOff, end: end, where: "JPEG APP2 MPF index", edit: st.drop(start, end)})
		if st.mpf == nil {
			st.mpf, st.mpfAt = mpfImages(body[4:], bodyOff+4), bodyOff
		}
	case m == 0xe2 && hasPrefix(body, "ICC_PROFILE\x00"):
		st.addSpan(span{off: bodyOff, end: end, cOff: start, cEnd: end, where: "JPEG APP2 ICC profile", edit: -1})
	case m == 0xee && hasPrefix(body, "Adobe"):
		st.addSpan(span{off: bodyOff, end: end, cOff: start, cEnd: end, where: "JPEG APP14 Adobe segment", edit: -1})
	case m == 0xe1 && hasPrefix(body, "Exif\x00\x00"):
		st.addSpan(span{off: bodyOff + 6, end: end, where: "JPEG APP1 EXIF", kind: spanEXIF, edit: st.drop(start, end)})
	case m == 0xe1 && (hasPrefix(body, "http://ns.adobe.com/xap/1.0/\x00") || hasPrefix(body, "http://ns.adobe.com/xmp/extension/\x00")):
		st.addSpan(span{off: bodyOff, end: end, where: "JPEG APP1 XMP", text: true, edit: st.drop(start, end)})
	case m == 0xed && hasPrefix(body, photoshopNS):
		photoshopIRB(st, bodyOff, end, st.drop(start, end))
	default:
		st.addSpan(span{off: bodyOff, end: end, where: "JPEG APP" + string("0123456789ABCDEF"[m-0xe0]) + " segment", edit: st.drop(start, end)})
	}
}

const photoshopNS = "Photoshop 3.0\x00"

// photoshopIRB scans an APP13 Photoshop segment, data[off:end]: its image
// resources (IPTC captions, paths, settings) as binary, and the thumbnail
// resources (0x0409, 0x040C: a JPEG of a few kilobytes) as image data,
// where only long patterns apply. A segment that does not parse as a
// resource list is scanned whole as binary.
func photoshopIRB(st *state, off, end, e int) {
	data := st.data
	var thumbs [2][2]int
	n := 0
	for p := off + len(photoshopNS); p < end; {
		if end-p < 12 || string(data[p:p+4]) != "8BIM" {
			n = -1
			break
		}
		id := binary.BigEndian.Uint16(data[p+4:])
		q := p + 6 + int(data[p+6]) + 1
		q += q & 1 // the Pascal name is padded to an even length
		if end-q < 4 {
			n = -1
			break
		}
		size := int(binary.BigEndian.Uint32(data[q:]))
		q += 4
		if size > end-q {
			n = -1
			break
		}
		if (id == 0x0409 || id == 0x040c) && n < len(thumbs) {
			thumbs[n] = [2]int{q, q + size}
			n++
		}
		p = q + size + size&1
	}
	const where = "JPEG APP13 Photoshop segment"
	if n < 0 {
		st.addSpan(span{off: off, end: end, where: where, edit: e})
		return
	}
	// Each piece is its own container, so that the edges of one are never
	// scanned with another's mode; the first includes the segment header.
	pos, cOff := off, off-4
	for _, t := range thumbs[:n] {
		st.addSpan(span{off: pos, end: t[0], cOff: cOff, cEnd: t[0], where: where, edit: e})
		st.addSpan(span{off: t[0], end: t[1], cOff: t[0], cEnd: t[1], where: where + " thumbnail", image: true, edit: e})
		pos, cOff = t[1], t[1]
	}
	st.addSpan(span{off: pos, end: end, cOff: cOff, cEnd: end, where: where, edit: e})
}

// Extended XMP: an XMP packet too large for one segment is split over APP1
// segments, each with the namespace, a 32-digit GUID, the full length and
// this part's offset, and readers put the parts together by offset.
const (
	xmpExtNS     = "http://ns.adobe.com/xmp/extension/\x00"
	xmpExtHeader = len(xmpExtNS) + 32 + 4 + 4
)

// xmpPart is one extended-XMP segment's payload.
type xmpPart struct {
	off, end int
	at       uint32 // offset in the joined packet
	edit     int    // the edit that drops the segment
}

// joinExtendedXMP lays the extended-XMP parts out as a reader does and
// scans the result as one text, so that markup split across two segments
// ("<scr" in one, "ipt>" in the next) is still seen. The joined copy is at
// most the file's size.
func joinExtendedXMP(st *state, parts []xmpPart) {
	if len(parts) < 2 {
		return
	}
	size := uint64(0)
	for _, p := range parts {
		size = max(size, uint64(p.at)+uint64(p.end-p.off))
	}
	if size > uint64(len(st.data)) {
		st.corrupt(parts[0].off, "JPEG extended XMP places a part at offset %d, past the file's size", size)
		return
	}
	joined := make([]byte, size)
	for _, p := range parts {
		copy(joined[p.at:], st.data[p.off:p.end])
	}
	st.addSpan(span{off: parts[0].off, end: parts[0].end, where: "JPEG extended XMP (joined)", text: true, edit: parts[0].edit, joined: joined})
}

// jfifHeader is the size of a JFIF APP0 body without a thumbnail.
const jfifHeader = 14

// jfifWithoutThumbnail returns the APP0 segment with the header of body
// and no thumbnail.
func jfifWithoutThumbnail(body []byte) []byte {
	out := []byte{0xff, 0xe0, 0, 2 + jfifHeader}
	out = append(out, body[:jfifHeader]...)
	out[len(out)-2], out[len(out)-1] = 0, 0 // thumbnail 0×0
	return out
}

// jpegEXIFSegment wraps a TIFF block in an APP1 EXIF segment.
func jpegEXIFSegment(tiff []byte) []byte {
	out := make([]byte, 0, 10+len(tiff))
	out = append(out, 0xff, 0xe1)
	out = binary.BigEndian.AppendUint16(out, uint16(2+6+len(tiff)))
	out = append(out, "Exif\x00\x00"...)
	return append(out, tiff...)
}

// maxMPFImages bounds the pictures an MPF index may list.
const maxMPFImages = 16

// mpfImages reads the MP entries of a Multi-Picture Format index (CIPA
// DC-007), the TIFF structure t whose first byte lies at base in the file,
// and returns the absolute ranges of the pictures after the first. DSLRs
// store a large preview there, phones a depth map or an HDR gain map. An
// index that does not parse yields an empty, non-nil list.
func mpfImages(t []byte, base int) [][2]int {
	out := [][2]int{}
	if len(t) < 8 {
		return out
	}
	var bo binary.ByteOrder = binary.BigEndian
	if string(t[:2]) == "II" {
		bo = binary.LittleEndian
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return out
	}
	n := int(bo.Uint16(t[ifd:]))
	for k := range min(n, 32) {
		e := ifd + 2 + 12*k
		if e+12 > len(t) {
			return out
		}
		if bo.Uint16(t[e:]) != 0xb002 || bo.Uint16(t[e+2:]) != 7 {
			continue
		}
		count := int(bo.Uint32(t[e+4:]))
		off := int(bo.Uint32(t[e+8:]))
		if count%16 != 0 || count/16 > maxMPFImages || off < 0 || off+count > len(t) {
			return out
		}
		for i := 1; i < count/16; i++ {
			r := t[off+16*i:]
			size, at := int(bo.Uint32(r[4:])), int(bo.Uint32(r[8:]))
			if size > 0 && at > 0 {
				out = append(out, [2]int{base + at, base + at + size})
			}
		}
		return out
	}
	return out
}
