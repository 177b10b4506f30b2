package upload_test

// The PRD's core security tests, run over the hostile and benign corpus
// that secmontest/uploadcorpus builds in memory, plus the standard
// library's own test images.

import (
	"bytes"
	"context"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/upload"
)

func setup(t testing.TB, cfg upload.Config) *upload.Validator {
	t.Helper()
	v, err := upload.NewValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func validate(t testing.TB, v *upload.Validator, u secmon.Upload) secmon.Verdict {
	t.Helper()
	vd, err := v.Validate(context.Background(), u)
	if err != nil {
		t.Fatalf("Validate(%s): %v", u.Name, err)
	}
	return vd
}

func threatCodes(vd secmon.Verdict) []secmon.ThreatCode {
	var c []secmon.ThreatCode
	for _, t := range vd.Threats {
		c = append(c, t.Code)
	}
	return c
}

func hostile(t testing.TB, name string) uploadcorpus.Case {
	t.Helper()
	return corpusCase(t, "hostile", uploadcorpus.Hostile(), name)
}

func benign(t testing.TB, name string) uploadcorpus.Case {
	t.Helper()
	return corpusCase(t, "benign", uploadcorpus.Benign(), name)
}

// corpusCase returns the case of cases named name, failing t when there is
// none; kind names the corpus in the failure.
func corpusCase(t testing.TB, kind string, cases []uploadcorpus.Case, name string) uploadcorpus.Case {
	t.Helper()
	for _, c := range cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s case %q", kind, name)
	return uploadcorpus.Case{}
}

// checkBlocked asserts a blocked verdict carrying every wanted code.
func checkBlocked(t *testing.T, vd secmon.Verdict, want ...secmon.ThreatCode) {
	t.Helper()
	if vd.Allowed {
		t.Fatalf("allowed; want blocked with %v", want)
	}
	got := threatCodes(vd)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("threats %v lack %s (%+v)", got, w, vd.Threats)
		}
	}
	for _, th := range vd.Threats {
		if th.Severity != upload.SeverityOf(th.Code) && !(th.Code == secmon.ThreatDisallowedType && th.Severity == secmon.SeverityCritical) {
			t.Errorf("%s has severity %v, want %v", th.Code, th.Severity, upload.SeverityOf(th.Code))
		}
		if th.Detail == "" {
			t.Errorf("%s has no detail", th.Code)
		}
	}
}

// 1. file-size-validation
func TestSecurityFileSizeValidation(t *testing.T) {
	t.Parallel()
	vd := validate(t, setup(t, upload.Config{}), hostile(t, "oversized").Upload)
	checkBlocked(t, vd, secmon.ThreatSizeExceeded)
	if len(vd.Threats) != 1 {
		t.Errorf("threats = %v, want size_exceeded alone (nothing else may be read)", threatCodes(vd))
	}
	var stages []string
	for _, s := range vd.Timings {
		stages = append(stages, s.Stage)
	}
	if !slices.Equal(stages, []string{upload.StageSize, upload.StageTotal}) {
		t.Errorf("stages = %v, want [size total]", stages)
	}

	// The limit is inclusive.
	png := benign(t, "png").Upload
	at := setup(t, upload.Config{MaxBytes: int64(len(png.Data))})
	if vd := validate(t, at, png); !vd.Allowed {
		t.Errorf("a file of exactly MaxBytes was blocked: %+v", vd.Threats)
	}
	under := setup(t, upload.Config{MaxBytes: int64(len(png.Data) - 1)})
	checkBlocked(t, validate(t, under, png), secmon.ThreatSizeExceeded)

	checkBlocked(t, validate(t, at, secmon.Upload{Name: "empty.png"}), secmon.ThreatCorrupt)
}

// 2. magic-bytes-check: executables, scripts and archives disguised as
// images, and images under the wrong name or type.
func TestSecurityMagicBytesCheck(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for _, name := range []string{"pe_executable_as_png", "elf_executable_as_jpg", "shebang_script_as_gif", "html_as_png", "php_as_jpg", "zip_as_png"} {
		t.Run(name, func(t *testing.T) {
			c := hostile(t, name)
			vd := validate(t, v, c.Upload)
			checkBlocked(t, vd, secmon.ThreatTypeMismatch, secmon.ThreatDisallowedType)
			for _, th := range vd.Threats {
				if th.Code == secmon.ThreatDisallowedType && th.Severity != secmon.SeverityCritical {
					t.Errorf("active content got severity %v, want critical", th.Severity)
				}
			}
			if len(vd.Timings) != 3 { // size, magic, total: no structure walk of a non-image
				t.Errorf("timings = %+v", vd.Timings)
			}
		})
	}
	for _, name := range []string{"fake_extension_png_as_jpg", "png_named_php"} {
		t.Run(name, func(t *testing.T) {
			checkBlocked(t, validate(t, v, hostile(t, name).Upload), secmon.ThreatTypeMismatch)
		})
	}

	png := benign(t, "png").Upload.Data
	for _, tc := range []struct {
		name, declared string
		allowed        bool
	}{
		{"chart.png", "image/png", true},
		{"CHART.PNG", "IMAGE/PNG; charset=binary", true},
		{"chart", "", true},
		{"chart.png", "application/octet-stream", true},
		{"chart.png", "image/x-png", true},
		{"chart.png", "image/jpeg", false},
		{"chart.png", "text/html", false},
		{"chart.gif", "image/png", false},
		{"chart.html", "image/png", false},
		{"dir.png/chart.exe", "", false},
	} {
		vd := validate(t, v, secmon.Upload{Name: tc.name, DeclaredType: tc.declared, Data: png})
		if vd.Allowed != tc.allowed {
			t.Errorf("%s as %q: allowed = %v, want %v (%v)", tc.name, tc.declared, vd.Allowed, tc.allowed, threatCodes(vd))
		}
		if !tc.allowed && !slices.Contains(threatCodes(vd), secmon.ThreatTypeMismatch) {
			t.Errorf("%s as %q: threats %v lack type_mismatch", tc.name, tc.declared, threatCodes(vd))
		}
	}

	// A type the host did not allow.
	gifOnly := setup(t, upload.Config{AllowedTypes: []string{upload.TypeGIF}})
	vd := validate(t, gifOnly, benign(t, "png").Upload)
	checkBlocked(t, vd, secmon.ThreatDisallowedType)
	if vd.DetectedType != upload.TypePNG {
		t.Errorf("DetectedType = %q", vd.DetectedType)
	}

	// filetype would call this WebP (bytes 8–11); without RIFF it is not.
	vd = validate(t, v, hostile(t, "webp_without_riff").Upload)
	checkBlocked(t, vd, secmon.ThreatDisallowedType)
	if vd.DetectedType != "" {
		t.Errorf("DetectedType = %q, want unknown", vd.DetectedType)
	}
}

// 3. exif-injection-prevention: markup in EXIF (ASCII and UTF-16LE), XMP,
// JPEG COM, PNG text chunks, GIF comments and WebP EXIF is blocked, and the
// sanitised copy is clean and shows the same pixels.
func TestSecurityEXIFInjectionPrevention(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for _, name := range []string{"jpeg_exif_script", "jpeg_exif_xpcomment_utf16_php", "jpeg_com_php", "jpeg_xmp_event_handler",
		"png_text_event_handler", "png_ztxt_script", "gif_comment_script", "webp_exif_script"} {
		t.Run(name, func(t *testing.T) {
			c := hostile(t, name)
			vd := validate(t, v, c.Upload)
			checkBlocked(t, vd, secmon.ThreatScriptInMetadata)
			if vd.Sanitized == nil {
				t.Fatal("no sanitised copy for a threat that lives only in metadata")
			}
			again := validate(t, v, secmon.Upload{Name: c.Upload.Name, DeclaredType: c.Upload.DeclaredType, Data: vd.Sanitized})
			if !again.Allowed {
				t.Fatalf("sanitised copy blocked: %+v", again.Threats)
			}
			if c.Upload.DeclaredType != upload.TypeWebP { // no WebP decoder in the standard library
				samePixels(t, c.Upload.Data, vd.Sanitized)
			}
		})
	}
}

// 4. polyglot-detection: files that are also HTML, ZIP/JAR, PDF or script.
func TestSecurityPolyglotDetection(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for name, want := range map[string][]secmon.ThreatCode{
		"png_html_appended": {secmon.ThreatTrailingData, secmon.ThreatHTMLContent},
		"png_zip_appended":  {secmon.ThreatTrailingData, secmon.ThreatEmbeddedArchive},
		"gifar":             {secmon.ThreatTrailingData, secmon.ThreatEmbeddedArchive},
		"gif_js_polyglot":   {secmon.ThreatPolyglot},
		"jpeg_pdf_polyglot": {secmon.ThreatPolyglot},
	} {
		t.Run(name, func(t *testing.T) {
			vd := validate(t, v, hostile(t, name).Upload)
			checkBlocked(t, vd, want...)
		})
	}
	// The GIF/JS polyglot lives in the header: no sanitised copy can fix it.
	if vd := validate(t, v, hostile(t, "gif_js_polyglot").Upload); vd.Sanitized != nil {
		t.Error("a header polyglot got a sanitised copy")
	}
	// Appended data is cut.
	c := hostile(t, "png_html_appended")
	vd := validate(t, v, c.Upload)
	if vd.Sanitized == nil || bytes.Contains(vd.Sanitized, []byte("<html")) || !bytes.HasSuffix(vd.Sanitized, []byte("IEND\xaeB`\x82")) {
		t.Errorf("sanitised copy still carries the appended HTML")
	}
}

// 5. validation-performance: every stage is timed into the verdict and
// the tracker. Speed itself is measured by the benchmarks, not asserted.
func TestSecurityValidationPerformance(t *testing.T) {
	t.Parallel()
	tr, err := upload.NewTracker(upload.TrackerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	v := setup(t, upload.Config{Tracker: tr, Decode: true})
	const runs = 3
	for range runs {
		vd := validate(t, v, benign(t, "jpeg_with_exif_xmp_icc").Upload)
		var stages []string
		var sum, total = int64(0), int64(-1)
		for _, s := range vd.Timings {
			stages = append(stages, s.Stage)
			if s.Duration < 0 {
				t.Errorf("negative duration for %s", s.Stage)
			}
			if s.Stage == upload.StageTotal {
				total = int64(s.Duration)
			} else {
				sum += int64(s.Duration)
			}
		}
		want := []string{"size", "magic", "structure", "metadata", "decode", "sanitize", "total"}
		if !slices.Equal(stages, want) {
			t.Fatalf("stages = %v, want %v", stages, want)
		}
		if sum > total {
			t.Errorf("stages sum to %d ns, more than the total %d ns", sum, total)
		}
	}
	stats := v.Stats()
	if len(stats) != 7 {
		t.Fatalf("stats for %d stages, want 7: %+v", len(stats), stats)
	}
	for _, s := range stats {
		if s.Count != runs || s.Samples != runs || s.Min > s.Avg || s.Avg > s.Max || s.P99 > s.Max || s.P99 < s.Min {
			t.Errorf("inconsistent stats %+v", s)
		}
	}
}

// 6. pixel bombs are refused from the headers, before any decoding.
func TestSecurityPixelBomb(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{Decode: true})
	for _, name := range []string{"pixel_bomb_png", "pixel_bomb_gif", "pixel_bomb_jpeg", "pixel_bomb_gif_frames", "pixel_bomb_apng_frames", "jpeg_many_scans"} {
		t.Run(name, func(t *testing.T) {
			c := hostile(t, name)
			if name == "pixel_bomb_png" && len(c.Upload.Data) > 256 {
				t.Errorf("the PNG bomb is %d bytes; it should be tiny", len(c.Upload.Data))
			}
			vd := validate(t, v, c.Upload)
			checkBlocked(t, vd, secmon.ThreatPixelBomb)
			for _, s := range vd.Timings {
				if s.Stage == upload.StageDecode {
					t.Error("a pixel bomb reached the decoder")
				}
			}
		})
	}
	// The limit is configurable: a 32×24 PNG is a bomb under 700 pixels.
	tight := setup(t, upload.Config{MaxPixels: 700})
	checkBlocked(t, validate(t, tight, benign(t, "png").Upload), secmon.ThreatPixelBomb)
}

// 7. truncated files: every proper prefix of every benign image is refused.
func TestSecurityTruncatedFiles(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for _, c := range uploadcorpus.Benign() {
		t.Run(c.Name, func(t *testing.T) {
			d := c.Upload.Data
			for n := 1; n < len(d); n++ {
				vd := validate(t, v, secmon.Upload{Name: c.Upload.Name, DeclaredType: c.Upload.DeclaredType, Data: d[:n]})
				// A prefix that is a whole picture (a JPEG cut after its
				// first MPF picture) may be accepted repaired, never clean.
				if vd.Allowed && len(vd.Threats) == 0 {
					t.Fatalf("prefix of %d/%d bytes allowed", n, len(d))
				}
			}
		})
	}
	for _, name := range []string{"truncated_png", "truncated_jpeg"} {
		checkBlocked(t, validate(t, v, hostile(t, name).Upload), secmon.ThreatCorrupt)
	}
}

// 8. decompression bombs in PNG text chunks stop at the inflate cap.
func TestSecurityDecompressionBomb(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	vd := validate(t, v, hostile(t, "png_ztxt_bomb").Upload)
	checkBlocked(t, vd, secmon.ThreatCorrupt)
	if !strings.Contains(vd.Threats[0].Detail, "decompression bomb") {
		t.Errorf("detail %q", vd.Threats[0].Detail)
	}
	// A larger cap lets the same 16 MiB of zeros through: the cap is what
	// blocks it.
	big := setup(t, upload.Config{MaxTextChunk: 32 << 20})
	if vd := validate(t, big, hostile(t, "png_ztxt_bomb").Upload); !vd.Allowed {
		t.Errorf("with a 32 MiB cap: %+v", vd.Threats)
	}
}

// 9. SVG is refused by default; where a host allows it, active content is
// a threat.
func TestSecuritySVG(t *testing.T) {
	t.Parallel()
	checkBlocked(t, validate(t, setup(t, upload.Config{}), hostile(t, "svg_script").Upload), secmon.ThreatDisallowedType)

	v := setup(t, upload.Config{AllowedTypes: []string{upload.TypeSVG, upload.TypePNG}})
	clean := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10">` +
		`<defs><linearGradient id="g"/></defs><rect width="10" height="10" fill="url(#g)"/><use xlink:href="#g"/></svg>`
	if vd := validate(t, v, secmon.Upload{Name: "logo.svg", DeclaredType: upload.TypeSVG, Data: []byte(clean)}); !vd.Allowed {
		t.Errorf("clean SVG blocked: %+v", vd.Threats)
	}
	for name, body := range map[string]string{
		"script":        `<svg><script>alert(1)</script></svg>`,
		"handler":       `<svg><rect onclick="alert(1)"/></svg>`,
		"handler_space": `<svg onload = "alert(1)"></svg>`,
		"js_url":        `<svg><a href="JavaScript:alert(1)"><text>x</text></a></svg>`,
		"foreign":       `<svg><foreignObject><div>x</div></foreignObject></svg>`,
		"external":      `<svg><image xlink:href = 'https://evil.example/track.png'/></svg>`,
		"entity":        `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg>&x;</svg>`,
	} {
		vd := validate(t, v, secmon.Upload{Name: "x.svg", DeclaredType: upload.TypeSVG, Data: []byte(body)})
		if vd.DetectedType != upload.TypeSVG {
			t.Errorf("%s: detected %q", name, vd.DetectedType)
		}
		checkBlocked(t, vd, secmon.ThreatHTMLContent)
	}
}

// 10. the whole hostile corpus is blocked with the right codes.
func TestSecurityHostileCorpus(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	cases := uploadcorpus.Hostile()
	if len(cases) < 20 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.WantAllowed || len(c.WantCodes) == 0 {
				t.Fatal("hostile case without wanted codes")
			}
			vd := validate(t, v, c.Upload)
			checkBlocked(t, vd, c.WantCodes...)
			if vd.Sanitized != nil {
				again := validate(t, v, secmon.Upload{Name: c.Upload.Name, DeclaredType: c.Upload.DeclaredType, Data: vd.Sanitized})
				if !again.Allowed {
					t.Errorf("sanitised copy of a blocked upload does not re-validate: %+v", again.Threats)
				}
				low := bytes.ToLower(vd.Sanitized)
				for _, p := range []string{"<script", "<?php", "alert(", "system(", "pk\x03\x04", "onerror"} {
					if bytes.Contains(low, []byte(p)) {
						t.Errorf("sanitised copy still holds %q", p)
					}
				}
			}
		})
	}
}

// 11. the benign corpus is allowed with no threat, also when decoded.
func TestSecurityBenignCorpus(t *testing.T) {
	t.Parallel()
	for _, decode := range []bool{false, true} {
		v := setup(t, upload.Config{Decode: decode})
		for _, c := range uploadcorpus.Benign() {
			vd := validate(t, v, c.Upload)
			if !vd.Allowed || len(vd.Threats) != 0 || !c.WantAllowed {
				t.Errorf("%s (decode %v): allowed=%v threats=%+v", c.Name, decode, vd.Allowed, vd.Threats)
			}
			if vd.Sanitized == nil {
				t.Errorf("%s: no sanitised copy", c.Name)
			}
		}
	}
}

// 12. every image in the standard library's image testdata (image/testdata,
// image/png/testdata including PngSuite, image/jpeg, image/gif) is allowed,
// except four PNGs that are broken on purpose, which must be refused as
// corrupt: invalid-crc32 (a bad IHDR CRC), invalid-noend and invalid-trunc
// (no IEND), and invalid-zlib (a bad zlib checksum inside IDAT, which only
// Config.Decode sees: the structure walk never inflates pixel data).
// invalid-palette.png is structurally sound (pixel indices past its palette,
// which image/png decodes as opaque black by design) and is allowed. The
// files in image/testdata named "truncated" are progressive images with
// fewer scans, complete as files.
func TestSecurityStandardLibraryImages(t *testing.T) {
	t.Parallel()
	root := filepath.Join(runtime.GOROOT(), "src", "image")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("standard library sources not available: %v", err)
	}
	v := setup(t, upload.Config{Decode: true})
	var allowed, refused int
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := strings.ToLower(filepath.Ext(path))
		if d.IsDir() || ext != ".png" && ext != ".jpeg" && ext != ".jpg" && ext != ".gif" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		vd := validate(t, v, secmon.Upload{Name: d.Name(), Data: data})
		switch d.Name() {
		case "invalid-crc32.png", "invalid-noend.png", "invalid-trunc.png", "invalid-zlib.png":
			refused++
			if vd.Allowed || vd.Threats[0].Code != secmon.ThreatCorrupt {
				t.Errorf("%s: broken on purpose, got %+v", d.Name(), vd.Threats)
			}
			return nil
		}
		allowed++
		if !vd.Allowed {
			t.Errorf("%s: %+v", path, vd.Threats)
			return nil
		}
		samePixels(t, data, vd.Sanitized)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if allowed < 60 || refused != 4 {
		t.Errorf("%d images allowed and %d refused; expected the standard library's 80-odd and 4", allowed, refused)
	}
}

// 13. sanitised copies of benign files with metadata: clean, smaller,
// without the metadata, with the ICC profile and orientation kept, and the
// same pixels.
func TestSecuritySanitizedCopies(t *testing.T) {
	t.Parallel()
	v := setup(t, upload.Config{})
	for _, c := range uploadcorpus.Benign() {
		t.Run(c.Name, func(t *testing.T) {
			vd := validate(t, v, c.Upload)
			s := vd.Sanitized
			if len(s) > len(c.Upload.Data) {
				t.Errorf("sanitised copy grew from %d to %d bytes", len(c.Upload.Data), len(s))
			}
			again := validate(t, v, secmon.Upload{Name: c.Upload.Name, DeclaredType: c.Upload.DeclaredType, Data: s})
			if !again.Allowed {
				t.Fatalf("sanitised copy blocked: %+v", again.Threats)
			}
			if !bytes.Equal(again.Sanitized, s) {
				t.Error("sanitising is not idempotent")
			}
			if !strings.HasPrefix(c.Name, "webp") {
				samePixels(t, c.Upload.Data, s)
			}
			for _, gone := range []string{"chartlib", "Canon", "xmpmeta", "Quarterly", "tIME", "tripod"} {
				if bytes.Contains(s, []byte(gone)) {
					t.Errorf("sanitised copy still holds %q", gone)
				}
			}
		})
	}
	j := validate(t, v, benign(t, "jpeg_with_exif_xmp_icc").Upload).Sanitized
	if !bytes.Contains(j, []byte("ICC_PROFILE\x00")) {
		t.Error("ICC profile dropped")
	}
	// Orientation 6 survives as a minimal EXIF block.
	if !bytes.Contains(j, []byte("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06")) {
		t.Error("orientation not kept")
	}
	// The JFIF header stays, its thumbnail goes.
	jf := benign(t, "jpeg_jfif_thumbnail").Upload.Data
	if s := validate(t, v, benign(t, "jpeg_jfif_thumbnail").Upload).Sanitized; len(s) != len(jf)-6 ||
		!bytes.Contains(s, []byte("\xff\xe0\x00\x10JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00")) {
		t.Errorf("JFIF thumbnail not removed cleanly: %d → %d bytes", len(jf), len(s))
	}
	w := validate(t, v, benign(t, "webp_with_metadata").Upload).Sanitized
	if w[20]&0x0c != 0 || int(w[4])|int(w[5])<<8 != len(w)-8 {
		t.Errorf("WebP header not fixed: flags %#x, RIFF size %d for %d bytes", w[20], int(w[4])|int(w[5])<<8, len(w))
	}
	p := validate(t, v, benign(t, "png_with_text").Upload).Sanitized
	for _, keep := range []string{"gAMA", "pHYs"} {
		if !bytes.Contains(p, []byte(keep)) {
			t.Errorf("PNG lost %s", keep)
		}
	}
}

// samePixels decodes both files and compares every pixel.
func samePixels(t *testing.T, a, b []byte) {
	t.Helper()
	ia, _, err := image.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("original does not decode: %v", err)
	}
	ib, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("sanitised copy does not decode: %v", err)
	}
	if ia.Bounds() != ib.Bounds() {
		t.Fatalf("bounds %v vs %v", ia.Bounds(), ib.Bounds())
	}
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, a1 := ia.At(x, y).RGBA()
			r2, g2, b2, a2 := ib.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				t.Fatalf("pixel (%d,%d) differs", x, y)
			}
		}
	}
}
