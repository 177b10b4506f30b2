// Package uploadcorpus builds a corpus of hostile and benign uploads in
// memory, so that a host application can test its own upload path (its
// handler, its storage, whatever validator it uses) against the files
// attackers actually send.
//
// # Hostile
//
// [Hostile] covers an upload security suite: an oversized file; an image
// under a wrong extension or Content-Type, or under a name whose inner
// extension a server executes (chart.php.png, chart.asp;.png,
// chart.php\x00.png); Windows (PE), ELF, shell, HTML, PHP and ZIP content
// named as an image; script in EXIF ImageDescription, in a UTF-16LE
// XPComment, in a JPEG COM segment, in XMP, in PNG tEXt and zTXt chunks, in
// a GIF comment and in WebP EXIF; a PNG with a ZIP or HTML appended; a
// GIFAR (GIF + JAR); a GIF/JavaScript polyglot (GIF89a/*…*/=alert(1)); a
// JPEG that is also a PDF; a WebP without its RIFF header; PNG, JPEG and
// GIF pixel bombs (a 20000×20000 PNG in about 150 bytes); truncated PNG and
// JPEG; the two EXIF blocks that make github.com/rwcarlsen/goexif allocate
// gigabytes or loop forever; a zTXt decompression bomb; an SVG with script.
//
// It also holds files aimed at validators that skip what they keep or
// read each block alone:
//
//   - GIF: PHP in extra sub-blocks of a graphic control extension; script
//     after the loop count of a NETSCAPE2.0 extension; "<?php" completed by
//     a sub-block's length byte, so that it lies whole in the file but not
//     in the joined comment; 60 frames each under
//     the pixel limit but over it together.
//   - JPEG: PHP or script in the ICC profile, the Adobe segment, a JFIF
//     thumbnail or a reserved-marker segment; script in an EXIF GPS
//     directory and PHP in EXIF bytes no tag points at; entity-encoded
//     script (&lt;script&gt;) in an XMP title; script split across two
//     extended-XMP segments, which readers join; a COM segment whose length
//     field (0x3C3F, "<?") and text ("=`id`?>") make "<?=`id`?>" together;
//     300 empty scans (a decoder CPU bomb).
//   - PNG: a text ending "<?" whose CRC is forged to read "=`id"; PHP in an
//     iCCP keyword; script after the four bytes of a gAMA
//     chunk; PHP after the compressed stream of a zTXt chunk; a PHP short
//     open tag (<? …) in tEXt; a link whose href is an entity-encoded
//     javascript: URL in iTXt; an APNG whose acTL understates its frames.
//   - WebP: PHP in the ICC profile; script after the six bytes of ANIM;
//     "<?p" at the end of a bitstream completed by the next chunk's header
//     ("hp /", size '*') into a PHP program; PHP
//     in an unknown chunk inside an animation frame; pixel bombs in the VP8X
//     canvas and in a bitstream larger than its canvas or frame.
//
// It holds files built after public upload-bypass techniques too:
//
//   - payloads stored literally in pixel data: the PHP-in-IDAT "resize
//     bypass" (<?=$_GET[0]($_POST[1]);?>), PHP, ASP and an SVG onload tag
//     in IDAT, PHP in PLTE and in a GIF palette (palettes survive
//     re-encoding), PHP, JSP and script in JPEG scan data as JPEG payload
//     generators write it, PHP in GIF LZW data, a ZIP stored in the last
//     pixel rows of a PNG;
//   - the JPEG/JavaScript polyglot (APP0 length "/*"), an ImageMagick MVG
//     file (CVE-2016-3714) named .png;
//   - frame bombs: a GIF of 40,000 one-pixel frames, an APNG and an
//     animated WebP of 1,100;
//   - a second PLTE, a second IHDR, a chunk before IHDR;
//   - CVE-2022-44268 text chunks ("profile" in tEXt and zTXt) and an iTXt
//     naming a local file;
//   - PHP in an EXIF block that fails pre-validation, and the EXIF
//     backdoor read by preg_replace /e ("/.*/e" in Make, eval in Model);
//   - PHP in an MPF preview picture, and a Samsung motion photo (a video
//     after EOI).
//
// # Benign
//
// [Benign] holds files a validator must accept: plain PNG, JPEG, animated
// GIF, lossless and animated WebP, and files with ordinary metadata (EXIF
// with an orientation, XMP, an ICC profile, a JFIF thumbnail, PNG text
// chunks, a GIF comment, WebP EXIF and XMP), a JPEG as Photoshop on
// macOS saves it (IPTC and its print-settings property list, with a
// DOCTYPE, in APP13 and XMP), a phone JPEG with an MPF index, a maker
// note, Ducky and Adobe segments, a DSLR JPEG with its MPF large preview
// after EOI, a paletted PNG and a GIF of 1,000 frames.
//
// # Repairable
//
// [Repairable] holds files cameras write that a validator must accept
// once sanitised, each with the low-severity code it records: an EXIF
// sub-directory pointing past its block, EXIF split over two APP1
// segments, stray bytes after EOI, zero padding after IEND, a Samsung
// trailer.
//
// Every file is generated on each call; no file is read from disk or the
// network. [PhotoPNG] and [PhotoJPEG] build large photo-like images for
// performance tests.
package uploadcorpus
