package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestSummaryLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pg, redis int64
		want      string
	}{
		{0, 0, ""},
		{3, 0, "secmon: 3 tests skipped for want of PostgreSQL; run them with SECMON_TEST_DATABASE_URL=" + ExampleDatabaseURL + " go test ./..."},
		{0, 2, "secmon: 2 tests skipped for want of Redis; run them with SECMON_TEST_REDIS_ADDR=" + ExampleRedisAddr + " go test ./..."},
		{3, 2, "secmon: 5 tests skipped for want of PostgreSQL (3) or Redis (2); run them with SECMON_TEST_DATABASE_URL=" + ExampleDatabaseURL +
			" SECMON_TEST_REDIS_ADDR=" + ExampleRedisAddr + " go test ./..."},
	} {
		if got := SummaryLine(tc.pg, tc.redis); got != tc.want {
			t.Errorf("SummaryLine(%d, %d) = %q, want %q", tc.pg, tc.redis, got, tc.want)
		}
	}
}

func TestServicePackages(t *testing.T) {
	t.Parallel()
	dirs, err := ServicePackages(filepath.Join("testdata", "skipsummary"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		names = append(names, filepath.Base(d))
	}
	if !slices.Equal(names, []string{"a", "zz"}) {
		t.Errorf("ServicePackages = %v, want a and zz (b uses no service)", names)
	}
}

// goTest runs go test with args on the fake packages in
// testdata/skipsummary with no service configured and returns its standard
// output, read through a pipe as a terminal user's would be.
func goTest(t *testing.T, args ...string) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the skip summary is written on Linux only")
	}
	if testing.Short() {
		t.Skip("runs go test")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	cmd := exec.Command(goBin, append([]string{"test"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECMON_TEST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output() // a pipe
	if err != nil {
		t.Fatalf("go test: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestSkipSummaryEndsTheRun runs go test on a fake module of three packages:
// a (three tests skip for want of a service, one of them a subtest), b (no
// service, finishes after a) and zz (sorts last, prints the summary). The
// summary is the line before zz's own result, after b's.
func TestSkipSummaryEndsTheRun(t *testing.T) {
	t.Parallel()
	// The second run may take b's result from go test's cache; a, which
	// skips, and zz run again, and the count is the same.
	for _, args := range [][]string{{"-count=1"}, {}} {
		lines := goTest(t, append(args, "./testdata/skipsummary/...")...)
		if len(lines) != 4 {
			t.Fatalf("go test %v printed %d lines, want 4:\n%s", args, len(lines), strings.Join(lines, "\n"))
		}
		for i, suffix := range []string{"/a", "/b", "", "/zz"} {
			if i == 2 {
				continue
			}
			if f := strings.Fields(lines[i]); len(f) < 2 || f[0] != "ok" || !strings.HasSuffix(f[1], suffix) {
				t.Errorf("go test %v: line %d = %q, want ok for %s", args, i+1, lines[i], suffix)
			}
		}
		if want := SummaryLine(2, 1); lines[2] != want {
			t.Errorf("go test %v: line 3 = %q, want %q", args, lines[2], want)
		}
		if strings.Contains(lines[0], "(cached)") {
			t.Errorf("go test %v: a's result came from the cache although its tests skipped", args)
		}
	}
}

// TestSkipSummaryCountsTheRun checks that a run of some packages counts
// their skips only, and that a run whose result go test kept from the cache
// (b skips nothing, so it may be cached) still gets its line, since a
// package that skips is never cached.
func TestSkipSummaryCountsTheRun(t *testing.T) {
	t.Parallel()
	lines := goTest(t, "-count=1", "./testdata/skipsummary/b", "./testdata/skipsummary/zz")
	for _, l := range lines {
		if strings.HasPrefix(l, "secmon:") {
			t.Errorf("a run without skips printed %q", l)
		}
	}
	if len(lines) != 2 {
		t.Errorf("go test printed:\n%s", strings.Join(lines, "\n"))
	}
	lines = goTest(t, "-count=1", "./testdata/skipsummary/a", "./testdata/skipsummary/zz")
	if len(lines) != 3 || lines[1] != SummaryLine(2, 1) {
		t.Errorf("a and zz printed:\n%s", strings.Join(lines, "\n"))
	}
}
