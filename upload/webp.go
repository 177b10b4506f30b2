package upload

import "encoding/binary"

// walkWebP walks the RIFF container: the RIFF size against the file
// length, then each chunk inside it, reading the dimensions from the
// VP8, VP8L or VP8X header.
func walkWebP(st *state) {
	data := st.data
	size := uint64(binary.LittleEndian.Uint32(data[4:]))
	limit := len(data)
	switch {
	case size < 4 || size&1 != 0:
		st.corrupt(-1, "WebP RIFF size %d is invalid", size)
		return
	case 8+size > uint64(len(data)):
		st.corrupt(-1, "WebP truncated: RIFF size %d, file %d bytes", size, len(data))
		return
	default:
		limit = 8 + int(size)
		st.end = limit
	}
	pos := 12
	hasImage := false
	frameArea := int64(0)
	for first := true; pos < limit; first = false {
		if limit-pos < 8 {
			st.corrupt(-1, "WebP truncated in the chunk header at byte %d", pos)
			return
		}
		id := string(data[pos : pos+4])
		n := uint64(binary.LittleEndian.Uint32(data[pos+4:]))
		padded := n + n&1
		if padded > uint64(limit-pos-8) {
			st.corrupt(-1, "WebP chunk %q at byte %d runs past the RIFF size", id, pos)
			return
		}
		body := data[pos+8 : pos+8+int(n)]
		end := pos + 8 + int(padded)
		if first && id != "VP8 " && id != "VP8L" && id != "VP8X" {
			st.corrupt(-1, "WebP starts with chunk %q", id)
			return
		}
		switch id {
		case "VP8X":
			if !first || len(body) < 10 {
				st.corrupt(-1, "WebP VP8X chunk at byte %d is misplaced or short", pos)
				return
			}
			st.width = int64(le24(body[4:])) + 1
			st.height = int64(le24(body[7:])) + 1
		case "VP8 ":
			if len(body) < 10 || string(body[3:6]) != "\x9d\x01\x2a" {
				st.corrupt(-1, "WebP VP8 chunk at byte %d has no valid frame header", pos)
				return
			}
			hasImage = true
			if !webpImageSize(st, pos, first, int64(binary.LittleEndian.Uint16(body[6:])&0x3fff), int64(binary.LittleEndian.Uint16(body[8:])&0x3fff)) {
				return
			}
		case "VP8L":
			if len(body) < 5 || body[0] != 0x2f {
				st.corrupt(-1, "WebP VP8L chunk at byte %d has no valid header", pos)
				return
			}
			bits := binary.LittleEndian.Uint32(body[1:])
			if bits>>29 != 0 {
				st.corrupt(-1, "WebP VP8L chunk at byte %d has version %d", pos, bits>>29)
				return
			}
			hasImage = true
			if !webpImageSize(st, pos, first, int64(bits&0x3fff)+1, int64(bits>>14&0x3fff)+1) {
				return
			}
		case "ANMF":
			if len(body) < 16 {
				st.corrupt(-1, "WebP ANMF chunk at byte %d is short", pos)
				return
			}
			hasImage = true
			st.frames++
			fw, fh := int64(le24(body[6:]))+1, int64(le24(body[9:]))+1
			frameArea = addPixels(frameArea, mulPixels(fw, fh))
			if !webpFrame(st, pos+8+16, pos+8+int(n), fw, fh) {
				return
			}
		case "ANIM":
			if len(body) != 6 {
				st.corrupt(-1, "WebP ANIM chunk at byte %d has %d bytes, want 6", pos, len(body))
				return
			}
		case "ALPH":
			// pixel data: kept, not scanned
		case "ICCP":
			// colour profile: kept, scanned as binary
			st.addSpan(span{off: pos + 8, end: pos + 8 + int(n), cOff: pos, cEnd: end, where: "WebP ICCP chunk", edit: -1})
		case "EXIF":
			off := pos + 8
			if hasPrefix(body, "Exif\x00\x00") {
				off += 6
			}
			st.addSpan(span{off: off, end: pos + 8 + int(n), where: "WebP EXIF chunk", kind: spanEXIF, edit: st.drop(pos, end)})
		case "XMP ":
			st.addSpan(span{off: pos + 8, end: pos + 8 + int(n), where: "WebP XMP chunk", text: true, edit: st.drop(pos, end)})
		default:
			st.addSpan(span{off: pos + 8, end: pos + 8 + int(n), where: "WebP chunk", edit: st.drop(pos, end)})
		}
		pos = end
	}
	if !hasImage {
		st.corrupt(-1, "WebP has no image data")
	}
	st.pixels = addPixels(mulPixels(st.width, st.height), frameArea)
}

// webpFrame walks the chunks inside an ANMF frame, data[p:end]: the
// bitstream (ALPH, VP8, VP8L), whose size must be the frame's, and unknown
// chunks, which are scanned (they are kept: dropping them would mean
// rewriting the frame's size).
func webpFrame(st *state, p, end int, fw, fh int64) bool {
	data := st.data
	for p < end {
		if end-p < 8 {
			st.corrupt(-1, "WebP frame truncated in the chunk header at byte %d", p)
			return false
		}
		id := string(data[p : p+4])
		n := uint64(binary.LittleEndian.Uint32(data[p+4:]))
		if n+n&1 > uint64(end-p-8) {
			st.corrupt(-1, "WebP frame chunk %q at byte %d runs past its frame", id, p)
			return false
		}
		body := data[p+8 : p+8+int(n)]
		var w, h int64
		switch id {
		case "ALPH":
		case "VP8 ":
			if len(body) < 10 || string(body[3:6]) != "\x9d\x01\x2a" {
				st.corrupt(-1, "WebP VP8 chunk at byte %d has no valid frame header", p)
				return false
			}
			w, h = int64(binary.LittleEndian.Uint16(body[6:])&0x3fff), int64(binary.LittleEndian.Uint16(body[8:])&0x3fff)
		case "VP8L":
			if len(body) < 5 || body[0] != 0x2f {
				st.corrupt(-1, "WebP VP8L chunk at byte %d has no valid header", p)
				return false
			}
			bits := binary.LittleEndian.Uint32(body[1:])
			w, h = int64(bits&0x3fff)+1, int64(bits>>14&0x3fff)+1
		default:
			st.addSpan(span{off: p + 8, end: p + 8 + int(n), cOff: p, cEnd: p + 8 + int(n+n&1), where: "WebP frame chunk", edit: -1})
		}
		if w != 0 && (w != fw || h != fh) {
			st.pixels = addPixels(st.pixels, mulPixels(w, h))
			st.corrupt(-1, "WebP frame at byte %d holds a %d×%d image in a %d×%d frame", p, w, h, fw, fh)
			return false
		}
		p += 8 + int(n+n&1)
	}
	return true
}

// webpImageSize records the size of a still image's bitstream, which must
// equal the VP8X canvas when there is one (libwebp refuses a mismatch; a
// decoder that trusts the bitstream would allocate its size, not the
// canvas's).
func webpImageSize(st *state, pos int, first bool, w, h int64) bool {
	if first {
		st.width, st.height = w, h
		return true
	}
	if w != st.width || h != st.height {
		st.pixels = max(mulPixels(st.width, st.height), mulPixels(w, h))
		st.corrupt(-1, "WebP image at byte %d is %d×%d on a %d×%d canvas", pos, w, h, st.width, st.height)
		return false
	}
	return true
}

func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }

// fixWebP rewrites the RIFF size and clears the VP8X EXIF and XMP flags of
// a sanitised copy (its EXIF and XMP chunks were removed).
func fixWebP(out []byte) {
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	if len(out) >= 21 && string(out[12:16]) == "VP8X" {
		out[20] &^= 0x08 | 0x04
	}
}
