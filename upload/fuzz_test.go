package upload

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
)

// FuzzValidate feeds arbitrary bytes under every declared type. Validate
// must not panic (its internal recover turns a panic into an error, which
// fails here), must not allow a file it reports threats for, and its
// sanitised copy of an allowed file must itself be allowed and no larger;
// it must not allocate more than a small multiple of the input.
func FuzzValidate(f *testing.F) {
	for _, c := range append(append(uploadcorpus.Hostile(), uploadcorpus.Benign()...), uploadcorpus.Repairable()...) {
		if len(c.Upload.Data) <= 64<<10 {
			f.Add(c.Upload.Data, c.Upload.Name, c.Upload.DeclaredType)
		}
	}
	for _, data := range hostileAllocInputs(f) {
		f.Add(data, "x.png", "")
	}
	// EXIF with a thumbnail (image-data ranges) and a Photoshop APP13
	// segment with resources.
	jpg := corpusCase(f, "jpeg").Upload.Data
	for _, seg := range [][]byte{
		append([]byte("\xff\xe1\x00\x00Exif\x00\x00"), tiffWithThumbnail([]byte("\xff\xd8<?=\xff\xd9"), []byte("x"))...),
		append([]byte("\xff\xed\x00\x00Photoshop 3.0\x008BIM\x04\x0c\x00\x00\x00\x00\x00\x04\xff\xd8\xff\xd98BIM\x04\x04\x00\x00\x00\x00\x00\x02ab"), nil...),
	} {
		binary.BigEndian.PutUint16(seg[2:], uint16(len(seg)-2))
		f.Add(append(append(bytes.Clone(jpg[:2]), seg...), jpg[2:]...), "x.jpg", "image/jpeg")
	}
	v, err := NewValidator(Config{AllowedTypes: []string{TypePNG, TypeJPEG, TypeGIF, TypeWebP, TypeSVG}, MaxTextChunk: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, name, declared string) {
		u := secmon.Upload{Name: name, DeclaredType: declared, Data: data}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		vd, err := v.Validate(context.Background(), u)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		// The input, a sanitised copy and its re-validation, goexif's
		// widening of one EXIF block, plus a fixed overhead.
		if n := after.TotalAlloc - before.TotalAlloc; n > uint64(16*len(data)+(1<<20)) {
			t.Fatalf("%d bytes allocated for a %d-byte input", n, len(data))
		}
		checkVerdict(t, vd)
		if vd.Sanitized == nil {
			return
		}
		if len(vd.Sanitized) > len(data)+64 {
			t.Fatalf("sanitised copy grew from %d to %d bytes", len(data), len(vd.Sanitized))
		}
		again, err := v.Validate(context.Background(), secmon.Upload{Name: name, DeclaredType: declared, Data: vd.Sanitized})
		if err != nil || !again.Allowed {
			t.Fatalf("sanitised copy: %+v, %v", again.Threats, err)
		}
		if !bytes.Equal(again.Sanitized, vd.Sanitized) {
			t.Fatal("sanitising is not idempotent")
		}
	})
}

// checkVerdict holds the verdict's contract: a blocked upload names a
// threat; an allowed one has none, or only repairable low threats and the
// copy that repairs them.
func checkVerdict(t *testing.T, vd secmon.Verdict) {
	t.Helper()
	if !vd.Allowed && len(vd.Threats) == 0 {
		t.Fatal("blocked without a threat")
	}
	if !vd.Allowed {
		return
	}
	for _, th := range vd.Threats {
		if !repairable(th.Code) || th.Severity != secmon.SeverityLow || vd.Sanitized == nil {
			t.Fatalf("allowed with threat %+v (sanitised copy: %v)", th, vd.Sanitized != nil)
		}
	}
}

// FuzzReencode feeds arbitrary bytes to a validator that decodes and
// re-encodes: no panic, no error, and a copy it hands out re-validates
// clean under the plain validator.
func FuzzReencode(f *testing.F) {
	for _, c := range append(append(uploadcorpus.Hostile(), uploadcorpus.Benign()...), uploadcorpus.Repairable()...) {
		if len(c.Upload.Data) <= 16<<10 {
			f.Add(c.Upload.Data, c.Upload.Name)
		}
	}
	re, err := NewValidator(Config{Reencode: true, Decode: true, MaxPixels: 1 << 16, MaxFrames: 64})
	if err != nil {
		f.Fatal(err)
	}
	plain, err := NewValidator(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		vd, err := re.Validate(context.Background(), secmon.Upload{Name: name, Data: data})
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		checkVerdict(t, vd)
		if vd.Sanitized == nil {
			return
		}
		again, err := plain.Validate(context.Background(), secmon.Upload{Name: name, Data: vd.Sanitized})
		if err != nil || !again.Allowed || len(again.Threats) != 0 {
			t.Fatalf("re-encoded copy: %+v, %v", again.Threats, err)
		}
	})
}

// FuzzEXIFPrevalidate checks that whatever the pre-validator accepts,
// goexif then parses without panicking and within a bounded allocation.
func FuzzEXIFPrevalidate(f *testing.F) {
	for _, c := range append(uploadcorpus.Hostile(), uploadcorpus.Benign()...) {
		d := c.Upload.Data
		if i := bytes.Index(d, []byte("Exif\x00\x00")); i >= 0 && bytes.HasPrefix(d, []byte("\xff\xd8")) {
			end := min(len(d), i+6+MaxEXIFBytes)
			f.Add(d[i+6 : end])
		}
	}
	f.Add([]byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"))
	v, err := NewValidator(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := prevalidateEXIF(b)
		if err != nil {
			return
		}
		for _, val := range info.values {
			if val.off < 0 || val.len < 0 || val.off+val.len > len(b) {
				t.Fatalf("value %+v outside the %d-byte block", val, len(b))
			}
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := v.decodeEXIF(b); err != nil {
			t.Fatalf("goexif failed on a pre-validated block: %v", err)
		}
		runtime.ReadMemStats(&after)
		// goexif widens each BYTE value to an int64 and reads every IFD
		// into its own structures: allow 64 bytes per input byte.
		if n := after.TotalAlloc - before.TotalAlloc; n > uint64(64*len(b)+(1<<20)) {
			t.Fatalf("goexif allocated %d bytes for a %d-byte block", n, len(b))
		}
	})
}
