package upload_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
	"github.com/secmon-go/secmon/upload"
)

// photoBytes is the size of the benchmark photos: 5 MB, under the 5 MiB
// default limit.
const photoBytes = 5_000_000

var photos = sync.OnceValue(func() map[string]secmon.Upload {
	return map[string]secmon.Upload{
		"png-5MB":  {Name: "photo.png", DeclaredType: upload.TypePNG, Data: uploadcorpus.PhotoPNG(photoBytes)},
		"jpeg-5MB": {Name: "photo.jpg", DeclaredType: upload.TypeJPEG, Data: uploadcorpus.PhotoJPEG(photoBytes)},
	}
})

func benchValidate(b *testing.B, cfg upload.Config, stage string) {
	for _, name := range []string{"png-5MB", "jpeg-5MB"} {
		b.Run(name, func(b *testing.B) {
			u := photos()[name]
			v := setup(b, cfg)
			b.SetBytes(int64(len(u.Data)))
			b.ReportAllocs()
			var stageTotal time.Duration
			for b.Loop() {
				vd, err := v.Validate(context.Background(), u)
				if err != nil || !vd.Allowed {
					b.Fatalf("%+v %v", vd.Threats, err)
				}
				for _, s := range vd.Timings {
					if s.Stage == stage {
						stageTotal += s.Duration
					}
				}
			}
			b.ReportMetric(float64(stageTotal.Microseconds())/1000/float64(b.N), stage+"-ms/op")
		})
	}
}

// BenchmarkValidate is full validation without decoding or sanitising.
func BenchmarkValidate(b *testing.B) {
	benchValidate(b, upload.Config{DisableSanitize: true}, upload.StageTotal)
}

// BenchmarkSanitize is validation plus the sanitised copy; sanitize-ms/op
// is the sanitise stage alone.
func BenchmarkSanitize(b *testing.B) {
	benchValidate(b, upload.Config{}, upload.StageSanitize)
}

// BenchmarkValidateDecode adds the full decode, for comparison.
func BenchmarkValidateDecode(b *testing.B) {
	benchValidate(b, upload.Config{DisableSanitize: true, Decode: true}, upload.StageDecode)
}

// BenchmarkValidateSmall is the common case: a small chart with metadata.
func BenchmarkValidateSmall(b *testing.B) {
	v := setup(b, upload.Config{})
	u := benign(b, "jpeg_with_exif_xmp_icc").Upload
	b.ReportAllocs()
	for b.Loop() {
		if vd, _ := v.Validate(context.Background(), u); !vd.Allowed {
			b.Fatal(vd.Threats)
		}
	}
}

// BenchmarkReencode is validation with Config.Reencode: the upload is
// decoded, encoded again by the standard library and the copy validated;
// reencode-ms/op is the decode and encode alone.
func BenchmarkReencode(b *testing.B) {
	benchValidate(b, upload.Config{Reencode: true}, upload.StageReencode)
}
