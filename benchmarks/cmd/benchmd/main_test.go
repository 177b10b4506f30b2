package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkAllow/hot/secmon-2         	10000000	        20.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllow/hot/secmon-2         	10000000	        22.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllow/hot/secmon-2         	10000000	        30.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllow/hot/golimiter-2      	 5000000	        80.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkAllow/hot/golimiter-2      	 5000000	        88.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkInsert/copy_secmon-2       	       1	 1000000 ns/op	    150000 rows/s
BenchmarkInsert/one_insert_per_event-2	       1	 2000000 ns/op	      4000 rows/s
--- SKIP: BenchmarkRedis
PASS
`

func TestParseAndRatios(t *testing.T) {
	res := parse(strings.NewReader(sample))
	if len(res) != 4 {
		t.Fatalf("parsed %d benchmarks, want 4", len(res))
	}
	if res[0].name != "Allow/hot/secmon" || median(res[0].samples["ns/op"]) != 22 {
		t.Fatalf("first = %s median %v", res[0].name, median(res[0].samples["ns/op"]))
	}
	if got := median(res[1].samples["ns/op"]); got != 84 {
		t.Fatalf("even median = %v, want 84", got)
	}
	var buf bytes.Buffer
	writeSection(&buf, suite{Title: "t", Dir: "."}, []string{"test"}, res)
	out := buf.String()
	for _, want := range []string{
		"| Allow/hot/golimiter | 84 ns/op, 16 B/op, 1 allocs/op | ns/op ×3.82",
		"| Allow/hot/secmon | 22 ns/op, 0 B/op, 0 allocs/op | baseline |",
		"rows/s ×37.5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{"A/b-2": "A/b", "A/b-x": "A/b-x", "A": "A", "A/size-10-8": "A/size-10"} {
		if got := trimProcs(in); got != want {
			t.Errorf("trimProcs(%q) = %q, want %q", in, got, want)
		}
	}
}
