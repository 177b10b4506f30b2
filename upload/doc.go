// Package upload validates user uploads: size, type, structure, metadata,
// executable code anywhere in the file and polyglots, with sanitised (or
// re-encoded) copies and per-stage timings.
//
// [NewValidator] returns a [Validator], which implements
// secmon.UploadValidator. Config{} is a safe validator for chart and photo
// uploads: PNG, JPEG, GIF and WebP up to 5 MiB, 50 megapixels and 1,000
// animation frames, with sanitised copies on.
//
// # Stages
//
// Validate runs its stages in order, timing each into Verdict.Timings and
// a [Tracker]:
//
//   - size: the length is checked before any byte is read.
//   - magic: the content type is detected from the bytes (full signatures
//     for the image types; h2non/filetype for the rest) and must match the
//     declared Content-Type (parameters stripped, case ignored, empty or
//     application/octet-stream meaning no claim) and the extension of the
//     file name, and be allowed. A name with a control character or an
//     inner extension a server may execute (x.php.png, x.asp;.png: Apache
//     maps every extension, IIS 6 stops at ';') is a type_mismatch too.
//     ImageMagick MVG and MSL scripts (ImageTragick) are active content.
//     %PDF- in the first KiB, a GIF whose logical screen bytes open a
//     JavaScript comment, or a JPEG whose first segment length reads "/*"
//     closed later by "*/" and script, is a polyglot.
//   - structure: the file is walked to its logical end with bounds on
//     every length: PNG chunks with CRCs from IHDR to IEND; JPEG segments
//     and entropy-coded scans (byte stuffing and restart markers) to EOI;
//     GIF blocks, extensions and sub-blocks to the trailer; the WebP RIFF
//     size against the file and each chunk inside it. PNG's critical
//     chunks must be where the specification puts them: one IHDR first, at
//     most one PLTE, before the image data, in no greyscale image and in
//     every palette image, IDAT chunks consecutive; anything else is
//     corrupt, naming the chunk. Header dimensions × frames are checked
//     against MaxPixels before anything could be decoded (APNG frames are
//     the larger of acTL and the fcTL count; a WebP still image's bitstream
//     must match its VP8X canvas), the frame count (GIF images, APNG
//     frames, WebP ANMF frames) against MaxFrames, so that 40,000 frames of
//     one pixel are a pixel_bomb too, and a JPEG with more than
//     [MaxJPEGScans] scans is a pixel_bomb (decoders pass over the whole
//     picture once per scan). The pictures a JPEG's MPF index lists after
//     the first (a DSLR's large preview, a phone's depth or gain map) are
//     validated each alone; their threats are the upload's.
//   - metadata: every metadata block is scanned (see "What is scanned"),
//     then the whole file up to its logical end, pixel data included, for
//     executable code (see "Pixel data").
//   - decode (only with Config.Decode): PNG, JPEG and GIF are decoded. A
//     file valid by its format's specification that Go's decoders do not
//     implement is unsupported_encoding, not corrupt: a JPEG with 12-bit
//     samples, arithmetic coding, the lossless or hierarchical process, or
//     no DHT segment (motion-JPEG frames rely on the default Huffman
//     tables), and a GIF image with no colour table at all.
//   - reencode (only with Config.Reencode): see "Re-encoding".
//   - sanitize: the copy is built (see "Sanitising") and, unless it only
//     drops blocks from a file with no threat, validated again.
//
// # What is scanned
//
// Metadata blocks are scanned in one pass for markup, script, server-side
// code and event handlers (ASCII and UTF-16LE) and for embedded archive or
// executable signatures: PNG tEXt, zTXt and iTXt (inflated as a stream,
// capped by MaxTextChunk), eXIf, iCCP and unknown ancillary chunks; JPEG
// APPn (EXIF, XMP with extended-XMP parts joined by offset as readers join
// them, the ICC profile, the MPF index, the Adobe, Ducky and Photoshop
// segments, a JFIF thumbnail and others), COM and reserved-marker segments;
// GIF comment, application (all but an exact looping extension, which has
// no room for more) and plain-text extensions; WebP EXIF, XMP, ICCP and
// unknown chunks. Every byte that is kept and that no decoder reads as
// image data is read: a rendering chunk or extension of the wrong size is
// scanned and dropped (or corrupt, where image/gif refuses it).
//
// Only what a browser or an interpreter executes counts: <script, <?php,
// closed <?= … ?>, <? … ?> and <% … %> blocks (their quoted strings and
// comments may hold any byte, as PHP, ASP and JSP allow), <jsp:,
// server-side includes, <html, <!DOCTYPE html, <iframe, <object, <embed,
// <!ENTITY, javascript:, vbscript: and data:text/html URLs, an on…= event
// handler after a blank, a quote or "<tag/", and eval(, base64_decode(,
// gzinflate(, shell_exec(, passthru( (the EXIF backdoor that preg_replace
// /e runs). An XML DOCTYPE that is not HTML (the print-settings property
// list Photoshop stores in APP13 and XMP) is not, nor is an unclosed <?=,
// <? or <% (the file around it would not compile). In text (comments,
// XMP, text chunks, EXIF strings) &lt; and &#60; count as '<', <body
// counts, and tags that execute nothing by themselves (<img, <svg, <a,
// <meta, <base, <link, <form, <frame) count when their attributes carry an
// event handler or a script URL, with character references decoded and
// tabs and line breaks dropped as browsers do (href="java&#115;cript:…"):
// a caption holding <a href="https://…"> or <img src="…"> is not
// blocked.
//
// PNG text chunks whose keyword is "profile" (ImageMagick reads the file
// it names into the image it writes: CVE-2022-44268) or whose value is one
// local file name (an absolute, home- or parent-relative, drive or UNC
// path, a file: URL, ImageMagick's @file) are metadata_exfiltration, and
// sanitising removes them.
//
// # Pixel data
//
// The whole file up to its logical end, pixel data included (PNG IDAT,
// fdAT and PLTE; JPEG entropy-coded data and tables; GIF colour tables and
// LZW data; WebP bitstreams), is scanned for executable code with a
// structure random bytes practically never have, which is what compressed
// pixels look like:
//
//	<?php, a blank and 2 ASCII bytes         5·2⁻⁴⁵ · 0.383²       ≈ 2.1e-14 per byte
//	<?= ≥4 ASCII bytes ?>                    2⁻⁴⁰ · 0.383⁴/0.617   ≈ 3.2e-14
//	<? and a blank, ≥8 ASCII bytes, ?>       5·2⁻⁴⁰ · 0.383⁸/0.617 ≈ 3.4e-15
//	<% ≥12 ASCII bytes %>                    2⁻³² · 0.383¹²/0.617  ≈ 3.7e-15
//	<script and a blank, / or >              7·2⁻⁵⁸                ≈ 2.4e-17
//	<tag (blank or /) … on…= or javascript:  (bounded above by)    ≈ 2.6e-15
//
// (0.383 is the share of ASCII text bytes, 98 of 256; a run of at least k
// of them has odds 0.383ᵏ/0.617.) Together about 6.2e-14 per byte: a 5 MB
// photo is blocked by chance with odds of about 3.1e-7, one file in three
// million. These are the odds for random bytes;
// uncompressed pixels of a mid-grey picture (a PNG written without
// compression) hold long runs of ASCII and raise the odds of the closed
// forms. The PHP short forms must be closed by ?> (or __halt_compiler):
// PHP refuses to compile a file whose code runs into binary bytes, so a
// working payload is closed. Also scanned: a ZIP end-of-central-directory
// record in the last 64 KiB whose central directory is where it says (ZIP
// and JAR readers open such an image as an archive): embedded_archive.
// Code found in a block sanitising removes is script_in_metadata; anywhere
// else it is script_in_image_data, which only Config.Reencode can remove.
//
// # EXIF
//
// An EXIF block is bounded by the package's own pre-validator before
// github.com/rwcarlsen/goexif reads it: at most [MaxEXIFBytes], a valid
// TIFF header, at most [MaxEXIFIFDs] directories each visited once, at
// most [MaxEXIFEntries] entries each, only the twelve TIFF field types,
// every count × type size (computed without overflow) inside the block.
// goexif alone can be made to allocate 8–16 GiB by a 26-byte block whose
// count overflows, or to loop forever on two directories that point at each
// other; such blocks never reach it. goexif runs inside recover, and only
// its orientation is used.
//
// A block the pre-validator refuses is still scanned: whole, for the
// patterns of five bytes or more and executable code (it may hold a
// thumbnail), and the strings read before the fault as text, so PHP in a
// broken block is script_in_metadata. Malformations that serve only to
// attack parsers (a directory loop, more than MaxEXIFIFDs directories or
// MaxEXIFEntries entries, value areas aliased beyond twice the block, a
// value claimed to lie more than 1 MiB away) are corrupt. The others are
// what camera firmware writes (a sub-directory value pointing past the
// block, an unknown field type, EXIF split over two APP1 segments whose
// first points into the second): malformed_metadata, the block dropped by
// sanitising, the orientation read before the fault kept.
//
// # Threats
//
// Threat codes are the secmon.Threat* constants. Severities:
//
//	size_exceeded          low
//	type_mismatch          high
//	disallowed_type        medium; critical when the content is an
//	                       executable, script, HTML, PHP, an archive or an
//	                       ImageMagick script
//	trailing_data          medium (a file signature, markup, text, or more
//	                       than MaxStrayBytes varied bytes after the end)
//	trailing_padding       low, repairable (inert bytes after the end)
//	embedded_archive       high
//	html_content           high (markup after the image, or active SVG)
//	script_in_metadata     high
//	script_in_image_data   high
//	metadata_exfiltration  high
//	pixel_bomb             high (pixels, frames or JPEG scans)
//	corrupt                medium (truncated or malformed structure, bad
//	                       CRC, misplaced critical chunks, EXIF made to
//	                       attack parsers, a text chunk past MaxTextChunk,
//	                       a file Decode or Reencode finds broken)
//	malformed_metadata     low, repairable (EXIF that does not parse, an
//	                       MPF index pointing past the file)
//	unsupported_encoding   low (Decode or Reencode: valid, but Go's decoder
//	                       does not implement it)
//	polyglot               critical
//
// Only the first threat of each code is reported. Details name the
// pattern and the byte offset, never the file's bytes.
//
// # Allowed, repaired, blocked
//
// Verdict.Allowed is true when there is no threat, and also when every
// threat is repairable (malformed_metadata, trailing_padding) and the
// sanitised copy that removes them re-validates clean: cameras and editors
// write such files every day, and the copy is what a host stores. With
// Config.DisableSanitize nothing repairs them, and they are blocked.
//
// After the end of an image these are inert, cut as trailing_padding: one
// byte value repeated (any length); at most [MaxStrayBytes] bytes without
// four printable characters in a row; a Samsung trailer (SEFT, which Galaxy
// phones append to nearly every photo) holding no file and no markup. A
// file signature (a picture the MPF index does not list, a motion photo's
// video, an archive), markup or text keeps them trailing_data.
//
// # Sanitising
//
// Sanitising is on unless Config.DisableSanitize is set. Verdict.Sanitized
// is the file up to its logical end without its metadata, produced by
// dropping chunks and segments (never by re-encoding, so pixels are
// identical): PNG tEXt, zTXt, iTXt, eXIf, tIME, sPLT, hIST and unknown
// ancillary chunks (iCCP, sRGB, gAMA, cHRM, pHYs and the other rendering
// chunks of their proper size stay); JPEG APPn except APP0 JFIF (whose
// thumbnail goes), APP2 ICC_PROFILE and APP14 Adobe, COM, reserved-marker
// segments, and the MPF pictures after EOI; GIF comment, plain-text and
// application extensions except the NETSCAPE2.0 / ANIMEXTS1.0 looping
// extension and the ICCRGBG1012 colour profile; WebP EXIF, XMP and unknown
// chunks, with the VP8X flags and RIFF size fixed. A JPEG or PNG whose
// EXIF orientation is not 1 keeps a minimal EXIF block holding only that
// orientation, so a rotated photo still displays upright (WebP
// orientation is dropped: browsers ignore it).
//
// A blocked verdict also carries Sanitized when every threat lay in what
// the copy removes (metadata, trailing data, and with Reencode pixel data)
// and the copy re-validates clean, so a host may keep the stripped copy of
// a photo whose EXIF carried a script. Allowed still describes the
// original.
//
// # Re-encoding
//
// With Config.Reencode, Verdict.Sanitized of a PNG, JPEG or GIF is its
// pixels decoded and encoded again by the standard library (content
// disarm): nothing written into the pixel data survives byte for byte,
// so script_in_image_data is removable. The copy keeps the orientation (a
// minimal EXIF block), the ICC profile (JPEG, unless the original is CMYK,
// which Go writes as YCbCr) and PNG's colour and size chunks (iCCP, sRGB,
// gAMA, cHRM, cICP, mDCv, cLLI, pHYs). PNG and GIF stay lossless; JPEG is
// written at ReencodeQuality (default 90). A palette is copied byte for
// byte by both encoders, which is why bypass guides put PHP in PLTE: when
// the first copy does not re-validate clean, the palette is rebuilt (PNG
// as truecolour, GIF with its colours sorted) and the copy validated
// again. GIF keeps every frame and its timing; an APNG becomes its default
// image (Go has no APNG encoder); WebP and SVG are not re-encoded (the
// standard library has no WebP codec) and get the lossless copy. A file Go
// cannot decode is corrupt or unsupported_encoding, as with Decode.
// Re-encoding costs a full decode and encode: about 0.6–0.9 s and 20 MB for
// a 5 MB photo (benchmarks/results/upload.md), so it suits hosts that
// store few, untrusted images.
//
// # Limits
//
// The scanner is a deny-list; it is not a proof that a file is inert.
// What it does not cover, by design:
//
//   - In pixel data, only the structured forms above: a bare "<?=", "<img"
//     or an event handler without its tag, "<?php" without code after it,
//     a payload in UTF-16, or one whose code is broken up by binary bytes
//     outside strings is not looked for there (those patterns occur by
//     chance in compressed pixels), nor code that appears only after
//     decompressing pixel data. Image data carried inside metadata (an
//     EXIF, JFIF or Photoshop thumbnail, an EXIF maker note, a broken EXIF
//     block) is scanned for the patterns of five bytes or more and the
//     executable forms; sanitising removes these regions. A pattern that
//     begins in image data and ends in a metadata block's framing or
//     content is found: the edges of every block are scanned with 96 bytes
//     of what surrounds them.
//   - Text split across PNG text chunks, JPEG COM segments or ICC profile
//     segments is scanned per block: no reader of those joins them into
//     markup (extended XMP, which readers join, is joined).
//   - A NUL inside a tag name (<scr\x00ipt>) is not matched: HTML parsers
//     turn it into U+FFFD, which makes no script element. Entity decoding
//     covers '<' only.
//   - Only the GIF and JPEG header forms that JavaScript polyglots use are
//     polyglot; other header bytes that happen to parse as script are not
//     recognised.
//   - Other trailers than Samsung's (vendor data after EOI) are
//     trailing_data unless they are short and inert; the sanitised copy
//     cuts them.
//
// So serve stored uploads with their validated Content-Type and
// X-Content-Type-Options: nosniff, from an origin or path with no script
// handler, never hand them to an interpreter (include, eval), and escape
// metadata wherever it is displayed.
//
// # SVG
//
// SVG is never allowed by default. A host that adds TypeSVG gets the
// document scanned as a whole: script elements, event handler attributes,
// javascript: and vbscript: URLs, foreignObject, iframe/embed/object,
// entity declarations and references to external resources are
// html_content.
//
// # Performance
//
// Validation without decoding reads each byte a small constant number of
// times (the scan for executable code is one memchr-speed pass for '<'
// with a few comparisons at each) and allocates at most a few copies of
// the upload plus a fixed overhead (an inflater and scan windows). The
// [Tracker] keeps the last N durations per stage and logs stages slower
// than Config.SlowStage.
package upload
