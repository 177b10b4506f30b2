package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registered for Config.Decode
	"image/jpeg"
	"image/png"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secmon-go/secmon"
)

// MIME types the validator understands.
const (
	TypePNG  = "image/png"
	TypeJPEG = "image/jpeg"
	TypeGIF  = "image/gif"
	TypeWebP = "image/webp"
	TypeSVG  = "image/svg+xml"
)

// Defaults for Config.
const (
	DefaultMaxBytes     = 5 << 20
	DefaultMaxPixels    = 50_000_000
	DefaultMaxTextChunk = 1 << 20
	DefaultMaxFrames    = 1000
	// DefaultReencodeQuality is the JPEG quality of re-encoded JPEGs.
	DefaultReencodeQuality = 90
)

// DefaultAllowedTypes returns the types allowed when Config.AllowedTypes is
// empty: PNG, JPEG, GIF and WebP. SVG is never among them: it is a document
// that can carry script.
func DefaultAllowedTypes() []string { return []string{TypePNG, TypeJPEG, TypeGIF, TypeWebP} }

// Stage names used in secmon.Verdict.Timings and Tracker statistics.
const (
	StageSize      = "size"
	StageMagic     = "magic"
	StageStructure = "structure"
	StageMetadata  = "metadata"
	StageDecode    = "decode"
	StageReencode  = "reencode"
	StageSanitize  = "sanitize"
	StageTotal     = "total"
)

// Config configures a Validator. Zero fields mean the documented defaults,
// so Config{} is a safe validator for chart and photo uploads.
type Config struct {
	// MaxBytes is the largest upload accepted. Default DefaultMaxBytes
	// (5 MiB).
	MaxBytes int64
	// AllowedTypes lists the MIME types accepted, from TypePNG, TypeJPEG,
	// TypeGIF, TypeWebP and TypeSVG. Default DefaultAllowedTypes(). Any other
	// type is a configuration error.
	AllowedTypes []string
	// MaxPixels bounds width × height × frames read from the headers before
	// anything is decoded. Default DefaultMaxPixels (50 megapixels).
	MaxPixels int64
	// DisableSanitize turns off producing Verdict.Sanitized. Sanitising is
	// on in the zero Config because storing the stripped copy is the safe
	// choice; it costs one copy of the upload and a few milliseconds per
	// 5 MB.
	DisableSanitize bool
	// Decode fully decodes PNG, JPEG and GIF uploads that passed every other
	// check, as a last proof that they are images (WebP and SVG are never
	// decoded: the standard library has no decoder). Off by default: the
	// structure walk already bounds the work, and decoding a 5 MB photo
	// costs tens of milliseconds and width × height × 4 bytes. A file the
	// decoder refuses is corrupt, or unsupported_encoding when it is valid
	// by its specification but uses what Go's decoders do not implement
	// (12-bit or arithmetic-coded JPEG, default Huffman tables, a GIF
	// without any palette).
	Decode bool
	// MaxFrames bounds the frames of an animation (GIF images, APNG frames,
	// animated WebP frames), however small each frame is: a decoder that
	// keeps every frame allocates an image, a palette and a delay per
	// frame, and a player renders each. More is a pixel_bomb. Default
	// DefaultMaxFrames (1,000).
	MaxFrames int
	// Reencode rebuilds the pixels of PNG, JPEG and GIF uploads (content
	// disarm): Verdict.Sanitized is the image decoded and encoded again by
	// the standard library, so nothing an attacker wrote in the pixel data
	// survives byte for byte. See the package documentation for what is
	// kept and what it costs. It cannot be combined with DisableSanitize.
	Reencode bool
	// ReencodeQuality is the JPEG quality (1–100) of re-encoded JPEGs.
	// Default DefaultReencodeQuality (90).
	ReencodeQuality int
	// MaxTextChunk caps how many bytes the compressed PNG text chunks
	// (zTXt, compressed iTXt) of one file may inflate to in total; beyond
	// it the file is reported corrupt (a decompression bomb). Default
	// DefaultMaxTextChunk (1 MiB). Inflated text is scanned as a stream and
	// never buffered whole, so the cap bounds CPU time, not memory.
	MaxTextChunk int64
	// SlowStage is the duration above which a stage is logged as slow when
	// the Validator makes its own Tracker. Default DefaultSlowStage (200 ms).
	SlowStage time.Duration
	// Logger receives warnings about threats and slow stages. Nil is silent.
	Logger *slog.Logger
	// Tracker receives every stage duration. Nil means the Validator makes
	// its own (see Validator.Stats).
	Tracker *Tracker
}

// Validator checks uploads. It implements secmon.UploadValidator and is
// safe for concurrent use.
type Validator struct {
	maxBytes  int64
	maxPixels int64
	maxText   int64
	maxFrames int64
	allowed   [numFormats]bool
	sanitize  bool
	decode    bool
	reencode  bool
	quality   int
	log       *slog.Logger
	tracker   *Tracker

	exifDecodes atomic.Int64 // calls into the third-party EXIF parser
}

var _ secmon.UploadValidator = (*Validator)(nil)

// NewValidator returns a Validator for cfg. An invalid config is an error.
func NewValidator(cfg Config) (*Validator, error) {
	v := &Validator{
		maxBytes:  cfg.MaxBytes,
		maxPixels: cfg.MaxPixels,
		maxText:   cfg.MaxTextChunk,
		maxFrames: int64(cfg.MaxFrames),
		sanitize:  !cfg.DisableSanitize,
		decode:    cfg.Decode,
		reencode:  cfg.Reencode,
		quality:   cfg.ReencodeQuality,
		log:       cfg.Logger,
		tracker:   cfg.Tracker,
	}
	switch {
	case v.maxBytes < 0:
		return nil, errors.New("upload: Config.MaxBytes is negative")
	case v.maxBytes == 0:
		v.maxBytes = DefaultMaxBytes
	}
	switch {
	case v.maxPixels < 0:
		return nil, errors.New("upload: Config.MaxPixels is negative")
	case v.maxPixels == 0:
		v.maxPixels = DefaultMaxPixels
	}
	switch {
	case v.maxText < 0:
		return nil, errors.New("upload: Config.MaxTextChunk is negative")
	case v.maxText == 0:
		v.maxText = DefaultMaxTextChunk
	}
	switch {
	case v.maxFrames < 0:
		return nil, errors.New("upload: Config.MaxFrames is negative")
	case v.maxFrames == 0:
		v.maxFrames = DefaultMaxFrames
	}
	if v.reencode && !v.sanitize {
		return nil, errors.New("upload: Config.Reencode needs sanitising: the re-encoded copy is Verdict.Sanitized")
	}
	switch {
	case v.quality < 0 || v.quality > 100:
		return nil, fmt.Errorf("upload: Config.ReencodeQuality %d is outside 1–100", v.quality)
	case v.quality == 0:
		v.quality = DefaultReencodeQuality
	}
	if cfg.SlowStage < 0 {
		return nil, errors.New("upload: Config.SlowStage is negative")
	}
	types := cfg.AllowedTypes
	if len(types) == 0 {
		types = DefaultAllowedTypes()
	}
	for _, t := range types {
		f := formatOfMIME(t)
		if f == fmtUnknown {
			return nil, fmt.Errorf("upload: Config.AllowedTypes: unsupported type %q", t)
		}
		v.allowed[f] = true
	}
	if v.tracker == nil {
		t, err := NewTracker(TrackerConfig{SlowStage: cfg.SlowStage, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		v.tracker = t
	}
	return v, nil
}

// Stats returns the Tracker's per-stage statistics.
func (v *Validator) Stats() []StageStats { return v.tracker.Snapshot() }

// Tracker returns the Tracker the Validator feeds.
func (v *Validator) Tracker() *Tracker { return v.tracker }

// Validate judges f. The verdict allows the upload only when every stage
// proved it benign: its size, its detected type (which must match the
// declared Content-Type and file extension and be allowed), its structure
// up to the format's logical end, its header dimensions and frame count,
// its metadata, and the whole file's bytes. A non-nil error (a cancelled
// context, an internal failure) always comes with Allowed false. See the
// package documentation for the threat codes.
//
// With sanitising on, Verdict.Sanitized holds a stripped copy (re-encoded
// with Config.Reencode) when the upload is allowed, and also when it is
// blocked only for things the copy removes (metadata, trailing data, and
// with Reencode pixel data) and the copy re-validates clean. An upload
// whose only threats are repairable (malformed_metadata, trailing_padding:
// low severity) is allowed when that copy exists: store Sanitized.
func (v *Validator) Validate(ctx context.Context, f secmon.Upload) (verdict secmon.Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			verdict.Allowed = false
			verdict.Sanitized = nil
			err = fmt.Errorf("upload: internal error validating %q: %v", f.Name, r)
		}
	}()
	verdict, err = v.validate(ctx, f, v.sanitize, true)
	if v.log != nil && len(verdict.Threats) > 0 {
		attrs := make([]slog.Attr, 0, 4)
		codes := make([]string, len(verdict.Threats))
		for i, t := range verdict.Threats {
			codes[i] = string(t.Code)
		}
		attrs = append(attrs, slog.String("file", f.Name), slog.String("detected_type", verdict.DetectedType), slog.Any("threats", codes), slog.Bool("allowed", verdict.Allowed))
		v.log.LogAttrs(ctx, slog.LevelWarn, "upload: threat detected", attrs...)
	}
	return verdict, err
}

// validate judges f; track feeds the Tracker, and only the outermost call
// (track set) validates the pictures of an MPF index, so that nesting is
// one level deep.
func (v *Validator) validate(ctx context.Context, f secmon.Upload, sanitize, track bool) (secmon.Verdict, error) {
	st := &state{v: v, data: f.Data}
	var verdict secmon.Verdict
	start := time.Now()
	last := start
	stage := func(name string) {
		now := time.Now()
		d := now.Sub(last)
		last = now
		verdict.Timings = append(verdict.Timings, secmon.StageTiming{Stage: name, Duration: d})
		if track {
			v.tracker.Observe(name, d)
		}
	}
	finish := func(err error) (secmon.Verdict, error) {
		d := time.Since(start)
		verdict.Timings = append(verdict.Timings, secmon.StageTiming{Stage: StageTotal, Duration: d})
		if track {
			v.tracker.Observe(StageTotal, d)
		}
		verdict.Threats = st.publicThreats()
		switch {
		case err != nil:
			verdict.Allowed, verdict.Sanitized = false, nil
		case len(verdict.Threats) == 0:
			verdict.Allowed, verdict.Sanitized = true, st.repaired
		case st.onlyRepairable() && st.repaired != nil:
			verdict.Allowed, verdict.Sanitized = true, st.repaired
		default:
			verdict.Allowed, verdict.Sanitized = false, st.repaired
		}
		return verdict, err
	}

	// Size, before any byte is read.
	verdict.Timings = make([]secmon.StageTiming, 0, 7)
	if int64(len(f.Data)) > v.maxBytes {
		st.add(secmon.ThreatSizeExceeded, -1, fmt.Sprintf("%d bytes exceeds the %d-byte limit", len(f.Data), v.maxBytes))
		stage(StageSize)
		return finish(nil)
	}
	if len(f.Data) == 0 {
		st.add(secmon.ThreatCorrupt, -1, "empty file")
		stage(StageSize)
		return finish(nil)
	}
	stage(StageSize)
	if err := ctx.Err(); err != nil {
		return finish(err)
	}

	// Magic bytes, declared type, extension, header polyglots.
	ok := v.checkType(st, f)
	verdict.DetectedType = st.mime
	stage(StageMagic)
	if !ok {
		return finish(nil)
	}
	if err := ctx.Err(); err != nil {
		return finish(err)
	}

	// Structure to the logical end, trailing data, header dimensions and
	// frames.
	st.end = len(st.data)
	st.format.walk(st)
	if st.end < len(st.data) {
		from := st.end
		if track {
			from = v.mpfPictures(ctx, st)
		}
		st.trailing(from)
	}
	for _, r := range st.mpf {
		if r[1] > len(st.data) {
			st.add(secmon.ThreatMalformedMetadata, st.mpfAt, fmt.Sprintf("the MPF index lists a picture at bytes %d–%d, past the end of the file (truncated?); removed by sanitising", r[0], r[1]))
			break
		}
	}
	if st.pixels > v.maxPixels {
		st.add(secmon.ThreatPixelBomb, -1, fmt.Sprintf("%d×%d×%d frames = %d pixels exceeds the %d-pixel limit",
			st.width, st.height, max(st.frames, 1), st.pixels, v.maxPixels))
	}
	if st.frames > v.maxFrames {
		st.add(secmon.ThreatPixelBomb, -1, fmt.Sprintf("%d frames exceeds the %d-frame limit", st.frames, v.maxFrames))
	}
	stage(StageStructure)
	if err := ctx.Err(); err != nil {
		return finish(err)
	}

	// Metadata, then every byte up to the logical end for executable code.
	st.scanMetadata()
	if st.format != formats[fmtSVG] {
		st.scanWhole()
	}
	stage(StageMetadata)
	if err := ctx.Err(); err != nil {
		return finish(err)
	}

	reencode := sanitize && st.reencoding()
	if v.decode && !reencode && st.onlyRepairable() && st.format.decodable {
		if _, _, err := image.Decode(bytes.NewReader(st.data)); err != nil {
			st.decodeFailed(err)
		}
		stage(StageDecode)
	}

	if sanitize && (st.onlyRepairable() || st.allRemovable()) {
		var out []byte
		if reencode {
			var err error
			if out, err = st.reencoded(false); err != nil {
				st.decodeFailed(err)
				out = nil
			}
			stage(StageReencode)
		} else {
			out = st.sanitized()
		}
		if out != nil && !reencode && len(st.threats) == 0 {
			st.repaired = out // dropping blocks of a clean file leaves it clean
		} else if out != nil {
			again, err := v.validate(ctx, secmon.Upload{Name: f.Name, DeclaredType: f.DeclaredType, Data: out}, false, false)
			if err == nil && len(again.Threats) > 0 && reencode {
				// A payload the encoder copied (a palette): rebuild it.
				if out, err = st.reencoded(true); err == nil {
					again, err = v.validate(ctx, secmon.Upload{Name: f.Name, DeclaredType: f.DeclaredType, Data: out}, false, false)
				}
			}
			switch {
			case err == nil && len(again.Threats) == 0:
				st.repaired = out
			case len(st.threats) == 0 && err == nil:
				// A clean file whose copy is not clean: re-encoding wrote
				// what the scan refuses. Never hand out that copy.
				st.add(secmon.ThreatScriptInImageData, -1, "the re-encoded copy does not re-validate: "+string(again.Threats[0].Code))
			}
		}
		stage(StageSanitize)
	}
	return finish(nil)
}

// maxMPFGap is the most padding accepted before a picture of an MPF index.
const maxMPFGap = 4096

// mpfPictures validates the pictures that a JPEG's MPF index places right
// after the first, each alone, and returns where the bytes after them
// begin. A picture's threats are reported as the upload's (they lie past
// the end, where sanitising cuts); its repairable faults are cut with it.
func (v *Validator) mpfPictures(ctx context.Context, st *state) int {
	pos := st.end
	for _, r := range st.mpf {
		// Some writers align each picture with a run of one padding byte.
		if r[0] > pos && r[0]-pos <= maxMPFGap && r[0] <= len(st.data) && uniform(st.data[pos:r[0]]) && fileSignature(st.data[pos:r[0]]) == "" {
			pos = r[0]
		}
		if r[0] != pos || r[1] > len(st.data) || r[1]-r[0] < 4 || !hasPrefix(st.data[r[0]:], "\xff\xd8\xff") {
			break
		}
		vd, err := v.validate(ctx, secmon.Upload{Name: "mpf.jpg", Data: st.data[r[0]:r[1]]}, false, false)
		if err != nil {
			break
		}
		for _, t := range vd.Threats {
			if !repairable(t.Code) {
				st.addSev(t.Code, t.Severity, r[0], fmt.Sprintf("MPF picture at byte %d: %s", r[0], t.Detail))
			}
		}
		pos = r[1]
	}
	return pos
}

// decodeFailed reports a decoder's refusal: unsupported_encoding when the
// file is valid by its specification but Go's decoder does not implement
// what it uses, corrupt otherwise.
func (st *state) decodeFailed(err error) {
	var je jpeg.UnsupportedError
	var pe png.UnsupportedError
	switch {
	case st.unsupported != "":
		st.add(secmon.ThreatUnsupportedEncoding, -1, st.unsupported)
	case errors.As(err, &je) || errors.As(err, &pe):
		st.add(secmon.ThreatUnsupportedEncoding, -1, "the decoder does not support this file: "+err.Error())
	default:
		st.add(secmon.ThreatCorrupt, -1, "does not decode: "+err.Error())
	}
}

// checkType fills st.format and st.mime and reports whether the structure
// walk should run.
func (v *Validator) checkType(st *state, f secmon.Upload) bool {
	d := detect(st.data)
	st.mime = d.mime
	st.format = formats[d.format]

	if i := bytes.Index(st.data[:min(len(st.data), 1024)], []byte("%PDF-")); i >= 0 {
		st.add(secmon.ThreatPolyglot, i, fmt.Sprintf("PDF header at byte %d: readers accept it as a PDF", i))
	}
	if d.format == fmtGIF && len(st.data) >= 8 && (string(st.data[6:8]) == "/*" || string(st.data[6:8]) == "//") {
		st.add(secmon.ThreatPolyglot, -1, "GIF logical screen bytes open a JavaScript comment: the file also parses as script")
	}
	if d.format == fmtJPEG && jpegScriptHeader(st.data) {
		st.add(secmon.ThreatPolyglot, -1, "JPEG first segment length reads \"/*\" and a later \"*/\" closes it before script: as Latin-1 the file also parses as JavaScript")
	}

	declared := strings.TrimSpace(f.DeclaredType)
	if i := strings.IndexByte(declared, ';'); i >= 0 {
		declared = strings.TrimSpace(declared[:i])
	}
	if declared != "" && !strings.EqualFold(declared, "application/octet-stream") && d.mime != "" {
		if want := formatOfMIME(declared); want == fmtUnknown || want != d.format {
			st.add(secmon.ThreatTypeMismatch, -1, fmt.Sprintf("declared %s, content is %s", clip(declared), describe(d)))
		}
	}
	if ext := extOf(f.Name); ext != "" && d.mime != "" {
		if want := formatOfExt(ext); want == fmtUnknown || want != d.format {
			st.add(secmon.ThreatTypeMismatch, -1, fmt.Sprintf("extension %s, content is %s", clip(ext), describe(d)))
		}
	}
	if why := riskyName(f.Name); why != "" {
		st.add(secmon.ThreatTypeMismatch, -1, "file name "+why)
	}
	if d.format == fmtUnknown || !v.allowed[d.format] {
		sev := secmon.SeverityMedium
		if d.active {
			sev = secmon.SeverityCritical
		}
		st.addSev(secmon.ThreatDisallowedType, sev, -1, describe(d)+" is not an allowed type")
		return false
	}
	return true
}

// jpegScriptHeader reports the JPEG/JavaScript polyglot: the first
// segment's length bytes read "/*" (so "ÿØÿà" becomes an identifier and the
// segment a comment), a later "*/" is followed by an assignment or a
// statement, and a comment closes in the file's last 32 bytes (everything
// after the script must be commented out for the file to parse). A real
// JPEG whose first segment happens to be 0x2F2A bytes long meets the last
// two by chance about once in 10⁴ files.
func jpegScriptHeader(b []byte) bool {
	if len(b) < 6 || string(b[4:6]) != "/*" || !bytes.Contains(b[max(6, len(b)-32):], []byte("*/")) {
		return false
	}
	for rest := b[6:]; ; {
		i := bytes.Index(rest, []byte("*/"))
		if i < 0 {
			return false
		}
		rest = rest[i+2:]
		j := 0
		for j < len(rest) && j < 8 && isBlank(rest[j]) {
			j++
		}
		if j < len(rest) && (rest[j] == '=' || rest[j] == ';' || rest[j] == ',') {
			return true
		}
	}
}

func describe(d detection) string {
	switch {
	case d.note != "":
		return d.note
	case d.mime != "":
		return d.mime
	}
	return "unrecognised content"
}

// clip bounds a client-supplied string echoed in a threat detail.
func clip(s string) string {
	const n = 40
	if len(s) > n {
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func extOf(name string) string {
	if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return ""
	}
	return name[i:]
}

// serverExtensions are extensions a web server may execute or serve as
// active content wherever they appear in a name: Apache's mod_mime maps
// every extension of "x.php.png" (so it runs as PHP), IIS 6 stops at ';'
// ("x.asp;.png").
var serverExtensions = map[string]bool{
	"php": true, "php3": true, "php4": true, "php5": true, "php7": true, "php8": true, "pht": true, "phtml": true,
	"phar": true, "phps": true, "asp": true, "aspx": true, "asa": true, "cer": true, "ascx": true, "ashx": true,
	"asmx": true, "jsp": true, "jspx": true, "cgi": true, "pl": true, "py": true, "rb": true, "sh": true,
	"exe": true, "dll": true, "bat": true, "cmd": true, "com": true, "ps1": true, "vbs": true, "js": true,
	"mjs": true, "htm": true, "html": true, "xhtml": true, "shtml": true, "svg": true, "svgz": true,
	"xml": true, "swf": true, "jar": true, "war": true, "hta": true, "htaccess": true,
}

// riskyName reports why a file name could be handled as something other
// than its last extension says: a control character (a NUL ends the name
// in C-based code: "x.php\x00.png"), or an inner extension a server may
// execute ("x.php.png", "x.asp;.png"). It returns "" for a plain name.
func riskyName(name string) string {
	if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
		name = name[i+1:]
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return "holds a control character"
		}
	}
	// The parts between the first and the last dot, without allocating.
	i := strings.IndexByte(name, '.')
	last := strings.LastIndexByte(name, '.')
	for i >= 0 && i < last {
		rest := name[i+1:]
		j := strings.IndexByte(rest, '.')
		p := rest[:j]
		if k := strings.IndexAny(p, "; :"); k >= 0 {
			p = p[:k]
		}
		if len(p) <= 8 && serverExtensions[lowerASCII(p)] {
			return "has the inner extension " + clip("."+p)
		}
		i += 1 + j
	}
	return ""
}

// lowerASCII lower-cases up to eight bytes of s in a fixed buffer; inlined
// into a map lookup, the conversion needs no allocation.
func lowerASCII(s string) string {
	var b [8]byte
	n := copy(b[:], s)
	for k := range n {
		b[k] = lower(b[k])
	}
	return string(b[:n])
}

// Severity of each threat code. disallowed_type is critical when the
// content is executable, script, markup or an archive.
var severities = map[secmon.ThreatCode]secmon.Severity{
	secmon.ThreatSizeExceeded:     secmon.SeverityLow,
	secmon.ThreatTypeMismatch:     secmon.SeverityHigh,
	secmon.ThreatDisallowedType:   secmon.SeverityMedium,
	secmon.ThreatTrailingData:     secmon.SeverityMedium,
	secmon.ThreatEmbeddedArchive:  secmon.SeverityHigh,
	secmon.ThreatHTMLContent:      secmon.SeverityHigh,
	secmon.ThreatScriptInMetadata: secmon.SeverityHigh,
	secmon.ThreatPixelBomb:        secmon.SeverityHigh,
	secmon.ThreatCorrupt:          secmon.SeverityMedium,
	secmon.ThreatPolyglot:         secmon.SeverityCritical,

	secmon.ThreatScriptInImageData:    secmon.SeverityHigh,
	secmon.ThreatMetadataExfiltration: secmon.SeverityHigh,
	secmon.ThreatMalformedMetadata:    secmon.SeverityLow,
	secmon.ThreatTrailingPadding:      secmon.SeverityLow,
	secmon.ThreatUnsupportedEncoding:  secmon.SeverityLow,
}

// SeverityOf returns the severity the Validator gives a threat code
// (disallowed_type may be raised to critical for executable content).
func SeverityOf(code secmon.ThreatCode) secmon.Severity { return severities[code] }
