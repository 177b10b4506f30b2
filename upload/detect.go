package upload

import (
	"bytes"
	"strings"

	"github.com/h2non/filetype"
)

type formatID uint8

const (
	fmtUnknown formatID = iota
	fmtPNG
	fmtJPEG
	fmtGIF
	fmtWebP
	fmtSVG
	numFormats
)

// format is what the validator knows about one image type.
type format struct {
	mime      string
	walk      func(*state)
	decodable bool
	// exifContainer wraps a minimal EXIF block in the format's container
	// (nil: orientation is not carried over when sanitising).
	exifContainer func(tiff []byte) []byte
	// fixup patches headers of the sanitised copy in place.
	fixup func(out []byte)
	// reencode decodes and encodes the upload again (nil: not supported).
	reencode func(st *state, rebuild bool) ([]byte, error)
}

var formats = [numFormats]*format{
	fmtPNG:  {mime: TypePNG, walk: walkPNG, decodable: true, exifContainer: pngEXIFChunk},
	fmtJPEG: {mime: TypeJPEG, walk: walkJPEG, decodable: true, exifContainer: jpegEXIFSegment},
	fmtGIF:  {mime: TypeGIF, walk: walkGIF, decodable: true},
	fmtWebP: {mime: TypeWebP, walk: walkWebP, fixup: fixWebP},
	fmtSVG:  {mime: TypeSVG, walk: walkSVG},
}

func formatOfMIME(t string) formatID {
	switch {
	case strings.EqualFold(t, TypePNG), strings.EqualFold(t, "image/x-png"):
		return fmtPNG
	case strings.EqualFold(t, TypeJPEG), strings.EqualFold(t, "image/jpg"), strings.EqualFold(t, "image/pjpeg"):
		return fmtJPEG
	case strings.EqualFold(t, TypeGIF):
		return fmtGIF
	case strings.EqualFold(t, TypeWebP):
		return fmtWebP
	case strings.EqualFold(t, TypeSVG):
		return fmtSVG
	}
	return fmtUnknown
}

func formatOfExt(ext string) formatID {
	switch {
	case strings.EqualFold(ext, ".png"):
		return fmtPNG
	case strings.EqualFold(ext, ".jpg"), strings.EqualFold(ext, ".jpeg"), strings.EqualFold(ext, ".jpe"), strings.EqualFold(ext, ".jfif"):
		return fmtJPEG
	case strings.EqualFold(ext, ".gif"):
		return fmtGIF
	case strings.EqualFold(ext, ".webp"):
		return fmtWebP
	case strings.EqualFold(ext, ".svg"):
		return fmtSVG
	}
	return fmtUnknown
}

// detection is what the magic bytes say.
type detection struct {
	format formatID
	mime   string // empty when unknown
	note   string // a description when mime alone would mislead
	active bool   // executable, script, markup or archive
}

// activeTypes are the filetype MIME types treated as active content.
var activeTypes = map[string]bool{
	"application/zip":                               true,
	"application/java-archive":                      true,
	"application/pdf":                               true,
	"application/x-shockwave-flash":                 true,
	"application/x-executable":                      true,
	"application/x-mach-binary":                     true,
	"application/x-msdownload":                      true,
	"application/vnd.rar":                           true,
	"application/x-rar-compressed":                  true,
	"application/x-7z-compressed":                   true,
	"application/vnd.microsoft.portable-executable": true,
	"application/x-sh":                              true,
}

// detect identifies the content from its bytes. Image signatures are
// checked in full here (filetype accepts a WebP from bytes 8–11 alone);
// executables, scripts and markup are recognised before filetype gets the
// rest.
func detect(b []byte) detection {
	switch {
	case hasPrefix(b, "\x89PNG\r\n\x1a\n"):
		return detection{format: fmtPNG, mime: TypePNG}
	case hasPrefix(b, "\xff\xd8\xff"):
		return detection{format: fmtJPEG, mime: TypeJPEG}
	case hasPrefix(b, "GIF87a"), hasPrefix(b, "GIF89a"):
		return detection{format: fmtGIF, mime: TypeGIF}
	case len(b) >= 12 && hasPrefix(b, "RIFF") && string(b[8:12]) == "WEBP":
		return detection{format: fmtWebP, mime: TypeWebP}
	case len(b) >= 12 && string(b[8:12]) == "WEBP":
		return detection{note: "a WEBP marker at byte 8 without a RIFF header"}
	case hasPrefix(b, "MZ"):
		return detection{mime: "application/vnd.microsoft.portable-executable", note: "a Windows executable (MZ)", active: true}
	case hasPrefix(b, "\x7fELF"):
		return detection{mime: "application/x-executable", note: "an ELF executable", active: true}
	case hasPrefix(b, "\xcf\xfa\xed\xfe"), hasPrefix(b, "\xce\xfa\xed\xfe"), hasPrefix(b, "\xfe\xed\xfa\xcf"), hasPrefix(b, "\xfe\xed\xfa\xce"):
		return detection{mime: "application/x-mach-binary", note: "a Mach-O executable", active: true}
	case hasPrefix(b, "#!"):
		return detection{mime: "text/x-shellscript", note: "a script (#!)", active: true}
	case imageMagickScript(b):
		return detection{mime: "image/x-mvg", note: "an ImageMagick MVG or MSL script (ImageTragick)", active: true}
	}
	if d, ok := sniffText(b); ok {
		return d
	}
	if kind, err := filetype.Match(b); err == nil && kind != filetype.Unknown {
		m := kind.MIME.Value
		if m == TypeWebP || m == TypePNG || m == TypeJPEG || m == TypeGIF {
			// filetype accepted a signature the checks above rejected.
			return detection{note: "content resembling " + m + " with an invalid signature"}
		}
		return detection{mime: m, active: activeTypes[m]}
	}
	return detection{}
}

// imageMagickScript recognises ImageMagick's vector and scripting formats,
// which it detects from content whatever the file is named, and whose
// url(), image over and msl: primitives run commands and read files
// (CVE-2016-3714 and its relatives).
func imageMagickScript(b []byte) bool {
	b = bytes.TrimLeft(b[:min(len(b), 1024)], " \t\r\n")
	for _, p := range [...]string{"push graphic-context", "viewbox ", "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<image"} {
		if foldAt(b, 0, p, 1) {
			return true
		}
	}
	return false
}

// sniffText recognises markup, PHP and SVG documents after an optional
// byte-order mark and white space.
func sniffText(b []byte) (detection, bool) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	i := 0
	for i < len(b) && i < 1024 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	b = b[i:]
	if len(b) == 0 || b[0] != '<' {
		return detection{}, false
	}
	for _, p := range [...]string{"<?php", "<?="} {
		if foldAt(b, 0, p, 1) {
			return detection{mime: "application/x-php", note: "PHP source", active: true}, true
		}
	}
	for _, p := range [...]string{"<!doctype html", "<html", "<head", "<body", "<script", "<iframe"} {
		if foldAt(b, 0, p, 1) {
			return detection{mime: "text/html", note: "an HTML document", active: true}, true
		}
	}
	if foldAt(b, 0, "<svg", 1) {
		return detection{format: fmtSVG, mime: TypeSVG}, true
	}
	if foldAt(b, 0, "<?xml", 1) || foldAt(b, 0, "<!--", 1) || foldAt(b, 0, "<!doctype", 1) {
		head := b[:min(len(b), 4096)]
		for j := range head {
			if head[j] == '<' && foldAt(head, j, "<svg", 1) {
				return detection{format: fmtSVG, mime: TypeSVG}, true
			}
		}
		return detection{mime: "text/xml", note: "an XML document"}, true
	}
	return detection{}, false
}
