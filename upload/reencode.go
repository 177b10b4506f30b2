package upload

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"slices"
)

// This file rebuilds PNG, JPEG and GIF uploads from their pixels
// (Config.Reencode). The decoders run only on files that passed the
// structure walk, so their allocations are bounded by MaxPixels and
// MaxFrames. What the lossless sanitiser keeps for display is carried
// over: the orientation, the ICC profile and the PNG rendering chunks.

func init() {
	// Set here: the format table is initialised before these functions'
	// package-level dependencies would allow in its literal.
	formats[fmtPNG].reencode = reencodePNG
	formats[fmtJPEG].reencode = reencodeJPEG
	formats[fmtGIF].reencode = reencodeGIF
}

// reencoded returns the upload decoded and encoded again, with its
// palette rebuilt when rebuild is set.
func (st *state) reencoded(rebuild bool) ([]byte, error) { return st.format.reencode(st, rebuild) }

// sortPalettes orders every palette of g by colour value and remaps the
// pixels, so that no run of palette entries keeps the order it was
// written in. Frames sharing the global palette keep sharing it.
func sortPalettes(g *gif.GIF) {
	type remap struct {
		pal color.Palette
		idx []uint8
	}
	sorted := func(p color.Palette) remap {
		order := make([]int, len(p))
		for i := range order {
			order[i] = i
		}
		key := func(c color.Color) uint64 {
			r, g, b, a := c.RGBA()
			return uint64(r)<<48 | uint64(g)<<32 | uint64(b)<<16 | uint64(a)
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(key(p[a]), key(p[b])) })
		m := remap{pal: make(color.Palette, len(p)), idx: make([]uint8, 256)}
		for to, from := range order {
			m.pal[to] = p[from]
			m.idx[from] = uint8(to)
		}
		return m
	}
	var global remap
	if gp, ok := g.Config.ColorModel.(color.Palette); ok && len(gp) > 0 {
		global = sorted(gp)
		g.Config.ColorModel = global.pal
		if int(g.BackgroundIndex) < len(gp) {
			g.BackgroundIndex = global.idx[g.BackgroundIndex]
		}
	}
	for _, f := range g.Image {
		m := sorted(f.Palette)
		if gp, ok := g.Config.ColorModel.(color.Palette); ok && len(global.pal) == len(f.Palette) && samePalette(m.pal, gp) {
			m.pal = gp // keep sharing the global table
		}
		for i, c := range f.Pix {
			f.Pix[i] = m.idx[c]
		}
		f.Palette = m.pal
	}
}

func samePalette(a, b color.Palette) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		r1, g1, b1, a1 := a[i].RGBA()
		r2, g2, b2, a2 := b[i].RGBA()
		if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
			return false
		}
	}
	return true
}

// A palette is copied from the decoded image into the encoded one byte
// for byte, which is why bypass guides put PHP in PLTE: the first
// re-encoding keeps a paletted image paletted, and when its copy does not
// re-validate clean, the second rebuilds the palette (PNG: truecolour;
// GIF: colours sorted, indices remapped).

func reencodePNG(st *state, rebuild bool) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(st.data))
	if err != nil {
		return nil, err
	}
	if p, ok := img.(*image.Paletted); ok && rebuild {
		n := image.NewNRGBA(p.Rect)
		draw.Draw(n, n.Rect, p, p.Rect.Min, draw.Src)
		img = n
	}
	var b bytes.Buffer
	b.Grow(len(st.data))
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	out := b.Bytes()
	carry := pngCarry(st)
	if len(carry) == 0 || len(out) < 33 {
		return out, nil
	}
	res := make([]byte, 0, len(out)+len(carry))
	res = append(res, out[:33]...) // signature and IHDR
	res = append(res, carry...)
	return append(res, out[33:]...), nil
}

// pngCarry returns the rendering chunks before the image data that the
// lossless sanitiser keeps (colour space and physical size, which do not
// depend on the bit depth Go's encoder picks) and the orientation eXIf
// chunk it writes.
func pngCarry(st *state) []byte {
	var out []byte
	d := st.data
	for pos := 8; pos+12 <= st.end; {
		n := int(binary.BigEndian.Uint32(d[pos:]))
		end := pos + 12 + n
		switch typ := string(d[pos+4 : pos+8]); typ {
		case "IDAT":
			pos = st.end
			continue
		case "iCCP", "sRGB", "gAMA", "cHRM", "cICP", "mDCv", "cLLI", "pHYs":
			if typ == "iCCP" || pngFixedSize(typ, n) {
				out = append(out, d[pos:end]...)
			}
		}
		pos = end
	}
	for _, e := range st.edits {
		if len(e.repl) > 8 && string(e.repl[4:8]) == "eXIf" {
			out = append(out, e.repl...)
		}
	}
	return out
}

func reencodeJPEG(st *state, _ bool) ([]byte, error) {
	img, err := jpeg.Decode(bytes.NewReader(st.data))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(st.data))
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: st.v.quality}); err != nil {
		return nil, err
	}
	out := b.Bytes()
	var carry []byte
	for _, e := range st.edits {
		if len(e.repl) > 10 && e.repl[1] == 0xe1 && string(e.repl[4:10]) == "Exif\x00\x00" {
			carry = append(carry, e.repl...)
		}
	}
	// The ICC profile describes the original's colour space; Go writes
	// CMYK pictures as YCbCr, for which a CMYK profile would be wrong.
	if _, cmyk := img.(*image.CMYK); !cmyk {
		carry = append(carry, jpegICC(st)...)
	}
	res := make([]byte, 0, len(out)+len(carry))
	res = append(res, out[:2]...) // SOI
	res = append(res, carry...)
	return append(res, out[2:]...), nil
}

// jpegICC returns the APP2 ICC_PROFILE segments before the first scan.
func jpegICC(st *state) []byte {
	var out []byte
	d := st.data
	for pos := 2; pos+4 <= st.end && d[pos] == 0xff; {
		m := d[pos+1]
		if m == 0xda || m == 0xd9 {
			break
		}
		if m == 0xff || m >= 0xd0 && m <= 0xd7 || m == 0x01 {
			pos++
			continue
		}
		end := pos + 2 + int(binary.BigEndian.Uint16(d[pos+2:]))
		if end > st.end {
			break
		}
		if m == 0xe2 && hasPrefix(d[pos+4:end], "ICC_PROFILE\x00") {
			out = append(out, d[pos:end]...)
		}
		pos = end
	}
	return out
}

func reencodeGIF(st *state, rebuild bool) ([]byte, error) {
	g, err := gif.DecodeAll(bytes.NewReader(st.data))
	if err != nil {
		return nil, err
	}
	if rebuild {
		sortPalettes(g)
	}
	var b bytes.Buffer
	b.Grow(len(st.data))
	if err := gif.EncodeAll(&b, g); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
