package benchmarks

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gabriel-vasile/mimetype"
	"github.com/h2non/filetype"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/upload"
)

// uploadPhotos are the photo-like 5 MB images every contender reads.
var uploadPhotos = sync.OnceValue(func() map[string][]byte {
	return map[string][]byte{
		"png-5MB":  uploadcorpus.PhotoPNG(5_000_000),
		"jpeg-5MB": uploadcorpus.PhotoJPEG(5_000_000),
	}
})

var imageTypes = []string{upload.TypePNG, upload.TypeJPEG, upload.TypeGIF, upload.TypeWebP}

// filetypeAllows is what an upload path built on filetype accepts: content
// detected as an allowed image type.
func filetypeAllows(b []byte) bool {
	k, err := filetype.Match(b)
	if err != nil {
		return false
	}
	for _, t := range imageTypes {
		if k.MIME.Value == t {
			return true
		}
	}
	return false
}

func mimetypeAllows(b []byte) bool {
	m := mimetype.Detect(b)
	for _, t := range imageTypes {
		if m.Is(t) {
			return true
		}
	}
	return false
}

// BenchmarkUpload validates the same 5 MB photos with secmon (full
// structure and metadata validation, no decode, no sanitising; and with
// sanitising) and detects their type with filetype.Match and
// mimetype.Detect, which read only the first bytes.
func BenchmarkUpload(b *testing.B) {
	v, err := upload.NewValidator(upload.Config{DisableSanitize: true})
	if err != nil {
		b.Fatal(err)
	}
	vs, err := upload.NewValidator(upload.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"png-5MB", "jpeg-5MB"} {
		data := uploadPhotos()[name]
		u := secmon.Upload{Name: "photo." + strings.TrimSuffix(name, "-5MB"), Data: data}
		b.Run(name+"/secmon", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if vd, err := v.Validate(context.Background(), u); err != nil || !vd.Allowed {
					b.Fatal(vd.Threats, err)
				}
			}
		})
		b.Run(name+"/secmon-sanitize", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if vd, err := vs.Validate(context.Background(), u); err != nil || vd.Sanitized == nil {
					b.Fatal(vd.Threats, err)
				}
			}
		})
		b.Run(name+"/filetype", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if !filetypeAllows(data) {
					b.Fatal("not an image")
				}
			}
		})
		b.Run(name+"/mimetype", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if !mimetypeAllows(data) {
					b.Fatal("not an image")
				}
			}
		})
	}
}

// TestUploadPeersLetThrough builds the table of which hostile files each
// peer lets through (detects as an allowed image type) beside secmon's
// verdict, and holds the facts the comparison rests on: secmon blocks every
// hostile file, and both peers let through the appended-archive, metadata
// script and polyglot files.
func TestUploadPeersLetThrough(t *testing.T) {
	v, err := upload.NewValidator(upload.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var tbl strings.Builder
	tbl.WriteString("| hostile file | secmon | filetype.Match | mimetype.Detect |\n|---|---|---|---|\n")
	mark := func(through bool) string {
		if through {
			return "**let through**"
		}
		return "blocked"
	}
	var ftThrough, mtThrough, n int
	let := map[string][2]bool{}
	for _, c := range uploadcorpus.Hostile() {
		vd, err := v.Validate(context.Background(), c.Upload)
		if err != nil {
			t.Fatal(err)
		}
		if vd.Allowed {
			t.Errorf("secmon let %s through", c.Name)
		}
		ft, mt := filetypeAllows(c.Upload.Data), mimetypeAllows(c.Upload.Data)
		let[c.Name] = [2]bool{ft, mt}
		n++
		if ft {
			ftThrough++
		}
		if mt {
			mtThrough++
		}
		secmonCol := "blocked: " + strings.Join(codesOf(vd), ", ")
		fmt.Fprintf(&tbl, "| %s | %s | %s | %s |\n", c.Name, secmonCol, mark(ft), mark(mt))
	}
	fmt.Fprintf(&tbl, "| **let through** | **0 / %d** | **%d / %d** | **%d / %d** |\n", n, ftThrough, n, mtThrough, n)
	t.Log("\n" + tbl.String())

	for _, name := range []string{"png_zip_appended", "png_html_appended", "jpeg_exif_script", "jpeg_com_php",
		"gifar", "gif_js_polyglot", "pixel_bomb_png", "goexif_count_overflow", "goexif_ifd_loop"} {
		if l := let[name]; !l[0] || !l[1] {
			t.Errorf("%s: filetype let through %v, mimetype %v; the comparison assumes both do", name, l[0], l[1])
		}
	}
	// filetype reads only bytes 8–11 of a WebP and never looks for a PDF
	// header past byte 0; mimetype catches both of these.
	for _, name := range []string{"webp_without_riff", "jpeg_pdf_polyglot"} {
		if l := let[name]; !l[0] || l[1] {
			t.Errorf("%s: filetype let through %v, mimetype %v; the comparison assumes only filetype does", name, l[0], l[1])
		}
	}
}

func codesOf(vd secmon.Verdict) []string {
	var c []string
	for _, t := range vd.Threats {
		c = append(c, string(t.Code))
	}
	return c
}
