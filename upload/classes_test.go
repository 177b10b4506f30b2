package upload_test

// Tests for the classes of real-world files that a validator must accept
// (editor print settings, cameras' malformed EXIF, stray trailer bytes,
// encodings Go cannot decode) and the public upload-bypass techniques it
// must catch (payloads in pixel data, frame bombs, metadata exfiltration,
// misplaced critical chunks, script in broken EXIF).

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/upload"
)

func repairable(t testing.TB, name string) uploadcorpus.Case {
	t.Helper()
	return corpusCase(t, "repairable", uploadcorpus.Repairable(), name)
}

// Print settings (an XML property list with a DOCTYPE) in APP13 and XMP,
// and a phone's MPF, maker note, Ducky and Adobe segments, are not script.
func TestEditorAndCameraMetadataAccepted(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for _, name := range []string{"jpeg_photoshop_print_settings", "jpeg_phone_mpf_makernote"} {
		vd := validate(t, v, benign(t, name).Upload)
		if !vd.Allowed || len(vd.Threats) != 0 {
			t.Errorf("%s: %+v", name, vd.Threats)
		}
	}
	// A real Photoshop JPEG with its print settings (Adobe's XMP SDK
	// sample), also when decoded and re-encoded.
	blue, err := os.ReadFile(filepath.Join("testdata", "BlueSquare.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(blue, []byte("<!DOCTYPE plist")) {
		t.Fatal("BlueSquare.jpg lost its print settings")
	}
	for _, cfg := range []upload.Config{{}, {Decode: true}, {Reencode: true}} {
		if vd := validate(t, setup(t, cfg), secmon.Upload{Name: "BlueSquare.jpg", Data: blue}); !vd.Allowed || len(vd.Threats) != 0 {
			t.Errorf("BlueSquare.jpg (%+v): %+v", cfg, vd.Threats)
		}
	}
	// A DOCTYPE that declares HTML still counts, plain and entity-encoded.
	jpg := benign(t, "jpeg").Upload.Data
	for _, body := range []string{"<!DOCTYPE html><p>hi</p>", "&lt;!doctype   HTML&gt;"} {
		seg := append([]byte{0xff, 0xfe, 0, 0}, body...)
		binary.BigEndian.PutUint16(seg[2:], uint16(len(body)+2))
		data := append(append(bytes.Clone(jpg[:2]), seg...), jpg[2:]...)
		checkBlocked(t, validate(t, v, secmon.Upload{Name: "x.jpg", Data: data}), secmon.ThreatScriptInMetadata)
	}
}

// Malformed EXIF and inert trailer bytes are accepted with a low threat
// and repaired in Sanitized; without sanitising they block.
func TestRepairableFilesAccepted(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	strict := setup(t, upload.Config{DisableSanitize: true})
	for _, c := range uploadcorpus.Repairable() {
		t.Run(c.Name, func(t *testing.T) {
			vd := validate(t, v, c.Upload)
			if !vd.Allowed {
				t.Fatalf("blocked: %+v", vd.Threats)
			}
			if !slices.Equal(threatCodes(vd), c.WantCodes) {
				t.Errorf("threats %v, want %v", threatCodes(vd), c.WantCodes)
			}
			for _, th := range vd.Threats {
				if th.Severity != secmon.SeverityLow || th.Detail == "" {
					t.Errorf("%+v: want a low threat with a detail", th)
				}
			}
			if vd.Sanitized == nil {
				t.Fatal("accepted without a repaired copy")
			}
			again := validate(t, v, secmon.Upload{Name: c.Upload.Name, Data: vd.Sanitized})
			if !again.Allowed || len(again.Threats) != 0 {
				t.Errorf("repaired copy: %+v", again.Threats)
			}
			samePixels(t, c.Upload.Data, vd.Sanitized)
			if vd := validate(t, strict, c.Upload); vd.Allowed {
				t.Error("allowed without sanitising: nothing repairs the original")
			}
		})
	}
	// The orientation read before the fault is kept.
	s := validate(t, v, repairable(t, "jpeg_exif_bad_subdirectory").Upload).Sanitized
	if !bytes.Contains(s, []byte("\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06")) || bytes.Contains(s, []byte("NIKON")) {
		t.Error("orientation lost or malformed EXIF kept")
	}
}

// Bytes after the end that carry a signature or markup, or that are too
// many to be padding, stay trailing_data.
func TestTrailingDataStillBlocked(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	jpg := benign(t, "jpeg").Upload.Data
	noise := make([]byte, 600)
	for i := range noise {
		noise[i] = byte(i*7 + i/3)
	}
	for name, tail := range map[string][]byte{
		"zip":      []byte("PK\x03\x04\x14\x00"),
		"markup":   []byte("<b>x"),
		"jpeg":     []byte("\xff\xd8\xff\xe0"),
		"mp4":      []byte("\x00\x00\x00\x18ftypmp42"),
		"too_many": noise,
	} {
		vd := validate(t, v, secmon.Upload{Name: "x.jpg", Data: append(bytes.Clone(jpg), tail...)})
		checkBlocked(t, vd, secmon.ThreatTrailingData)
		if slices.Contains(threatCodes(vd), secmon.ThreatTrailingPadding) {
			t.Errorf("%s: also called padding", name)
		}
	}
}

// jpegWithout drops every segment with marker m.
func jpegWithout(j []byte, m byte) []byte {
	out := bytes.Clone(j[:2])
	pos := 2
	for pos+4 <= len(j) && j[pos] == 0xff && j[pos+1] != 0xda {
		n := int(binary.BigEndian.Uint16(j[pos+2:]))
		if j[pos+1] != m {
			out = append(out, j[pos:pos+2+n]...)
		}
		pos += 2 + n
	}
	return append(out, j[pos:]...)
}

// With Decode, files the specification allows but Go's decoders cannot
// read are unsupported_encoding, not corrupt; without Decode they pass.
func TestDecodeUnsupportedEncodings(t *testing.T) {
	t.Parallel()
	jpg := benign(t, "jpeg").Upload.Data
	sof := bytes.Index(jpg, []byte{0xff, 0xc0})
	twelve := bytes.Clone(jpg)
	twelve[sof+1], twelve[sof+4] = 0xc1, 12 // extended sequential, 12-bit
	arith := bytes.Clone(jpg)
	arith[sof+1] = 0xc9 // arithmetic coding
	noDHT := jpegWithout(jpg, 0xc4)
	g := benign(t, "gif_with_comment").Upload.Data
	noPalette := append(bytes.Clone(g[:13]), g[13+3<<(g[10]&7+1):]...)
	noPalette[10] &^= 0x80
	cases := map[string]secmon.Upload{
		"jpeg_12bit":          {Name: "x.jpg", Data: twelve},
		"jpeg_arithmetic":     {Name: "x.jpg", Data: arith},
		"jpeg_default_tables": {Name: "x.jpg", Data: noDHT},
		"gif_no_palette":      {Name: "x.gif", Data: noPalette},
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "arithmetic.jpg")); err == nil {
		cases["cjpeg_arithmetic"] = secmon.Upload{Name: "arithmetic.jpg", Data: b}
	} else {
		t.Error(err)
	}
	dec := setup(t, upload.Config{Decode: true})
	plain := setup(t, upload.Config{})
	for name, u := range cases {
		vd := validate(t, dec, u)
		checkBlocked(t, vd, secmon.ThreatUnsupportedEncoding)
		if slices.Contains(threatCodes(vd), secmon.ThreatCorrupt) {
			t.Errorf("%s: reported corrupt: %+v", name, vd.Threats)
		}
		if vd := validate(t, plain, u); !vd.Allowed {
			t.Errorf("%s without Decode: %+v", name, vd.Threats)
		}
	}
	// Data Go refuses because it is broken stays corrupt.
	broken := bytes.Clone(jpg)
	i := bytes.Index(broken, []byte{0xff, 0xc4})
	broken[i+4] = 0x55 // a DHT table class and id that do not exist
	checkBlocked(t, validate(t, dec, secmon.Upload{Name: "x.jpg", Data: broken}), secmon.ThreatCorrupt)
}

// Script stored literally in pixel data is found; Reencode rebuilds the
// pixels into a clean copy.
func TestPayloadsInPixelData(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	re := setup(t, upload.Config{Reencode: true})
	for _, name := range []string{"png_idat_php_resize_bypass", "png_idat_php_open_tag", "png_idat_asp", "png_idat_svg_onload",
		"png_plte_php", "jpeg_scan_php", "jpeg_scan_jsp", "jpeg_scan_script", "gif_lzw_php", "gif_palette_php"} {
		t.Run(name, func(t *testing.T) {
			c := hostile(t, name)
			vd := validate(t, v, c.Upload)
			checkBlocked(t, vd, secmon.ThreatScriptInImageData)
			if vd.Sanitized != nil {
				t.Error("a lossless copy keeps pixel data: it cannot be offered")
			}
			vr := validate(t, re, c.Upload)
			checkBlocked(t, vr, secmon.ThreatScriptInImageData)
			if name == "gif_lzw_php" {
				// The payload breaks the LZW stream: nothing to rebuild.
				checkBlocked(t, vr, secmon.ThreatCorrupt)
				if vr.Sanitized != nil {
					t.Error("a copy of an undecodable file")
				}
				return
			}
			if vr.Sanitized == nil {
				t.Fatalf("no re-encoded copy: %+v", vr.Threats)
			}
			if bytes.Contains(vr.Sanitized, []byte("$_GET")) || bytes.Contains(vr.Sanitized, []byte("system(")) {
				t.Error("re-encoded copy still holds the payload")
			}
			again := validate(t, v, secmon.Upload{Name: c.Upload.Name, Data: vr.Sanitized})
			if !again.Allowed {
				t.Errorf("re-encoded copy: %+v", again.Threats)
			}
		})
	}
	checkBlocked(t, validate(t, v, hostile(t, "png_idat_zip").Upload), secmon.ThreatEmbeddedArchive)
}

// Ordinary images, large and small, have no executable signature in their
// pixel data.
func TestPixelScanNoFalsePositives(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for _, u := range []secmon.Upload{
		{Name: "p.png", Data: uploadcorpus.PhotoPNG(2_000_000)},
		{Name: "p.jpg", Data: uploadcorpus.PhotoJPEG(2_000_000)},
	} {
		if vd := validate(t, v, u); !vd.Allowed {
			t.Errorf("%s: %+v", u.Name, vd.Threats)
		}
	}
}

// Animations are capped by frames as well as pixels.
func TestFrameBombs(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for _, name := range []string{"gif_frame_bomb", "apng_frame_bomb", "webp_frame_bomb"} {
		vd := validate(t, v, hostile(t, name).Upload)
		checkBlocked(t, vd, secmon.ThreatPixelBomb)
		if !strings.Contains(vd.Threats[0].Detail, "frames") {
			t.Errorf("%s: detail %q", name, vd.Threats[0].Detail)
		}
	}
	spinner := benign(t, "gif_1000_frames").Upload
	if vd := validate(t, v, spinner); !vd.Allowed {
		t.Errorf("1,000 frames at the default cap: %+v", vd.Threats)
	}
	checkBlocked(t, validate(t, setup(t, upload.Config{MaxFrames: 999}), spinner), secmon.ThreatPixelBomb)
	if _, err := upload.NewValidator(upload.Config{MaxFrames: -1}); err == nil {
		t.Error("negative MaxFrames accepted")
	}
}

// PNG text chunks that name a local file or use ImageMagick's "profile"
// keyword are metadata_exfiltration and stripped.
func TestMetadataExfiltration(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for _, name := range []string{"png_text_profile_cve_2022_44268", "png_ztxt_profile", "png_itxt_local_file"} {
		vd := validate(t, v, hostile(t, name).Upload)
		checkBlocked(t, vd, secmon.ThreatMetadataExfiltration)
		if vd.Sanitized == nil || bytes.Contains(vd.Sanitized, []byte("profile")) || bytes.Contains(vd.Sanitized, []byte("file:")) {
			t.Errorf("%s: chunk not stripped", name)
		}
		if strings.Contains(vd.Threats[0].Detail, "/etc") || strings.Contains(vd.Threats[0].Detail, "/proc") {
			t.Errorf("%s: detail echoes the path: %q", name, vd.Threats[0].Detail)
		}
	}
	small := benign(t, "png").Upload.Data
	for _, text := range []string{"Software\x00GIMP 2.10", "Comment\x00Scanned from /dev/null jokes, 1/2 page", "Raw profile type exif\x00\nexif\n 4\n45786966\n", "Title\x00Profile picture"} {
		chunk := pngChunkBytes("tEXt", []byte(text))
		data := append(append(bytes.Clone(small[:33]), chunk...), small[33:]...)
		if vd := validate(t, v, secmon.Upload{Name: "x.png", Data: data}); !vd.Allowed {
			t.Errorf("%q: %+v", text, vd.Threats)
		}
	}
}

func pngChunkBytes(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// Script in an EXIF block that fails pre-validation is still found.
func TestBrokenEXIFStillScanned(t *testing.T) {
	t.Parallel()
	vd := validate(t, setup(t, upload.Config{}), hostile(t, "jpeg_broken_exif_php").Upload)
	checkBlocked(t, vd, secmon.ThreatScriptInMetadata)
	for _, th := range vd.Threats {
		if th.Code == secmon.ThreatScriptInMetadata && th.Severity != secmon.SeverityHigh {
			t.Errorf("severity %v", th.Severity)
		}
	}
	checkBlocked(t, validate(t, setup(t, upload.Config{}), hostile(t, "jpeg_exif_preg_replace_backdoor").Upload), secmon.ThreatScriptInMetadata)
}

// Duplicate and misplaced critical chunks are corrupt, naming the chunk.
func TestPNGCriticalChunkOrder(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for name, want := range map[string]string{"png_second_plte": "PLTE", "png_second_ihdr": "IHDR", "png_chunk_before_ihdr": "tEXt"} {
		vd := validate(t, v, hostile(t, name).Upload)
		checkBlocked(t, vd, secmon.ThreatCorrupt)
		if !strings.Contains(vd.Threats[0].Detail, want) {
			t.Errorf("%s: detail %q does not name %s", name, vd.Threats[0].Detail, want)
		}
	}
}

// Reencode rebuilds PNG, JPEG and GIF from their pixels, keeping the
// orientation and colour profile; WebP keeps its lossless copy.
func TestReencode(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{Reencode: true})
	for _, name := range []string{"png", "png_with_text", "png_palette", "gif_animated", "gif_with_comment"} {
		c := benign(t, name)
		vd := validate(t, v, c.Upload)
		if !vd.Allowed || vd.Sanitized == nil {
			t.Fatalf("%s: %+v", name, vd.Threats)
		}
		samePixels(t, c.Upload.Data, vd.Sanitized)
		if !slices.ContainsFunc(vd.Timings, func(s secmon.StageTiming) bool { return s.Stage == upload.StageReencode }) {
			t.Errorf("%s: not re-encoded: %+v", name, vd.Timings)
		}
	}
	ga := validate(t, v, benign(t, "gif_animated").Upload).Sanitized
	if g, err := gif.DecodeAll(bytes.NewReader(ga)); err != nil || len(g.Image) != 2 {
		t.Errorf("animation lost: %v", err)
	}
	c := benign(t, "jpeg_with_exif_xmp_icc")
	vd := validate(t, v, c.Upload)
	if !vd.Allowed || vd.Sanitized == nil {
		t.Fatalf("%+v", vd.Threats)
	}
	s := vd.Sanitized
	if !bytes.Contains(s, []byte("ICC_PROFILE\x00")) || !bytes.Contains(s, []byte("\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06")) || bytes.Contains(s, []byte("Canon")) {
		t.Error("re-encoded JPEG lost its profile or orientation, or kept metadata")
	}
	a, _ := jpeg.Decode(bytes.NewReader(c.Upload.Data))
	b, err := jpeg.Decode(bytes.NewReader(s))
	if err != nil || a.Bounds() != b.Bounds() {
		t.Fatalf("re-encoded JPEG: %v", err)
	}
	if d := meanAbsDiff(a, b); d > 6 {
		t.Errorf("re-encoded JPEG differs by %.1f per channel on average", d)
	}
	w := benign(t, "webp_with_metadata").Upload
	if vd := validate(t, v, w); !vd.Allowed || vd.Sanitized == nil || bytes.Contains(vd.Sanitized, []byte("XMP ")) {
		t.Errorf("WebP: %+v", vd.Threats)
	}
	if _, err := upload.NewValidator(upload.Config{Reencode: true, ReencodeQuality: 101}); err == nil {
		t.Error("quality 101 accepted")
	}
	if _, err := upload.NewValidator(upload.Config{Reencode: true, DisableSanitize: true}); err == nil {
		t.Error("Reencode without sanitising accepted: it would re-encode nothing")
	}
}

func meanAbsDiff(a, b image.Image) float64 {
	var sum, n float64
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca, cb := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA), color.NRGBAModel.Convert(b.At(x, y)).(color.NRGBA)
			for _, d := range []int{int(ca.R) - int(cb.R), int(ca.G) - int(cb.G), int(ca.B) - int(cb.B)} {
				sum += float64(max(d, -d))
				n++
			}
		}
	}
	return sum / n
}

// goexifSamples returns the directory of github.com/rwcarlsen/goexif's
// sample photos (real cameras' metadata, cut short after it) from the
// module cache, which holds it whenever this package builds.
func goexifSamples(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/rwcarlsen/goexif").Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "exif", "samples")
	if _, serr := os.Stat(dir); err != nil || serr != nil {
		t.Skipf("goexif samples not in the module cache: %v %v", err, serr)
	}
	return dir
}

// realSegments returns the complete marker segments of a JPEG before its
// first scan or its truncation point, without SOI.
func realSegments(j []byte) (app []byte) {
	pos := 2
	for pos+4 <= len(j) && j[pos] == 0xff {
		m := j[pos+1]
		n := int(binary.BigEndian.Uint16(j[pos+2:]))
		if pos+2+n > len(j) || m == 0xda || m < 0xe0 && m != 0xfe {
			break
		}
		app = append(app, j[pos:pos+2+n]...)
		pos += 2 + n
	}
	return app
}

// The metadata of 50-odd real camera files (goexif's samples are cut
// after the metadata, so it is spliced onto a whole picture) passes:
// allowed, or repaired with a low threat.
func TestRealCameraMetadata(t *testing.T) {
	t.Parallel()
	dir := goexifSamples(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if len(files) < 40 {
		t.Fatalf("%d samples", len(files))
	}
	v := setup(t, upload.Config{})
	jpg := benign(t, "jpeg").Upload.Data
	repaired := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data := append(append(bytes.Clone(jpg[:2]), realSegments(b)...), jpg[2:]...)
		vd := validate(t, v, secmon.Upload{Name: filepath.Base(f), Data: data})
		if !vd.Allowed {
			t.Errorf("%s: %+v", filepath.Base(f), vd.Threats)
		}
		if len(vd.Threats) > 0 {
			repaired++
		}
	}
	t.Logf("%d real camera metadata sets, %d repaired", len(files), repaired)
}

// A camera JPEG whose first segment happens to be 0x2F2A bytes long (its
// length reads "/*") is no polyglot unless a comment also closes at the
// end of the file; and MPF pictures may follow padding.
func TestCameraQuirksNotPolyglotOrTrailing(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	jpg := benign(t, "jpeg").Upload.Data
	body := append([]byte("Exif\x00\x00II\x2a\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"), make([]byte, 0x2f2a-2-20)...)
	body = append(body, "*/=x;"...)[:0x2f2a-2]
	seg := append([]byte{0xff, 0xe1, 0x2f, 0x2a}, body...)
	data := append(append(bytes.Clone(jpg[:2]), seg...), jpg[2:]...)
	if vd := validate(t, v, secmon.Upload{Name: "x.jpg", Data: data}); slices.Contains(threatCodes(vd), secmon.ThreatPolyglot) {
		t.Errorf("a 0x2F2A-byte EXIF segment called a polyglot: %+v", vd.Threats)
	}
	checkBlocked(t, validate(t, v, hostile(t, "jpeg_js_polyglot").Upload), secmon.ThreatPolyglot)

	// An MPF preview after 512 bytes of zero padding.
	mpf := benign(t, "jpeg_mpf_large_preview").Upload.Data
	i := bytes.LastIndex(mpf, []byte{0xff, 0xd8, 0xff})
	padded := append(append(bytes.Clone(mpf[:i]), make([]byte, 512)...), mpf[i:]...)
	// The MPF entry's offset moves by the padding (entry 1 at TIFF+50+16+8).
	at := bytes.Index(padded, []byte("MPF\x00")) + 4 + 50 + 16 + 8
	binary.BigEndian.PutUint32(padded[at:], binary.BigEndian.Uint32(padded[at:])+512)
	if vd := validate(t, v, secmon.Upload{Name: "x.jpg", Data: padded}); !vd.Allowed || len(vd.Threats) != 0 {
		t.Errorf("padded MPF preview: %+v", vd.Threats)
	}
}
