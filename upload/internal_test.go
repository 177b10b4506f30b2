package upload

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
)

func corpusCase(t testing.TB, name string) uploadcorpus.Case {
	t.Helper()
	for _, c := range append(uploadcorpus.Hostile(), uploadcorpus.Benign()...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return uploadcorpus.Case{}
}

// exifBlock returns the TIFF block of the first APP1 EXIF segment.
func exifBlock(t testing.TB, jpeg []byte) []byte {
	t.Helper()
	i := bytes.Index(jpeg, []byte("\xff\xe1"))
	if i < 0 || !bytes.HasPrefix(jpeg[i+4:], []byte("Exif\x00\x00")) {
		t.Fatal("no APP1 EXIF segment")
	}
	n := int(binary.BigEndian.Uint16(jpeg[i+2:]))
	return jpeg[i+10 : i+2+n]
}

// The two inputs that make goexif allocate gigabytes or loop forever are
// stopped by the pre-validator, and goexif is never called on them.
func TestGoexifKillersNeverReachGoexif(t *testing.T) {
	t.Parallel()
	v, err := NewValidator(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"goexif_count_overflow": 26, "goexif_ifd_loop": 44} {
		c := corpusCase(t, name)
		if b := exifBlock(t, c.Upload.Data); len(b) != size {
			t.Errorf("%s: TIFF block is %d bytes, want %d", name, len(b), size)
		} else if _, err := prevalidateEXIF(b); err == nil {
			t.Errorf("%s: pre-validator accepted it", name)
		}
		vd, err := v.Validate(context.Background(), c.Upload)
		if err != nil || vd.Allowed || len(vd.Threats) == 0 || vd.Threats[0].Code != secmon.ThreatCorrupt {
			t.Errorf("%s: %+v, %v", name, vd, err)
		}
	}
	if n := v.exifDecodes.Load(); n != 0 {
		t.Fatalf("goexif called %d times on the killers", n)
	}
	// The counter does count: a benign EXIF block reaches goexif once.
	if vd, _ := v.Validate(context.Background(), corpusCase(t, "jpeg_with_exif_xmp_icc").Upload); !vd.Allowed {
		t.Fatalf("benign EXIF blocked: %+v", vd.Threats)
	}
	if n := v.exifDecodes.Load(); n != 1 {
		t.Fatalf("goexif called %d times for one benign block, want 1", n)
	}
}

// tiff builds a little-endian TIFF block from raw IFD bytes placed at 8.
func tiff(ifds ...[]byte) []byte {
	b := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	for _, i := range ifds {
		b = append(b, i...)
	}
	return b
}

func ifd(next uint32, entries ...[12]byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(len(entries)))
	for _, e := range entries {
		b = append(b, e[:]...)
	}
	return binary.LittleEndian.AppendUint32(b, next)
}

func entry(tag, typ uint16, count, val uint32) (e [12]byte) {
	binary.LittleEndian.PutUint16(e[0:], tag)
	binary.LittleEndian.PutUint16(e[2:], typ)
	binary.LittleEndian.PutUint32(e[4:], count)
	binary.LittleEndian.PutUint32(e[8:], val)
	return e
}

func TestPrevalidateEXIF(t *testing.T) {
	t.Parallel()
	good := tiff(ifd(0, entry(tagOrientation, 3, 1, 6), entry(tagImageDesc, 2, 4, 'a'|'b'<<8|'c'<<16)))
	info, err := prevalidateEXIF(good)
	if err != nil || info.orientation != 6 || len(info.values) != 1 || info.values[0].tag != tagImageDesc {
		t.Fatalf("good block: %+v, %v", info, err)
	}
	chain := func(n int) []byte { // n IFDs, each pointing at the next
		var ifds [][]byte
		for i := range n {
			next := uint32(0)
			if i < n-1 {
				next = uint32(8 + 18*(i+1))
			}
			ifds = append(ifds, ifd(next, entry(0x0100, 3, 1, 1)))
		}
		return tiff(ifds...)
	}
	if _, err := prevalidateEXIF(chain(MaxEXIFIFDs)); err != nil {
		t.Errorf("%d IFDs rejected: %v", MaxEXIFIFDs, err)
	}
	big := append(bytes.Clone(good), make([]byte, MaxEXIFBytes)...)
	manyEntries := make([][12]byte, MaxEXIFEntries+1)
	for i := range manyEntries {
		manyEntries[i] = entry(0x0100, 3, 1, 1)
	}
	for name, b := range map[string][]byte{
		"too large":          big,
		"short":              good[:7],
		"byte order":         append([]byte("XX"), good[2:]...),
		"magic":              append([]byte("II\x2b\x00"), good[4:]...),
		"IFD outside":        append([]byte("II\x2a\x00\xff\x00\x00\x00"), good[8:]...),
		"IFD runs past":      good[:len(good)-2],
		"unknown type":       tiff(ifd(0, entry(0x0100, 13, 1, 0))),
		"zero count":         tiff(ifd(0, entry(0x0100, 3, 0, 0))),
		"count overflow":     tiff(ifd(0, entry(0x0100, 4, 0x40000001, 0))),
		"short overflow":     tiff(ifd(0, entry(0x0100, 3, 0x80000002, 0))),
		"value outside":      tiff(ifd(0, entry(0x010e, 2, 100, 10))),
		"self loop":          tiff(ifd(8, entry(0x0100, 3, 1, 1))),
		"two-IFD loop":       tiff(ifd(26, entry(0x0100, 3, 1, 1)), ifd(8, entry(0x0100, 3, 1, 1))),
		"sub-IFD loop":       tiff(ifd(0, entry(tagExifIFD, 4, 1, 8))),
		"sub-IFD wrong type": tiff(ifd(0, entry(tagExifIFD, 5, 1, 8))),
		"too many IFDs":      chain(MaxEXIFIFDs + 1),
		"too many entries":   tiff(ifd(0, manyEntries...)),
		"overlapping values": tiff(ifd(0, entry(0x010e, 2, 40, 8), entry(0x010f, 2, 40, 8), entry(0x0110, 2, 40, 8), entry(0x0131, 2, 40, 8))),
	} {
		if _, err := prevalidateEXIF(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestScanBytes(t *testing.T) {
	t.Parallel()
	wide := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteByte(s[i])
			b.WriteByte(0)
		}
		return b.String()
	}
	for _, s := range []string{
		"<script>", "<SCRIPT src=x>", "x<ScRiPt", "<?php", "<?= $x ?>", "<html>", "<iframe", "<svg/onload=1>",
		"javascript:alert(1)", "JAVASCRIPT:", "a onerror=alert(1)", "x onLoad =1", "\"onmouseover\t=\"",
		"eval(atob('x'))", "<% Response.Write %>", "<!DOCTYPE x [<!ENTITY", "data:text/html,<b>",
		wide("<script>"), "ab" + wide("<?php"), wide(" onerror=x"),
		"PK\x03\x04", "xx%PDF-1.7", "\x7fELF",
		"<? system($_GET[c]); ?>", "<?\nsystem(1);?>", "x=1;eval(y)", "window.eval(x)",
		"&lt;script&gt;", "&LT;ScRiPt", "&lt<iframe", "&#60;script", "&#060;svg onload=alert(1)", "&#x3C;script", "&#x003c;?php",
		wide("&lt;script"), `<a href="java&#115;cript:alert(1)">x</a>`, "<IMG SRC=x ONERROR=alert(1)>", "&lt;a href=&quot;javascript:alert(1)&quot;&gt;",
		"<a href=\"java\tscript:x\">", "<img src=x\nonerror=alert(1)>", "<meta http-equiv=refresh content=\"0;url=javascript:alert(1)\">",
		"<%eval request(\"c\")%>", "<?=`id`?>",
	} {
		if _, ok := scanBytes([]byte(s), true); !ok {
			t.Errorf("missed %q", s)
		}
	}
	for _, s := range []string{
		"", "Canon EOS 5D", "tiff:Orientation=\"6\"", "exif:FocalPlaneResolutionUnit=\"2\"", "xmpMM:OriginalDocumentID=\"x\"",
		"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF>", "<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>",
		"the onion ring", "button= x", "on=1", "once=2", "Shot on a tripod", "evaluation (draft)", "MZ not a PE header",
		"data retrieval(2024)", "medieval(1200)", "notjavascript:x", "&lt; 5", "&#60;3 you", "&#x3c; &amp; &gt;", "&lt;b&gt;bold&lt;/b&gt;", "<abbr>", "x<ab", "a<alpha",
		"<img src=\"photo.jpg\">", `<a href="https://example.com/">site</a>`, "&lt;a href=&quot;https://x&quot;&gt;", "<style>@import", "<? 1", "50<%", "<!DOCTYPE plist PUBLIC",
	} {
		if h, ok := scanBytes([]byte(s), true); ok {
			t.Errorf("false positive %q on %q", h.name, s)
		}
	}
	for _, s := range []string{"\x00\x13<%\x99", "\x01<? \x02", "\x01&lt;script"} {
		if _, ok := scanBytes([]byte(s), false); ok {
			t.Errorf("text-only pattern matched in binary data %q", s)
		}
	}
	pe := make([]byte, 0x100)
	copy(pe[0x10:], "MZ")
	binary.LittleEndian.PutUint32(pe[0x10+0x3c:], 0x80)
	copy(pe[0x90:], "PE\x00\x00")
	if h, ok := scanBytes(pe, false); !ok || h.off != 0x10 || h.kind != hitArchive {
		t.Errorf("PE not found: %+v %v", h, ok)
	}
}

// A pattern split across the stream scanner's windows is still found.
func TestStreamScannerWindows(t *testing.T) {
	t.Parallel()
	for split := 4080; split < 4110; split++ {
		data := bytes.Repeat([]byte{'a'}, 9000)
		copy(data[split:], "<script")
		var s streamScanner
		s.text = true
		var found bool
		for p := data; len(p) > 0; {
			n := min(len(p), 1000)
			if _, off, ok := s.write(p[:n]); ok {
				found = off == int64(split)
				break
			}
			p = p[n:]
		}
		if !found {
			if _, off, ok := s.flush(); !ok || off != int64(split) {
				t.Errorf("pattern at %d: missed", split)
			}
		}
	}
}

func TestNewValidatorConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"MaxBytes":     {MaxBytes: -1},
		"MaxPixels":    {MaxPixels: -1},
		"MaxTextChunk": {MaxTextChunk: -1},
		"SlowStage":    {SlowStage: -1},
		"type":         {AllowedTypes: []string{"image/bmp"}},
	} {
		if _, err := NewValidator(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	v, err := NewValidator(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if v.maxBytes != DefaultMaxBytes || v.maxPixels != DefaultMaxPixels || v.maxText != DefaultMaxTextChunk || !v.sanitize || v.decode ||
		!v.allowed[fmtPNG] || !v.allowed[fmtJPEG] || !v.allowed[fmtGIF] || !v.allowed[fmtWebP] || v.allowed[fmtSVG] {
		t.Errorf("defaults: %+v", v)
	}
	if _, err := NewTracker(TrackerConfig{Samples: -1}); err == nil {
		t.Error("negative Samples accepted")
	}
}

func TestValidateCancelled(t *testing.T) {
	t.Parallel()
	v, _ := NewValidator(Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	vd, err := v.Validate(ctx, corpusCase(t, "png").Upload)
	if err == nil || vd.Allowed || vd.Sanitized != nil {
		t.Fatalf("cancelled: %+v, %v", vd, err)
	}
}

// hostileAllocInputs are built to make a careless parser allocate from a
// declared length instead of the data.
func hostileAllocInputs(t testing.TB) map[string][]byte {
	png := corpusCase(t, "png").Upload.Data
	jpg := corpusCase(t, "jpeg").Upload.Data
	gif := corpusCase(t, "gif_animated").Upload.Data
	hugePNG := append(bytes.Clone(png[:33]), 0x7f, 0xff, 0xff, 0xff, 't', 'E', 'X', 't')
	hugeJPEG := append(bytes.Clone(jpg[:2]), 0xff, 0xfe, 0xff, 0xff, '<')
	hugeGIF := append(bytes.Clone(gif[:len(gif)-1]), 0x21, 0xfe, 0xff, 'x')
	hugeWebP := append([]byte("RIFF\xff\xff\xff\xffWEBPVP8L\xff\xff\xff\xff"), make([]byte, 64)...)
	manyChunks := bytes.Clone(png[:33])
	for range 2000 {
		manyChunks = binary.BigEndian.AppendUint32(manyChunks, 0)
		manyChunks = append(manyChunks, "tEXt"...)
		manyChunks = binary.BigEndian.AppendUint32(manyChunks, crc32.ChecksumIEEE([]byte("tEXt")))
	}
	manyChunks = append(manyChunks, png[33:]...)
	xmpPart := func(at uint32, part string) []byte {
		b := append([]byte("http://ns.adobe.com/xmp/extension/\x00"), bytes.Repeat([]byte("A"), 32)...)
		b = binary.BigEndian.AppendUint32(b, 0xffffffff)
		b = binary.BigEndian.AppendUint32(b, at)
		b = append(b, part...)
		return append([]byte{0xff, 0xe1, byte((len(b) + 2) >> 8), byte(len(b) + 2)}, b...)
	}
	xmpFar := append(bytes.Clone(jpg[:2]), xmpPart(0, "x")...)
	xmpFar = append(xmpFar, xmpPart(0xfffffff0, "y")...)
	xmpFar = append(xmpFar, jpg[2:]...)
	manyComments := bytes.Clone(gif[:len(gif)-1])
	for range 20000 {
		manyComments = append(manyComments, 0x21, 0xfe, 1, 'x', 0)
	}
	manyComments = append(manyComments, 0x3b)
	return map[string][]byte{
		"xmp_ext_far":    xmpFar,
		"gif_comments":   manyComments,
		"ztxt_bomb":      corpusCase(t, "png_ztxt_bomb").Upload.Data,
		"exif_overflow":  corpusCase(t, "goexif_count_overflow").Upload.Data,
		"exif_loop":      corpusCase(t, "goexif_ifd_loop").Upload.Data,
		"pixel_bomb":     corpusCase(t, "pixel_bomb_png").Upload.Data,
		"png_huge_chunk": hugePNG,
		"jpeg_huge_seg":  hugeJPEG,
		"gif_huge_block": hugeGIF,
		"webp_huge_riff": hugeWebP,
		"many_chunks":    manyChunks,
	}
}

// Validate allocates at most a small multiple of the input plus a fixed
// overhead, whatever the input declares. Not parallel: it reads the
// process-wide allocation counter.
func TestAllocationBound(t *testing.T) {
	v, _ := NewValidator(Config{})
	const runs = 10
	const fixed = 256 << 10
	for name, data := range hostileAllocInputs(t) {
		u := secmon.Upload{Name: "x", Data: data}
		v.Validate(context.Background(), u) // warm up
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if _, err := v.Validate(context.Background(), u); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		per := (after.TotalAlloc - before.TotalAlloc) / runs
		if limit := uint64(4*len(data) + fixed); per > limit {
			t.Errorf("%s: %d bytes allocated per validation of %d bytes, limit %d", name, per, len(data), limit)
		}
		t.Logf("%s: %d bytes in, %d bytes allocated", name, len(data), per)
	}
}

// Every byte of a PNG is covered by the signature check, the chunk walk or
// a CRC: flipping any one of them must block the file.
func TestPNGEveryByteChecked(t *testing.T) {
	t.Parallel()
	v, _ := NewValidator(Config{})
	orig := corpusCase(t, "png").Upload.Data
	for i := range orig {
		d := bytes.Clone(orig)
		d[i] ^= 0x20
		vd, err := v.Validate(context.Background(), secmon.Upload{Name: "x.png", Data: d})
		if err != nil || vd.Allowed {
			t.Fatalf("flipping byte %d of %d went unnoticed", i, len(orig))
		}
	}
}

// The inflate cap holds for the whole file, not each chunk: many chunks
// just under the cap cannot add up to unbounded work.
func TestInflateBudgetPerFile(t *testing.T) {
	t.Parallel()
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(make([]byte, 300<<10))
	w.Close()
	chunk := func() []byte {
		body := append([]byte("Comment\x00\x00"), z.Bytes()...)
		c := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		c = append(c, "zTXt"...)
		c = append(c, body...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	}
	png := corpusCase(t, "png").Upload.Data
	build := func(n int) []byte {
		out := bytes.Clone(png[:33])
		for range n {
			out = append(out, chunk()...)
		}
		return append(out, png[33:]...)
	}
	v, _ := NewValidator(Config{MaxTextChunk: 1 << 20})
	if vd, _ := v.Validate(context.Background(), secmon.Upload{Name: "x.png", Data: build(3)}); !vd.Allowed {
		t.Errorf("900 KiB of text in three chunks blocked: %+v", vd.Threats)
	}
	vd, _ := v.Validate(context.Background(), secmon.Upload{Name: "x.png", Data: build(4)})
	if vd.Allowed || vd.Threats[0].Code != secmon.ThreatCorrupt {
		t.Errorf("1.2 MiB of text in four chunks: %+v", vd.Threats)
	}
}

// A PNG whose eXIf says "rotate" keeps a minimal eXIf with only the
// orientation; everything else in the block goes.
func TestSanitizeKeepsPNGOrientation(t *testing.T) {
	t.Parallel()
	block := tiff(ifd(0, entry(tagOrientation, 3, 1, 8), entry(tagMake, 2, 4, 'A'|'c'<<8|'m'<<16)))
	png := corpusCase(t, "png").Upload.Data
	in := append(bytes.Clone(png[:33]), pngEXIFChunk(block)...)
	in = append(in, png[33:]...)
	v, _ := NewValidator(Config{})
	vd, err := v.Validate(context.Background(), secmon.Upload{Name: "x.png", Data: in})
	if err != nil || !vd.Allowed {
		t.Fatalf("%+v %v", vd.Threats, err)
	}
	want := pngEXIFChunk(minimalEXIF(8))
	if !bytes.Contains(vd.Sanitized, want) || bytes.Contains(vd.Sanitized, []byte("Acm")) || len(vd.Sanitized) != len(png)+len(want) {
		t.Errorf("sanitised PNG does not carry exactly the minimal orientation block")
	}
	if again, _ := v.Validate(context.Background(), secmon.Upload{Name: "x.png", Data: vd.Sanitized}); !again.Allowed {
		t.Errorf("sanitised copy blocked: %+v", again.Threats)
	}
}

// Threat warnings name the file and the codes, never the file's bytes.
func TestThreatLogNeverEchoesBytes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	v, _ := NewValidator(Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	v.Validate(context.Background(), corpusCase(t, "jpeg_exif_script").Upload)
	out := buf.String()
	if !strings.Contains(out, "upload: threat detected") || !strings.Contains(out, "script_in_metadata") || !strings.Contains(out, "photo.jpg") {
		t.Errorf("log: %q", out)
	}
	if strings.Contains(out, "document.cookie") || strings.Contains(out, "fetch(") {
		t.Errorf("log echoes the payload: %q", out)
	}
}

// panickyContext fails inside Validate, standing in for any internal
// failure.
type panickyContext struct{ context.Context }

func (panickyContext) Err() error { panic("boom") }

// An internal failure is an error and never an allowed verdict.
func TestInternalErrorDenies(t *testing.T) {
	t.Parallel()
	v, _ := NewValidator(Config{})
	vd, err := v.Validate(panickyContext{context.Background()}, corpusCase(t, "png").Upload)
	if err == nil || vd.Allowed || vd.Sanitized != nil {
		t.Fatalf("%+v, %v", vd, err)
	}
	if !strings.Contains(err.Error(), "internal error") {
		t.Errorf("error %q", err)
	}
}

func TestRiskyName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"chart.php.png", "x.PHP5.png", "a/b/shell.phtml.jpg", `C:\up\x.asp;.png`, "x.jsp .png",
		"x.php\x00.png", "chart\n.png", "x.html.gif", ".php.png",
	} {
		if riskyName(name) == "" {
			t.Errorf("%q passed", name)
		}
	}
	for _, name := range []string{
		"", "chart.png", "CHART.PNG", "php.png", "my.holiday.photo.jpeg", "IMG_0042.JPG", "report v1.2.png",
		"dir.php/chart.png", "x", ".png",
	} {
		if why := riskyName(name); why != "" {
			t.Errorf("%q: %s", name, why)
		}
	}
}

// tiffWithThumbnail builds a little-endian TIFF block: IFD0 with Make, then
// IFD1 naming thumb as its JPEG thumbnail, then slack bytes after it.
func tiffWithThumbnail(thumb, slack []byte) []byte {
	b := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	entry := func(tag, typ uint16, count, val uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, typ)
		b = binary.LittleEndian.AppendUint32(b, count)
		b = binary.LittleEndian.AppendUint32(b, val)
	}
	const ifd1 = 8 + 2 + 12 + 4
	const data = ifd1 + 2 + 2*12 + 4
	b = binary.LittleEndian.AppendUint16(b, 1)
	entry(0x010f, 2, 4, 'A'|'c'<<8|'m'<<16) // Make "Acm" inline
	b = binary.LittleEndian.AppendUint32(b, ifd1)
	b = binary.LittleEndian.AppendUint16(b, 2)
	entry(tagThumbnailOffset, exifTypeLong, 1, data)
	entry(tagThumbnailLength, exifTypeLong, 1, uint32(len(thumb)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, thumb...)
	return append(b, slack...)
}

// Thumbnails and maker notes are image data: a short pattern there is
// chance (compressed pixels), a long one is a payload. Bytes no tag points
// at get every binary pattern.
func TestEXIFImageRegions(t *testing.T) {
	t.Parallel()
	v, _ := NewValidator(Config{})
	jpg := corpusCase(t, "jpeg").Upload.Data
	withEXIF := func(tiff []byte) secmon.Upload {
		seg := append([]byte{0xff, 0xe1, 0, 0}, "Exif\x00\x00"...)
		seg = append(seg, tiff...)
		binary.BigEndian.PutUint16(seg[2:], uint16(len(seg)-2))
		out := append(bytes.Clone(jpg[:2]), seg...)
		return secmon.Upload{Name: "x.jpg", Data: append(out, jpg[2:]...)}
	}
	chance := append(bytes.Repeat([]byte{0x9a, 0x11}, 100), "\xff\xd9<?=\x01<img\x02 onload=\x03"...)
	for name, tc := range map[string]struct {
		thumb, slack []byte
		allowed      bool
	}{
		"chance_in_thumbnail": {thumb: chance, allowed: true},
		"php_in_thumbnail":    {thumb: append(bytes.Clone(chance), "<?php system(1);"...)},
		"script_in_thumbnail": {thumb: []byte("\xff\xd8<script>alert(1)</script>")},
		"short_tag_in_slack":  {thumb: chance, slack: []byte("<?=`id`?>")},
		"zip_in_thumbnail":    {thumb: append([]byte("\xff\xd8"), "PK\x03\x04rest"...)},
	} {
		vd, err := v.Validate(context.Background(), withEXIF(tiffWithThumbnail(tc.thumb, tc.slack)))
		if err != nil || vd.Allowed != tc.allowed {
			t.Errorf("%s: allowed=%v %+v %v, want allowed=%v", name, vd.Allowed, vd.Threats, err, tc.allowed)
		}
	}
	for _, s := range []string{"<?= 1", "<img", "x onload=1", "<svg"} {
		if h, ok := scanIn([]byte(s), modeImage); ok {
			t.Errorf("image mode matched %q in %q", h.name, s)
		}
	}
	for _, s := range []string{"<?php", "<script", "PK\x03\x04", "javascript:"} {
		if _, ok := scanIn([]byte(s), modeImage); !ok {
			t.Errorf("image mode missed %q", s)
		}
	}
}

// A Photoshop APP13 thumbnail is image data; its other resources are not.
func TestPhotoshopIRB(t *testing.T) {
	t.Parallel()
	v, _ := NewValidator(Config{})
	jpg := corpusCase(t, "jpeg").Upload.Data
	resource := func(id uint16, data []byte) []byte {
		b := append([]byte("8BIM"), byte(id>>8), byte(id), 0, 0) // empty name, padded
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		b = append(b, data...)
		if len(data)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	withAPP13 := func(resources ...[]byte) secmon.Upload {
		body := []byte("Photoshop 3.0\x00")
		for _, r := range resources {
			body = append(body, r...)
		}
		seg := append([]byte{0xff, 0xed, byte((len(body) + 2) >> 8), byte(len(body) + 2)}, body...)
		out := append(bytes.Clone(jpg[:2]), seg...)
		return secmon.Upload{Name: "x.jpg", Data: append(out, jpg[2:]...)}
	}
	thumb := append(make([]byte, 28), "\xff\xd8\x13<?=\x01<img\x02 onclick=\x03\xff\xd9"...)
	caption := []byte("\x1c\x02\x78\x00\x0bQ3 revenue.")
	for name, tc := range map[string]struct {
		u       secmon.Upload
		allowed bool
	}{
		"plain":              {withAPP13(resource(0x0404, caption), resource(0x040c, thumb)), true},
		"php_in_caption":     {withAPP13(resource(0x0404, []byte("\x1c\x02\x78\x00\x10<?=`id`?> x")), resource(0x040c, thumb)), false},
		"script_in_thumb":    {withAPP13(resource(0x040c, append(bytes.Clone(thumb), "<script>"...))), false},
		"short_tag_in_thumb": {withAPP13(resource(0x0404, caption), resource(0x0409, []byte("<?=1"))), true},
		"malformed":          {withAPP13(resource(0x040c, thumb), []byte("8BIMxx")), false},
	} {
		vd, err := v.Validate(context.Background(), tc.u)
		if err != nil || vd.Allowed != tc.allowed {
			t.Errorf("%s: allowed=%v %+v %v, want allowed=%v", name, vd.Allowed, vd.Threats, err, tc.allowed)
		}
	}
}
