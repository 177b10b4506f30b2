package upload

import (
	"encoding/binary"
	"fmt"
)

// walkGIF walks the header, colour tables, extensions and image blocks to
// the trailer, counting frames and their areas.
func walkGIF(st *state) {
	data := st.data
	if len(data) < 13 {
		st.corrupt(-1, "GIF truncated in the header")
		return
	}
	w, h := int64(binary.LittleEndian.Uint16(data[6:])), int64(binary.LittleEndian.Uint16(data[8:]))
	st.width, st.height = w, h
	pos := 13
	global := data[10]&0x80 != 0
	if f := data[10]; global {
		pos += 3 << (f&7 + 1)
	}
	frameArea := int64(0)
	for {
		if pos >= len(data) {
			st.corrupt(-1, "GIF truncated: no trailer")
			break
		}
		switch data[pos] {
		case 0x3b:
			st.end = pos + 1
			if st.frames == 0 {
				st.corrupt(-1, "GIF has no image")
			}
			st.pixels = addPixels(mulPixels(w, h), frameArea)
			return
		case 0x2c:
			if len(data)-pos < 10 {
				st.corrupt(-1, "GIF truncated in the image descriptor at byte %d", pos)
				return
			}
			left, top := int64(binary.LittleEndian.Uint16(data[pos+1:])), int64(binary.LittleEndian.Uint16(data[pos+3:]))
			fw, fh := int64(binary.LittleEndian.Uint16(data[pos+5:])), int64(binary.LittleEndian.Uint16(data[pos+7:]))
			if left+fw > w || top+fh > h {
				st.corrupt(-1, "GIF frame at byte %d lies outside the %d×%d screen", pos, w, h)
			}
			flags := data[pos+9]
			if !global && flags&0x80 == 0 && st.unsupported == "" {
				st.unsupported = fmt.Sprintf("the GIF image at byte %d has no colour table and the file no global one; the specification leaves the palette to the decoder, and Go's has none", pos)
			}
			pos += 10
			if flags&0x80 != 0 {
				pos += 3 << (flags&7 + 1)
			}
			if pos >= len(data) {
				st.corrupt(-1, "GIF truncated in an image")
				return
			}
			if lzw := data[pos]; lzw < 2 || lzw > 8 {
				st.corrupt(-1, "GIF image at byte %d has LZW code size %d", pos, lzw)
				return
			}
			pos = skipSubBlocks(data, pos+1)
			if pos < 0 {
				st.corrupt(-1, "GIF truncated in image data")
				return
			}
			st.frames++
			frameArea = addPixels(frameArea, fw*fh)
		case 0x21:
			if len(data)-pos < 2 {
				st.corrupt(-1, "GIF truncated in an extension")
				return
			}
			if pos = gifExtension(st, pos); pos < 0 {
				st.corrupt(-1, "GIF truncated in an extension")
				return
			}
		default:
			st.corrupt(-1, "GIF: unknown block 0x%02x at byte %d", data[pos], pos)
			return
		}
	}
	st.pixels = addPixels(mulPixels(w, h), frameArea)
}

// gifExtension handles the extension at pos and returns the offset after
// it, or -1 when truncated.
func gifExtension(st *state, pos int) int {
	data := st.data
	start, label := pos, data[pos+1]
	switch label {
	case 0xf9: // graphic control: timing and transparency
		// Exactly one 4-byte sub-block and the terminator, as decoders
		// require: further sub-blocks would be kept unscanned.
		if len(data)-pos < 8 {
			return -1
		}
		if data[pos+2] != 4 || data[pos+7] != 0 {
			st.corrupt(-1, "GIF graphic control extension at byte %d is not one 4-byte block", pos)
		}
		return skipSubBlocks(data, pos+2)
	case 0xff: // application
		p := pos + 2
		if p < len(data) && data[p] == 11 && len(data)-p >= 12 {
			id := string(data[p+1 : p+12])
			if (id == "NETSCAPE2.0" || id == "ANIMEXTS1.0") && loopingBlocks(data, p+12) {
				return p + 12 + int(data[p+12]) + 2 // looping: kept
			}
			joined, end := joinSubBlocks(data, p+12)
			if end < 0 {
				return -1
			}
			switch id {
			case "ICCRGBG1012": // colour profile: kept, scanned as binary
				st.addSpan(span{off: start, end: end, where: "GIF ICC profile extension", edit: -1, joined: joined})
				return end
			case "XMP DataXMP":
				st.addSpan(span{off: start, end: end, where: "GIF XMP extension", text: true, edit: st.drop(start, end), joined: joined})
				return end
			}
			st.addSpan(span{off: start, end: end, where: "GIF application extension", edit: st.drop(start, end), joined: joined})
			return end
		}
		joined, end := joinSubBlocks(data, p)
		if end < 0 {
			return -1
		}
		st.addSpan(span{off: start, end: end, where: "GIF application extension", edit: st.drop(start, end), joined: joined})
		return end
	case 0xfe, 0x01: // comment, plain text
		joined, end := joinSubBlocks(data, pos+2)
		if end < 0 {
			return -1
		}
		where := "GIF comment extension"
		if label == 0x01 {
			where = "GIF plain-text extension"
		}
		st.addSpan(span{off: start, end: end, where: where, text: true, edit: st.drop(start, end), joined: joined})
		return end
	}
	joined, end := joinSubBlocks(data, pos+2)
	if end < 0 {
		return -1
	}
	st.addSpan(span{off: start, end: end, where: "GIF extension", edit: st.drop(start, end), joined: joined})
	return end
}

// loopingBlocks reports whether the sub-blocks at p are exactly what a
// NETSCAPE2.0 extension holds: one loop-count (3 bytes, id 1) or buffering
// (5 bytes, id 2) sub-block and the terminator. Anything else is treated
// as an unknown application extension, scanned and dropped.
func loopingBlocks(data []byte, p int) bool {
	if p >= len(data) {
		return false
	}
	n := int(data[p])
	if !(n == 3 && p+1 < len(data) && data[p+1] == 1) && !(n == 5 && p+1 < len(data) && data[p+1] == 2) {
		return false
	}
	return p+n+1 < len(data) && data[p+n+1] == 0
}

// skipSubBlocks returns the offset after the sub-block chain at p, or -1.
func skipSubBlocks(data []byte, p int) int {
	for p < len(data) {
		n := int(data[p])
		p++
		if n == 0 {
			return p
		}
		p += n
	}
	return -1
}

// joinSubBlocks concatenates the sub-block chain at p so that a pattern
// split across sub-blocks is still seen. The copy is at most the chain's
// size.
func joinSubBlocks(data []byte, p int) ([]byte, int) {
	end := skipSubBlocks(data, p)
	if end < 0 {
		return nil, -1
	}
	out := make([]byte, 0, end-p)
	for p < end {
		n := int(data[p])
		p++
		out = append(out, data[p:min(p+n, len(data))]...)
		p += n
	}
	return out, end
}
