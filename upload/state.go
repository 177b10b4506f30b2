package upload

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"

	"github.com/secmon-go/secmon"
)

// state is one validation in progress.
type state struct {
	v      *Validator
	data   []byte
	mime   string
	format *format

	end                   int   // logical end of the image
	width, height, frames int64 // from the headers
	pixels                int64 // what decoding would allocate, in pixels
	spans                 []span
	edits                 []edit
	threats               []threatAt
	scratch               []byte // reused by walkers that join sub-blocks
	inflater              io.ReadCloser
	streamBuf             *streamScanner
	inflated              int64    // bytes inflated from compressed text so far
	exifParsed            bool     // the EXIF parser has seen one block
	unsupported           string   // why Go's decoder cannot read this valid file, if known
	repaired              []byte   // sanitised copy of an upload whose every threat it removes
	mpf                   [][2]int // pictures after the first that a JPEG's MPF index lists
	mpfAt                 int      // offset of that index
}

// threatAt is a threat with the offset it was found at; -1 means the whole
// file (sanitising cannot remove it).
type threatAt struct {
	secmon.Threat
	off       int
	imageData bool // lies in pixel data: only re-encoding removes it
}

type spanKind uint8

const (
	spanRaw  spanKind = iota // scan the bytes as they are
	spanZlib                 // inflate, then scan
	spanEXIF                 // a TIFF-structured EXIF block
)

// span is a metadata region to scan.
type span struct {
	off, end int
	// cOff, cEnd bound the container (chunk or segment with its length,
	// type and CRC); zero means the edit's range, or the span itself.
	cOff, cEnd int
	where      string // e.g. "PNG tEXt chunk"
	text       bool
	image      bool // image data (a thumbnail): only patterns too long to occur by chance
	kind       spanKind
	edit       int    // index in state.edits of the edit that removes the container; -1 none
	joined     []byte // when set, the content to scan instead of data[off:end]
	pngValue   bool   // the compressed value of a PNG text chunk: checked for a local file name
}

// edit replaces data[off:end] with repl when sanitising.
type edit struct {
	off, end int
	repl     []byte
}

func (st *state) add(code secmon.ThreatCode, off int, detail string) {
	st.addSev(code, severities[code], off, detail)
}

// addSev records a threat; only the first of each code is kept.
func (st *state) addSev(code secmon.ThreatCode, sev secmon.Severity, off int, detail string) {
	for i := range st.threats {
		if st.threats[i].Code == code {
			if off < 0 {
				st.threats[i].off = -1 // one occurrence sanitising cannot remove
			}
			return
		}
	}
	st.threats = append(st.threats, threatAt{Threat: secmon.Threat{Code: code, Severity: sev, Detail: detail}, off: off})
}

// addImageData records a threat located in pixel data.
func (st *state) addImageData(code secmon.ThreatCode, off int, detail string) {
	n := len(st.threats)
	st.add(code, off, detail)
	if len(st.threats) > n {
		st.threats[n].imageData = true
	}
}

// repairable reports whether a code names a fault that the sanitised copy
// repairs and that does not block an upload when sanitising is on.
func repairable(code secmon.ThreatCode) bool {
	return code == secmon.ThreatMalformedMetadata || code == secmon.ThreatTrailingPadding
}

// onlyRepairable reports whether every threat is repairable.
func (st *state) onlyRepairable() bool {
	for _, t := range st.threats {
		if !repairable(t.Code) {
			return false
		}
	}
	return true
}

// corrupt records a corrupt threat, formatting the detail only for the
// first one.
func (st *state) corrupt(off int, format string, args ...any) {
	for i := range st.threats {
		if st.threats[i].Code == secmon.ThreatCorrupt {
			if off < 0 {
				st.threats[i].off = -1
			}
			return
		}
	}
	st.add(secmon.ThreatCorrupt, off, fmt.Sprintf(format, args...))
}

func (st *state) publicThreats() []secmon.Threat {
	if len(st.threats) == 0 {
		return nil
	}
	out := make([]secmon.Threat, len(st.threats))
	for i, t := range st.threats {
		out[i] = t.Threat
	}
	return out
}

// drop removes data[off:end] when sanitising and returns the edit index.
func (st *state) drop(off, end int) int {
	if len(st.edits) >= 2*MaxMetadataBlocks {
		st.corrupt(-1, "more than %d metadata blocks", MaxMetadataBlocks)
		return len(st.edits) - 1
	}
	st.edits = append(st.edits, edit{off: off, end: end})
	return len(st.edits) - 1
}

// MaxMetadataBlocks is the most metadata chunks, segments or extensions
// one file may carry; more is reported corrupt. It bounds the bookkeeping
// a file made of thousands of empty metadata blocks could cost.
const MaxMetadataBlocks = 256

func (st *state) addSpan(s span) {
	if s.cEnd == 0 {
		s.cOff, s.cEnd = s.off, s.end
		if s.edit >= 0 && s.edit < len(st.edits) {
			if c := st.edits[s.edit]; c.off <= s.off && s.end <= c.end {
				s.cOff, s.cEnd = c.off, c.end
			}
		}
	}
	if len(st.spans) == MaxMetadataBlocks {
		st.corrupt(-1, "more than %d metadata blocks", MaxMetadataBlocks)
	}
	if len(st.spans) >= MaxMetadataBlocks {
		return
	}
	st.spans = append(st.spans, s)
}

// mulPixels multiplies without overflow, saturating at MaxInt64.
func mulPixels(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(lo)
}

func addPixels(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<63 - 1
}

// MaxStrayBytes is the most bytes after the end of an image that may be
// inert padding: cameras and editors leave a few (a CR LF, a NUL, a
// Ctrl-Z), and some pad with one repeated byte to a block size, of any
// length. Inert means no file signature, no markup and no text (four
// printable characters in a row).
const MaxStrayBytes = 256

// trailing reports the bytes after the logical end, from byte from on
// (the pictures an MPF index lists before it were validated already):
// trailing_padding (low, cut by sanitising) when they are inert padding or
// a Samsung trailer without files or markup, trailing_data otherwise.
func (st *state) trailing(from int) {
	tail := st.data[from:]
	if len(tail) == 0 {
		return
	}
	h, marked := scanBytes(tail, true)
	sig := fileSignature(tail)
	if !marked && sig == "" {
		switch {
		case uniform(tail) || len(tail) <= MaxStrayBytes && !hasText(tail):
			st.add(secmon.ThreatTrailingPadding, from, fmt.Sprintf("%d inert bytes after the end of the %s at byte %d, cut by sanitising", len(tail), st.mime, from))
			return
		case samsungTrailer(tail):
			st.add(secmon.ThreatTrailingPadding, from, fmt.Sprintf("a %d-byte Samsung trailer (SEFT) after the end of the %s at byte %d, holding no file and no markup, cut by sanitising", len(tail), st.mime, from))
			return
		}
	}
	detail := fmt.Sprintf("%d bytes after the end of the %s at byte %d", len(tail), st.mime, from)
	if sig != "" {
		detail += ": " + sig
	}
	st.add(secmon.ThreatTrailingData, from, detail)
	if marked {
		if h.kind == hitArchive {
			st.add(secmon.ThreatEmbeddedArchive, from+h.off, fmt.Sprintf("%s in the trailing data at byte %d", h.name, from+h.off))
		} else {
			st.add(secmon.ThreatHTMLContent, from+h.off, fmt.Sprintf("%q markup in the trailing data at byte %d", h.name, from+h.off))
		}
	}
}

// samsungTrailer reports whether b is a Samsung trailer: records, then a
// SEFH directory whose size the last eight bytes give before "SEFT".
// Galaxy phones append one to nearly every photo (a UTC time stamp, the
// network code, effect settings).
func samsungTrailer(b []byte) bool {
	if len(b) < 20 || string(b[len(b)-4:]) != "SEFT" {
		return false
	}
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	dir := len(b) - 8 - n
	if n < 12 || dir < 0 || string(b[dir:dir+4]) != "SEFH" {
		return false
	}
	count := int(binary.LittleEndian.Uint32(b[dir+8:]))
	if count < 1 || count > 64 || 12+12*count > n {
		return false
	}
	for i := range count {
		e := b[dir+12+12*i:]
		back, size := int(binary.LittleEndian.Uint32(e[4:])), int(binary.LittleEndian.Uint32(e[8:]))
		if back <= 0 || back > dir || size < 0 || size > back {
			return false
		}
	}
	return true
}

// hasText reports whether b holds a run of four printable ASCII
// characters: words, markup or script, which padding never holds.
func hasText(b []byte) bool {
	n := 0
	for _, c := range b {
		if c >= 0x21 && c < 0x7f {
			if n++; n == 4 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

// uniform reports whether b is one byte repeated.
func uniform(b []byte) bool {
	for _, c := range b {
		if c != b[0] {
			return false
		}
	}
	return true
}

// trailerSignatures are file signatures found after an image's end: a
// second picture (MPF, burst), a motion photo's video, a vendor trailer.
var trailerSignatures = [...]signature{
	{"\xff\xd8\xff", "a JPEG picture"},
	{"\x89PNG", "a PNG picture"},
	{"GIF8", "a GIF picture"},
	{"RIFF", "a RIFF file"},
	{"ftyp", "an ISO media file (video)"},
}

// fileSignature names a file signature in b, or returns "".
func fileSignature(b []byte) string {
	for _, s := range trailerSignatures {
		if bytes.Contains(b, []byte(s.s)) {
			return s.name
		}
	}
	for _, s := range signatures {
		if bytes.Contains(b, []byte(s.s)) {
			return s.name
		}
	}
	if d := detect(b); d.mime != "" {
		return describe(d)
	}
	return ""
}

// reportHit turns a hit inside metadata into a threat.
func (st *state) reportHit(h hit, off int, where string) {
	enc := ""
	if h.wide {
		enc = " (UTF-16LE)"
	}
	if h.kind == hitArchive {
		st.add(secmon.ThreatEmbeddedArchive, off, fmt.Sprintf("%s in %s at byte %d", h.name, where, off))
		return
	}
	st.add(secmon.ThreatScriptInMetadata, off, fmt.Sprintf("%q%s in %s at byte %d", h.name, enc, where, off))
}

// scanMetadata scans every metadata span the walker collected. Pixel data
// is never scanned.
func (st *state) scanMetadata() {
	for _, s := range st.spans {
		b := st.data[s.off:s.end]
		// A pattern may begin in the container's framing and end in the
		// content, or the other way round: a JPEG length of 0x3C3F reads
		// "<?", a PNG CRC forged to "=`id" completes a text ending "<?".
		// It may also begin in the block before, image data that is never
		// scanned ("<?p" at the end of a WebP bitstream, then a chunk named
		// "hp /"). The edges are scanned again as binary (image data: long
		// patterns only) from scanOverlap bytes before the container to
		// scanOverlap bytes into the content, and from scanOverlap bytes
		// before the content's end to scanOverlap bytes after the container.
		edge := modeBinary
		if s.image {
			edge = modeImage
		}
		if from, to := max(0, s.cOff-scanOverlap), min(s.end, s.off+scanOverlap); from < s.off {
			if h, ok := scanStraddle(st.data, from, to, s.off, s.end, s.cOff, s.cEnd, edge); ok {
				st.reportHit(h, max(s.cOff, h.off), s.where)
			}
		}
		if from, to := max(s.off, s.end-scanOverlap), min(len(st.data), s.cEnd+scanOverlap); to > s.end {
			if h, ok := scanStraddle(st.data, from, to, s.off, s.end, s.cOff, s.cEnd, edge); ok {
				st.reportHit(h, min(s.cEnd-1, h.off), s.where)
			}
		}
		if s.joined != nil {
			// What a reader of the joined content sees, then the bytes as
			// they lie in the file: a GIF sub-block's length byte can be
			// the last letter of "<?php" in the file and vanish when the
			// sub-blocks are joined.
			if h, ok := scanBytes(s.joined, s.text); ok {
				st.reportHit(h, s.off, s.where)
			} else if h, ok := scanBytes(b, s.text); ok {
				st.reportHit(h, s.off+h.off, s.where)
			}
			continue
		}
		switch s.kind {
		case spanRaw:
			mode := modeBinary
			switch {
			case s.image:
				mode = modeImage
			case s.text:
				mode = modeText
			}
			if h, ok := scanIn(b, mode); ok {
				st.reportHit(h, s.off+h.off, s.where)
			}
		case spanZlib:
			st.scanZlib(s, b)
		case spanEXIF:
			st.scanEXIF(s, b)
		}
	}
}

// scanZlib inflates b as a stream, scanning it in fixed windows, and stops
// at the configured cap: nothing proportional to the inflated size is ever
// allocated.
func (st *state) scanZlib(s span, b []byte) {
	var err error
	// A bytes.Reader is an io.ByteReader, so the inflater reads exactly the
	// stream and its checksum, and r.Len() is then what follows them.
	r := bytes.NewReader(b)
	if st.inflater == nil {
		st.inflater, err = zlib.NewReader(r)
	} else {
		err = st.inflater.(zlib.Resetter).Reset(r, nil)
	}
	if err != nil {
		st.corrupt(s.off, "%s: bad compressed stream", s.where)
		return
	}
	if st.streamBuf == nil {
		st.streamBuf = new(streamScanner)
	}
	sc := st.streamBuf
	sc.n, sc.base, sc.text = 0, 0, s.text
	var buf [2048]byte
	var head [maxPathValue + 1]byte
	nhead := 0
	for {
		n, rerr := st.inflater.Read(buf[:])
		if s.pngValue {
			nhead += copy(head[nhead:], buf[:n])
		}
		st.inflated += int64(n)
		if st.inflated > st.v.maxText {
			st.corrupt(s.off, "compressed text inflates past the %d-byte limit at %s (decompression bomb)", st.v.maxText, s.where)
			return
		}
		if h, _, ok := sc.write(buf[:n]); ok {
			st.reportHit(h, s.off, s.where+" (inflated)")
			return
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			st.corrupt(s.off, "%s: bad compressed stream", s.where)
			return
		}
	}
	if h, _, ok := sc.flush(); ok {
		st.reportHit(h, s.off, s.where+" (inflated)")
		return
	}
	if s.pngValue && localPath(head[:nhead]) {
		st.add(secmon.ThreatMetadataExfiltration, s.off, fmt.Sprintf("%s at byte %d names a local file: converters that read it leak the file into their output", s.where, s.off))
	}
	// Bytes after the compressed stream are skipped by every reader but
	// kept in the file: scan them, and call them corrupt in any case.
	if rest := r.Len(); rest > 0 {
		at := s.end - rest
		if h, ok := scanBytes(b[len(b)-rest:], s.text); ok {
			st.reportHit(h, at+h.off, s.where+" after the compressed stream")
			return
		}
		st.corrupt(at, "%s: %d bytes after the compressed stream", s.where, rest)
	}
}

// scanEXIF pre-validates an EXIF block, scans its string values, and only
// then lets the EXIF parser read it.
func (st *state) scanEXIF(s span, b []byte) {
	info, err := prevalidateEXIF(b)
	if err != nil {
		st.brokenEXIF(s, b, info, err)
		return
	}
	// The whole block first: bytes no tag points at (slack after the
	// directories) are still bytes a host storing the original keeps. The
	// thumbnail and the maker note are image data and vendor binary: only
	// the long patterns apply there.
	pos := 0
	for _, r := range info.image[:info.nimage] {
		if h, ok := scanIn(b[pos:r.off], modeBinary); ok {
			st.reportHit(h, s.off+pos+h.off, s.where)
		}
		if h, ok := scanIn(b[r.off:r.end], modeImage); ok {
			st.reportHit(h, s.off+r.off+h.off, s.where)
		}
		pos = r.end
	}
	if h, ok := scanIn(b[pos:], modeBinary); ok {
		st.reportHit(h, s.off+pos+h.off, s.where)
	}
	for _, val := range info.values {
		if h, ok := scanBytes(b[val.off:val.off+val.len], val.text); ok {
			st.reportHit(h, s.off+val.off+h.off, s.where+" "+exifTagName(val.tag))
		}
	}
	o := info.orientation
	if !st.exifParsed { // the first block sets the orientation; later ones are only scanned
		st.exifParsed = true
		g, err := st.v.decodeEXIF(b)
		if err != nil {
			st.corrupt(s.off, "%s: %v", s.where, err)
			return
		}
		if g != 0 {
			o = g
		}
	}
	if o >= 2 && o <= 8 && s.edit >= 0 && st.format.exifContainer != nil {
		st.edits[s.edit].repl = st.format.exifContainer(minimalEXIF(o))
	}
}

// brokenEXIF handles a block the pre-validator refused. It is still
// scanned: whole as image data (a broken block may hold a thumbnail, so
// only the long patterns and executable code apply), and the strings read
// before the fault as text. A malformation made to attack parsers is
// corrupt; any other is malformed_metadata, which sanitising repairs by
// dropping the block (keeping an orientation read before the fault).
func (st *state) brokenEXIF(s span, b []byte, info exifInfo, err error) {
	if h, ok := scanIn(b, modeImage); ok {
		st.reportHit(h, s.off+h.off, s.where)
	}
	for _, val := range info.values {
		if h, ok := scanBytes(b[val.off:val.off+val.len], val.text); ok {
			st.reportHit(h, s.off+val.off+h.off, s.where+" "+exifTagName(val.tag))
		}
	}
	if errors.Is(err, errEXIFAttack) || s.edit < 0 {
		st.corrupt(s.off, "%s: %v", s.where, err)
		return
	}
	st.add(secmon.ThreatMalformedMetadata, s.off, fmt.Sprintf("%s: %v; removed by sanitising", s.where, strings.TrimPrefix(err.Error(), "upload: ")))
	if o := info.orientation; o >= 2 && o <= 8 && !st.exifParsed && st.format.exifContainer != nil {
		st.exifParsed = true
		st.edits[s.edit].repl = st.format.exifContainer(minimalEXIF(o))
	}
}

// allRemovable reports whether the sanitised copy removes the location of
// every threat: metadata blocks and trailing data, and pixel data when it
// is re-encoded.
func (st *state) allRemovable() bool {
	for _, t := range st.threats {
		switch {
		case t.imageData:
			if !st.reencoding() {
				return false
			}
		case t.off < 0:
			return false
		case t.off >= st.end:
		case !st.inEdit(t.off):
			return false
		}
	}
	return true
}

// reencoding reports whether the sanitised copy is re-encoded.
func (st *state) reencoding() bool { return st.v.reencode && st.format.reencode != nil }

// sanitized applies the edits to data[:end], then the format's fixups.
func (st *state) sanitized() []byte {
	n := st.end
	for _, e := range st.edits {
		n += len(e.repl) - (e.end - e.off)
	}
	out := make([]byte, 0, n)
	pos := 0
	for _, e := range st.edits {
		out = append(out, st.data[pos:e.off]...)
		out = append(out, e.repl...)
		pos = e.end
	}
	out = append(out, st.data[pos:st.end]...)
	if st.format.fixup != nil {
		st.format.fixup(out)
	}
	return out
}
