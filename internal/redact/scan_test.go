package redact

import (
	"strings"
	"testing"
)

var cleanKiB = strings.Repeat("user 42 opened /settings/display and changed the language to German; the request took 35 ms. ", 12)[:1024]

// BenchmarkScan measures Scan alone on a 1 KiB value without secrets and
// on one with a few.
func BenchmarkScan(b *testing.B) {
	for _, bc := range []struct{ name, v string }{
		{"1KiB-clean", cleanKiB},
		{"1KiB-secrets", cleanKiB[:900] + " password=hunter2 token: ghp_16C7e42F292c6912E7710c838347Ae178B4a bob@example.com"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.v)))
			var sp Spans
			for b.Loop() {
				sp.Reset()
				Scan(bc.v, &sp)
			}
		})
	}
}
