package upload

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
)

// BenchmarkScanWhole is the scan of every byte for executable code alone,
// beside its floor: one pass of bytes.Count over the same 5 MB for the
// byte every signature starts with.
func BenchmarkScanWhole(b *testing.B) {
	for name, data := range map[string][]byte{
		"png-5MB":  uploadcorpus.PhotoPNG(5_000_000),
		"jpeg-5MB": uploadcorpus.PhotoJPEG(5_000_000),
	} {
		v, err := NewValidator(Config{})
		if err != nil {
			b.Fatal(err)
		}
		st := &state{v: v, data: data, end: len(data)}
		st.format = formats[detect(data).format]
		st.format.walk(st)
		b.Run(name+"/scan", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				st.threats = st.threats[:0]
				st.scanWhole()
				if len(st.threats) != 0 {
					b.Fatal(st.threats)
				}
			}
		})
		b.Run(name+"/count-baseline", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if bytes.Count(data[:st.end], []byte{'<'}) == 0 {
					b.Fatal("no '<' in 5 MB of compressed pixels")
				}
			}
		})
	}
}

// Random bytes, which compressed pixels resemble, hold no executable
// signature: 64 MiB from a fixed seed (the expected count by the odds in
// the package documentation is 4e-6).
func TestScanWholeRandomBytes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4<<20)
	for range 16 {
		for i := 0; i < len(buf); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], r.Uint64())
		}
		for i := 0; i < len(buf); i++ {
			k := bytes.IndexByte(buf[i:], '<')
			if k < 0 {
				break
			}
			i += k
			if name, _, ok := execAt(buf, i, false); ok {
				t.Fatalf("%q at %d in random bytes", name, i)
			}
		}
	}
}
