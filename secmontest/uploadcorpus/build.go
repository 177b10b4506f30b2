package uploadcorpus

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"sync"
)

// This file builds image files and their parts in memory.

// chartImage draws a small deterministic chart-like picture: a background
// gradient, grid lines and a zig-zag series.
func chartImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: uint8(240 - y*40/h), G: uint8(245 - x*30/w), B: 250, A: 255}
			if x%8 == 0 || y%8 == 0 {
				c = color.NRGBA{R: 200, G: 200, B: 210, A: 255}
			}
			if yy := h/2 + (x%16-8)*h/40; y == yy || y == yy+1 {
				c = color.NRGBA{R: 20, G: 120, B: 40, A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // encoding to memory cannot fail for these images
	}
	return b.Bytes()
}

func encodeJPEG(img image.Image, q int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// animatedGIF encodes two frames that loop forever (a NETSCAPE2.0
// extension).
func animatedGIF(w, h int) []byte {
	src := chartImage(w, h)
	g := &gif.GIF{LoopCount: 0}
	for i := range 2 {
		p := image.NewPaletted(src.Bounds(), palette.Plan9)
		for y := range h {
			for x := range w {
				p.Set(x, y, src.At((x+i*4)%w, y))
			}
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 20)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func stillGIF(w, h int) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, chartImage(w, h), nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// pngChunk returns a chunk with its length and CRC.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// forgeCRC returns four bytes x such that the CRC-32 (IEEE) of
// prefix‖x‖suffix is want, by running the CRC backwards from want over
// the suffix and then over the four unknown bytes.
func forgeCRC(prefix, suffix []byte, want uint32) []byte {
	var rev [256]uint32
	for i, t := range crc32.IEEETable {
		rev[t>>24] = t<<8 ^ uint32(i)
	}
	back := func(r uint32, c byte) uint32 { return r<<8 ^ rev[r>>24] ^ uint32(c) }
	r := ^want
	for i := len(suffix) - 1; i >= 0; i-- {
		r = back(r, suffix[i])
	}
	fwd := ^crc32.ChecksumIEEE(prefix)
	f := binary.LittleEndian.AppendUint32(nil, fwd)
	for i := 3; i >= 0; i-- {
		r = back(r, f[i])
	}
	return binary.LittleEndian.AppendUint32(nil, r)
}

// pngWith inserts chunks right after IHDR (signature 8 + IHDR 25 bytes).
func pngWith(p []byte, chunks ...[]byte) []byte {
	out := append([]byte(nil), p[:33]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[33:]...)
}

// jpegSegment returns a marker segment.
func jpegSegment(marker byte, body []byte) []byte {
	out := []byte{0xff, marker}
	out = binary.BigEndian.AppendUint16(out, uint16(len(body)+2))
	return append(out, body...)
}

// jpegWith inserts segments right after SOI.
func jpegWith(j []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), j[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, j[2:]...)
}

// gifWith inserts blocks right before the trailer.
func gifWith(g []byte, blocks ...[]byte) []byte {
	out := append([]byte(nil), g[:len(g)-1]...)
	for _, b := range blocks {
		out = append(out, b...)
	}
	return append(out, 0x3b)
}

// gifBeforeImage inserts blocks after the header and global colour table,
// where a looping extension and the first frame's graphic control go.
func gifBeforeImage(g []byte, blocks ...[]byte) []byte {
	pos := 13
	if f := g[10]; f&0x80 != 0 {
		pos += 3 << (f&7 + 1)
	}
	out := append([]byte(nil), g[:pos]...)
	for _, b := range blocks {
		out = append(out, b...)
	}
	return append(out, g[pos:]...)
}

// subBlocks appends data as GIF sub-blocks and the terminator.
func subBlocks(out, data []byte) []byte {
	for len(data) > 0 {
		n := min(len(data), 255)
		out = append(out, byte(n))
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return append(out, 0)
}

// gifExtension returns an extension block with data split into sub-blocks.
func gifExtension(label byte, data []byte) []byte {
	return subBlocks([]byte{0x21, label}, data)
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// tiffEntry is one IFD entry; val holds the little-endian encoded value.
type tiffEntry struct {
	tag, typ uint16
	count    uint32
	val      []byte
}

func asciiEntry(tag uint16, s string) tiffEntry {
	return tiffEntry{tag: tag, typ: 2, count: uint32(len(s) + 1), val: append([]byte(s), 0)}
}

func shortEntry(tag, v uint16) tiffEntry {
	return tiffEntry{tag: tag, typ: 3, count: 1, val: binary.LittleEndian.AppendUint16(nil, v)}
}

func undefinedEntry(tag uint16, b []byte) tiffEntry {
	return tiffEntry{tag: tag, typ: 7, count: uint32(len(b)), val: b}
}

// utf16Entry encodes s as the UCS-2 little-endian BYTE array Windows
// writes for XPComment and friends.
func utf16Entry(tag uint16, s string) tiffEntry {
	var b []byte
	for _, r := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	b = append(b, 0, 0)
	return tiffEntry{tag: tag, typ: 1, count: uint32(len(b)), val: b}
}

// tiffLE lays out a little-endian TIFF block with IFD0 and, when exif is
// not empty, an Exif sub-IFD.
func tiffLE(ifd0, exif []tiffEntry) []byte {
	if len(exif) > 0 {
		ifd0 = append(ifd0[:len(ifd0):len(ifd0)], tiffEntry{tag: 0x8769, typ: 4, count: 1})
	}
	size := func(n int) int { return 2 + 12*n + 4 }
	exifOff := 8 + size(len(ifd0))
	dataOff := exifOff
	if len(exif) > 0 {
		dataOff += size(len(exif))
	}
	var data []byte
	write := func(out []byte, es []tiffEntry) []byte {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(es)))
		for _, e := range es {
			out = binary.LittleEndian.AppendUint16(out, e.tag)
			out = binary.LittleEndian.AppendUint16(out, e.typ)
			out = binary.LittleEndian.AppendUint32(out, e.count)
			switch {
			case e.tag == 0x8769:
				out = binary.LittleEndian.AppendUint32(out, uint32(exifOff))
			case len(e.val) <= 4:
				v := [4]byte{}
				copy(v[:], e.val)
				out = append(out, v[:]...)
			default:
				out = binary.LittleEndian.AppendUint32(out, uint32(dataOff+len(data)))
				data = append(data, e.val...)
				if len(data)%2 == 1 {
					data = append(data, 0)
				}
			}
		}
		return binary.LittleEndian.AppendUint32(out, 0)
	}
	out := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	out = write(out, ifd0)
	if len(exif) > 0 {
		out = write(out, exif)
	}
	return append(out, data...)
}

// gpsTIFF is a little-endian TIFF block whose IFD0 points at a GPS IFD
// holding one ASCII value (GPSProcessingMethod).
func gpsTIFF(value string) []byte {
	v := append([]byte(value), 0)
	b := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	entry := func(tag, typ uint16, count, val uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, typ)
		b = binary.LittleEndian.AppendUint32(b, count)
		b = binary.LittleEndian.AppendUint32(b, val)
	}
	b = binary.LittleEndian.AppendUint16(b, 1)
	entry(0x8825, 4, 1, 26) // GPS IFD at 26
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint16(b, 1)
	entry(0x001b, 2, uint32(len(v)), 44)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, v...)
}

// xmpExtension returns an extended-XMP APP1 segment holding part at offset
// off of a packet of full bytes.
func xmpExtension(full, off uint32, part string) []byte {
	b := append([]byte("http://ns.adobe.com/xmp/extension/\x00"), "2B1F3C4D5E6F708192A3B4C5D6E7F809"...)
	b = binary.BigEndian.AppendUint32(b, full)
	b = binary.BigEndian.AppendUint32(b, off)
	return jpegSegment(0xe1, append(b, part...))
}

// exifAPP1 wraps a TIFF block in a JPEG APP1 EXIF segment.
func exifAPP1(tiff []byte) []byte {
	return jpegSegment(0xe1, append([]byte("Exif\x00\x00"), tiff...))
}

// countOverflowTIFF is 26 bytes: one LONG entry whose count (0x40000001)
// times its size (4) wraps to 4 in 32-bit arithmetic, so a parser that
// trusts the product reads 4 bytes and then allocates 2³⁰ values (8 GiB).
func countOverflowTIFF() []byte {
	b := []byte{'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0}
	b = binary.LittleEndian.AppendUint16(b, 0x0100) // ImageWidth
	b = binary.LittleEndian.AppendUint16(b, 4)      // LONG
	b = binary.LittleEndian.AppendUint32(b, 0x40000001)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return binary.LittleEndian.AppendUint32(b, 0) // no next IFD
}

// ifdLoopTIFF is 44 bytes: IFD0 at 8 names IFD1 at 26 as its successor and
// IFD1 names IFD0, so a parser that only rejects an IFD pointing at itself
// loops forever.
func ifdLoopTIFF() []byte {
	b := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	ifd := func(next uint32) {
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint16(b, 0x0100)
		b = binary.LittleEndian.AppendUint16(b, 3) // SHORT
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint32(b, next)
	}
	ifd(26)
	ifd(8)
	return b
}

// zipBytes returns a ZIP archive of the given files (a JAR when one is
// META-INF/MANIFEST.MF).
func zipBytes(files ...string) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for i := 0; i+1 < len(files); i += 2 {
		w, _ := z.Create(files[i])
		w.Write([]byte(files[i+1]))
	}
	z.Close()
	return b.Bytes()
}

// peBytes is a minimal PE image: an MS-DOS header whose e_lfanew points at
// a PE signature and COFF header.
func peBytes() []byte {
	b := make([]byte, 0x80)
	copy(b, "MZ")
	copy(b[0x4e:], "This program cannot be run in DOS mode.")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x44:], 0x8664) // x86-64
	return b
}

func elfBytes() []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(b[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], 0x3e) // x86-64
	return b
}

// webpLossless1x1 is a complete 1×1 lossless WebP (a VP8L bitstream of one
// transparent pixel).
var webpLossless1x1 = []byte{
	'R', 'I', 'F', 'F', 0x1a, 0, 0, 0, 'W', 'E', 'B', 'P',
	'V', 'P', '8', 'L', 0x0d, 0, 0, 0,
	0x2f, 0, 0, 0, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0x00,
}

// webpChunk returns a RIFF chunk, padded to an even size.
func webpChunk(id string, data []byte) []byte {
	out := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// webpFile wraps chunks in a RIFF WEBP header.
func webpFile(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

// vp8x returns a VP8X chunk with the given flags and canvas size.
func vp8x(flags byte, w, h uint32) []byte {
	b := []byte{flags, 0, 0, 0}
	b = append(b, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	b = append(b, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	return webpChunk("VP8X", b)
}

// anmf returns an ANMF frame chunk of w×h at (0,0) holding the chunks.
func anmf(w, h uint32, chunks ...[]byte) []byte {
	b := []byte{0, 0, 0, 0, 0, 0}
	b = append(b, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	b = append(b, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	b = append(b, 100, 0, 0, 0) // 100 ms, no blending flags
	for _, c := range chunks {
		b = append(b, c...)
	}
	return webpChunk("ANMF", b)
}

// webpExtended builds a VP8X WebP around the 1×1 VP8L bitstream with the
// given EXIF and XMP chunks (either may be nil).
func webpExtended(exif, xmp []byte) []byte {
	chunk := webpChunk
	flags := byte(0x10) // alpha
	if exif != nil {
		flags |= 0x08
	}
	if xmp != nil {
		flags |= 0x04
	}
	vp8x := []byte{flags, 0, 0, 0, 0, 0, 0, 0, 0, 0} // canvas 1×1
	body := append([]byte("WEBP"), chunk("VP8X", vp8x)...)
	body = append(body, chunk("VP8L", webpLossless1x1[20:33])...)
	if exif != nil {
		body = append(body, chunk("EXIF", exif)...)
	}
	if xmp != nil {
		body = append(body, chunk("XMP ", xmp)...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

var (
	bombOnce sync.Once
	bombZlib []byte
)

// zlibBomb is a zlib stream of 16 MiB of zeros (about 16 KiB compressed).
func zlibBomb() []byte {
	bombOnce.Do(func() { bombZlib = deflate(make([]byte, 16<<20)) })
	return bombZlib
}

// photo draws a w×h photo-like image: smooth colour fields plus per-pixel
// noise, which defeats compression the way sensor noise does.
func photo(w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := int(r.IntN(48)) - 24
			c := func(base int) uint8 { return uint8(max(0, min(255, base+n))) }
			i := img.PixOffset(x, y)
			img.Pix[i+0] = c(60 + 140*x/w)
			img.Pix[i+1] = c(90 + 100*y/h)
			img.Pix[i+2] = c(200 - 120*(x+y)/(w+h))
			img.Pix[i+3] = 255
		}
	}
	return img
}

// sized encodes photos of growing size and returns the largest encoding
// not above maxBytes found in a few tries (within 5% of it when it can).
func sized(maxBytes int, enc func(image.Image) []byte) []byte {
	side := 256
	best := enc(photo(side, side))
	perPixel := float64(len(best)) / float64(side*side)
	for range 6 {
		w := int(math.Sqrt(float64(maxBytes)*0.98/perPixel/0.75)) &^ 7
		h := w * 3 / 4
		c := enc(photo(w, h))
		if len(c) <= maxBytes && len(c) > len(best) {
			best = c
		}
		if len(best) >= maxBytes*95/100 {
			break
		}
		perPixel = float64(len(c)) / float64(w*h)
	}
	return best
}
