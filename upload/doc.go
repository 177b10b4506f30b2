// Package upload validates user uploads: size, type, structure, metadata
// and polyglots, with lossless sanitising and per-stage timings.
//
// [NewValidator] returns a [Validator], which implements
// secmon.UploadValidator. Config{} is a safe validator for chart and photo
// uploads: PNG, JPEG, GIF and WebP up to 5 MiB and 50 megapixels, with
// sanitised copies on.
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
//     %PDF- in the first KiB, or a GIF whose
//     logical screen bytes open a JavaScript comment, is a polyglot.
//   - structure: the file is walked to its logical end with bounds on
//     every length: PNG chunks with CRCs from IHDR to IEND; JPEG segments
//     and entropy-coded scans (byte stuffing and restart markers) to EOI;
//     GIF blocks, extensions and sub-blocks to the trailer; the WebP RIFF
//     size against the file and each chunk inside it. Header dimensions ×
//     frames are checked against MaxPixels here, before anything could be
//     decoded (APNG frames are the larger of acTL and the fcTL count; a
//     WebP still image's bitstream must match its VP8X canvas), and a JPEG
//     with more than [MaxJPEGScans] scans is a pixel_bomb (decoders pass
//     over the whole picture once per scan).
//   - metadata: metadata, never pixel data, is scanned in one pass for
//     markup, script, server-side code and event handlers (ASCII and
//     UTF-16LE) and for embedded archive or executable signatures: PNG
//     tEXt, zTXt and iTXt (inflated as a stream, capped by MaxTextChunk),
//     eXIf, iCCP and unknown ancillary chunks; JPEG APPn (EXIF, XMP with
//     extended-XMP parts joined by offset as readers join them, the ICC
//     profile, the Adobe segment, a JFIF thumbnail and others), COM and
//     reserved-marker segments; GIF comment, application (all but an exact
//     looping extension, which has no room for more) and plain-text
//     extensions; WebP EXIF, XMP, ICCP and unknown chunks. Every byte that
//     is kept and that no decoder reads as image data is read: a rendering
//     chunk or extension of the wrong size is scanned and dropped (or
//     corrupt, where image/gif refuses it). In text (comments, XMP, text
//     chunks, EXIF strings) &lt; and &#60; count as '<', and the short
//     patterns (<%, <? , <a ) apply.
//   - decode (only with Config.Decode): PNG, JPEG and GIF are decoded.
//   - sanitize: the lossless copy is built (see below).
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
// other; such blocks are reported corrupt and never reach it. goexif runs
// inside recover, and only its orientation is used.
//
// # Threats
//
// Threat codes are the secmon.Threat* constants. Severities:
//
//	size_exceeded       low
//	type_mismatch       high
//	disallowed_type     medium; critical when the content is an executable,
//	                    script, HTML, PHP or an archive
//	trailing_data       medium
//	embedded_archive    high
//	html_content        high (markup after the image, or active SVG content)
//	script_in_metadata  high
//	pixel_bomb          high
//	corrupt             medium (truncated or malformed structure, bad CRC,
//	                    malformed EXIF, a text chunk past MaxTextChunk)
//	polyglot            critical
//
// Only the first threat of each code is reported. Details name the
// pattern and the byte offset, never the file's bytes.
//
// Known strictness: JPEGs with data after EOI (multi-picture MPO files,
// "motion photos" with an appended video) are reported as trailing_data;
// their sanitised copy is the first picture alone.
//
// # Sanitising
//
// Sanitising is on unless Config.DisableSanitize is set. Verdict.Sanitized
// is the file up to its logical end without its metadata, produced by
// dropping chunks and segments (never by re-encoding, so pixels are
// identical): PNG tEXt, zTXt, iTXt, eXIf, tIME, sPLT, hIST and unknown
// ancillary chunks (iCCP, sRGB, gAMA, cHRM, pHYs and the other rendering
// chunks of their proper size stay); JPEG APPn except APP0 JFIF (whose
// thumbnail goes), APP2 ICC_PROFILE and APP14 Adobe, COM, and
// reserved-marker segments; GIF
// comment, plain-text and application extensions except the NETSCAPE2.0 /
// ANIMEXTS1.0 looping extension and the ICCRGBG1012 colour profile; WebP EXIF, XMP and unknown chunks, with
// the VP8X flags and RIFF size fixed. A JPEG or PNG whose EXIF orientation
// is not 1 keeps a minimal EXIF block holding only that orientation, so a
// rotated photo still displays upright (WebP orientation is dropped:
// browsers ignore it).
//
// A blocked verdict also carries Sanitized when every threat lay in what
// sanitising removes (metadata, trailing data) and the copy re-validates
// clean, so a host may keep the stripped copy of a photo whose EXIF
// carried a script. Allowed still
// describes the original.
//
// # Limits
//
// The scanner is a deny-list over metadata; it is not a proof that a file
// is inert. What it does not cover, by design:
//
//   - Image data is never scanned: PNG IDAT and fdAT, PLTE and tRNS; JPEG
//     entropy-coded data and its DQT and DHT tables; GIF colour tables and
//     LZW sub-blocks (including bytes after the LZW end code, which only
//     Config.Decode notices); WebP VP8/VP8L bitstreams and ALPH. A payload
//     there passes and sanitising keeps it (PHP written into IDAT can even
//     survive re-encoding). A pattern that begins in image data and ends in
//     a metadata block's framing or content is found: the edges of every
//     block are scanned with 96 bytes of what surrounds them. Matching patterns in compressed pixels would
//     block ordinary photos by chance. Image data carried inside metadata
//     (an EXIF, JFIF or Photoshop APP13 thumbnail, an EXIF maker note) is
//     scanned for the
//     patterns of five bytes or more only (<?php, <script, javascript:,
//     archive signatures…): <?=, <img or an event handler turn up by chance
//     in tens of kilobytes of pixels. Sanitising removes these regions.
//   - Text split across PNG text chunks, JPEG COM segments or ICC profile
//     segments is scanned per block: no reader of those joins them into
//     markup (extended XMP, which readers join, is joined).
//   - A NUL inside a tag name (<scr\x00ipt>) is not matched: HTML parsers
//     turn it into U+FFFD, which makes no script element. Entity decoding
//     covers '<' only.
//   - Only the GIF header forms that JavaScript polyglots use (GIF89a/*,
//     GIF89a//) are polyglot; other header bytes that happen to parse as
//     script are not recognised.
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
// times and allocates at most a few copies of the upload plus a fixed
// overhead (an inflater and scan windows). The [Tracker] keeps the last N
// durations per stage and logs stages slower than Config.SlowStage.
package upload
