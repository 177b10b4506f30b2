package testenv

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The skip summary.
//
// go test ./... runs one test binary per package, several at a time, and
// prints each package's result in package order once it and every package
// before it have finished. A passing package's own output is not shown, so
// no test binary can print a line the user sees by writing to its standard
// output. The summary therefore works in three parts:
//
//  1. Every package whose tests may skip for want of PostgreSQL or Redis
//     runs its tests through M in its TestMain. When the tests are done, M
//     writes a record of how many skipped for each service, even when none
//     did, into a directory of this go command's run (named after the go
//     process's ID and start time) under .secmon-test-skips in the module
//     root. The first call of DatabaseURL, RedisAddr or RedisClient creates
//     the record, and go test's cache refuses the result of a test that
//     read a file changed in the last two seconds inside the module: these
//     packages always run, so a count is never replayed from an older run.
//  2. The package zztestsummary, whose import path sorts after every other
//     package of the module (a test there checks it), runs
//     RunWithSummary. Because go test prints results in package order, its
//     result is printed last. After its own tests it waits until every
//     package of the run has finished: every package with service tests
//     has written its record and the go command has no other child process
//     left (so every earlier package's "ok" line is out), or the go command
//     has had no other child for three seconds (the packages without a
//     record were not in the run, or their result came from the cache,
//     which keeps only results that skipped nothing). It then writes the
//     summary line straight to the go command's standard output, just
//     before its own "ok" line, and removes the run's records.
//  3. The line counts the tests of the run: go test ./store/...
//     ./zztestsummary counts the skips of the store packages.
//
// The line is written only on Linux (it reads /proc to find the go command
// and its standard output), only when the test binary's parent is the go
// command, only outside CI (SECMON_TEST_REQUIRE_SERVICES unset: there,
// tests fail instead of skipping) and only when a test skipped. It is not
// written when the go command's standard output is a regular file opened
// without O_APPEND (go test ./... > log), where a second writer would
// overwrite the go command's own output; with go test -v it is the summary
// package's own output.

// Skip counters of this test binary.
var skippedPostgres, skippedRedis atomic.Int64

// service names the service a skipped test wanted.
type service int

const (
	postgres service = iota
	redisSvc
)

func countSkip(s service) {
	switch s {
	case postgres:
		skippedPostgres.Add(1)
	case redisSvc:
		skippedRedis.Add(1)
	}
}

// Main wraps a *testing.M; see M.
type Main struct{ m *testing.M }

// M wraps the *testing.M of a package whose tests call DatabaseURL,
// RedisAddr or RedisClient, so that its Run also records, once the tests are
// done, how many of them skipped for want of each service: the count the
// skip summary printed at the end of go test ./... adds up. Use it in
// TestMain, with or without goleak:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(testenv.M(m)) }
//	func TestMain(m *testing.M) { os.Exit(testenv.M(m).Run()) }
func M(m *testing.M) *Main { return &Main{m: m} }

// Run runs the tests and writes the package's record of skipped tests.
func (x *Main) Run() int {
	recording.Store(true)
	code := x.m.Run()
	if dir, ok := runDir(); ok {
		if err := writeRecord(dir); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: recording skipped tests: %v\n", err)
		}
		cleanFinished(filepath.Dir(dir))
	}
	return code
}

// recording is set by Main.Run: this binary's skips are recorded.
var recording atomic.Bool

// startRecord creates this package's record, once, from inside a test (the
// service helpers call it): the file the test creates in the module tree
// keeps go test from caching the package's result, whose skip count the
// summary needs fresh.
var startRecord = sync.OnceFunc(func() {
	if !recording.Load() {
		return
	}
	if dir, ok := runDir(); ok {
		_ = writeRecord(dir)
	}
})

// record is what one package's test binary reports.
type record struct {
	Dir      string `json:"dir"` // the package directory (the binary's working directory)
	Postgres int64  `json:"postgres"`
	Redis    int64  `json:"redis"`
	PID      int    `json:"pid"`
}

func writeRecord(dir string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(wd); err == nil {
		wd = real
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(record{Dir: wd, Postgres: skippedPostgres.Load(), Redis: skippedRedis.Load(), PID: os.Getpid()})
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(wd))
	name := filepath.Join(dir, hex.EncodeToString(sum[:8])+".json")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o600) // through os.OpenFile, so go test logs the file
	if err != nil {
		return err
	}
	f.Close()
	tmp := name + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, name) // the summary never reads half a record
}

// goParent returns the ID of the go command that started this test binary
// and the start time of that process in clock ticks, or ok false when the
// parent is not the go command or /proc cannot tell.
func goParent() (pid int, start string, ok bool) {
	if runtime.GOOS != "linux" {
		return 0, "", false
	}
	pid = os.Getppid()
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return 0, "", false
	}
	start, ok = processStart(strconv.Itoa(pid))
	return pid, start, ok
}

// summaryWanted reports whether this environment gets a skip summary: not
// under CI, where a missing service fails the test.
func summaryWanted() bool { return os.Getenv(RequireServicesVar) == "" }

// runDir is the directory of this go command's run, where records go.
func runDir() (string, bool) {
	if !summaryWanted() {
		return "", false
	}
	pid, start, ok := goParent()
	if !ok {
		return "", false
	}
	root, ok := recordsRoot()
	if !ok {
		return "", false
	}
	return filepath.Join(root, strconv.Itoa(pid)+"-"+start), true
}

// RecordsDir is the directory, in the module root, that holds the records
// of runs in progress. Its name starts with a dot, so go ./... patterns
// never see it.
const RecordsDir = ".secmon-test-skips"

// recordsRoot returns RecordsDir in the module that holds the working
// directory: the nearest parent with a go.mod.
func recordsRoot() (string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, RecordsDir), true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// SummaryLine is the skip summary for the given counts; empty when nothing
// skipped.
func SummaryLine(pg, redis int64) string {
	switch {
	case pg > 0 && redis > 0:
		return fmt.Sprintf("secmon: %d tests skipped for want of PostgreSQL (%d) or Redis (%d); run them with %s=%s %s=%s go test ./...",
			pg+redis, pg, redis, DatabaseURLVar, ExampleDatabaseURL, RedisAddrVar, ExampleRedisAddr)
	case pg > 0:
		return fmt.Sprintf("secmon: %d tests skipped for want of PostgreSQL; run them with %s=%s go test ./...",
			pg, DatabaseURLVar, ExampleDatabaseURL)
	case redis > 0:
		return fmt.Sprintf("secmon: %d tests skipped for want of Redis; run them with %s=%s go test ./...",
			redis, RedisAddrVar, ExampleRedisAddr)
	}
	return ""
}

// Example values of the service variables: the services .ci/run starts.
const (
	ExampleDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	ExampleRedisAddr   = "127.0.0.1:6379"
)

// ServicePackages returns the directories under root, a module root, whose
// tests may skip for want of a service: those with a _test.go file that
// imports this package or sqlschematest. Nested modules, testdata and
// directories starting with "." or "_" are left out, as go test ./... leaves
// them out.
func ServicePackages(root string) ([]string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	var dirs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root {
			name := d.Name()
			if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		uses, err := importsTestenv(path)
		if err != nil {
			return err
		}
		if uses {
			dirs = append(dirs, path)
		}
		return nil
	})
	return dirs, err
}

// serviceImports are the packages whose use marks a package as one with
// service tests.
var serviceImports = []string{
	"github.com/secmon-go/secmon/internal/testenv",
	"github.com/secmon-go/secmon/sqlschema/sqlschematest",
}

func importsTestenv(dir string) (bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return false, err
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			return false, err
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if slices.Contains(serviceImports, p) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Summary timing.
const (
	summaryPoll    = 100 * time.Millisecond
	summaryQuiet   = 300 * time.Millisecond // no other child of the go command for this long: every earlier result is printed
	summaryIdle    = 3 * time.Second        // records missing and the go command idle this long: the run is over
	summaryMaxWait = 5 * time.Minute
)

// NotCached keeps the calling package's result out of go test's cache, the
// way a record does for a package with service tests: from inside test t
// it rewrites the file RecordsDir/summary.run, which stays in place, so go
// test sees a file read by the test changed moments ago. The summary
// package calls it, so that its summary is printed on every run.
func NotCached(t testing.TB) {
	t.Helper()
	dir, ok := runDir()
	if !ok {
		return
	}
	root := filepath.Dir(dir)
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Logf("testenv: %v", err)
		return
	}
	f, err := os.OpenFile(filepath.Join(root, "summary.run"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Logf("testenv: %v", err)
		return
	}
	f.Close()
}

// RunWithSummary runs m's tests and then, once every other package of the
// go test run of the module at root has finished, prints the skip summary
// line (see the comment at the top of skips.go). It returns the tests' exit
// code. Only the package whose import path sorts last may call it, and one
// of its tests calls NotCached.
func RunWithSummary(m *testing.M, root string) int {
	code := m.Run()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return code
	}
	dir, ok := runDir()
	if !ok {
		return code
	}
	defer cleanRecords(dir)
	expected, err := ServicePackages(root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: finding the packages with service tests: %v\n", err)
		return code
	}
	if wd, err := os.Getwd(); err == nil { // the summary package itself writes no record
		if real, err := filepath.EvalSymlinks(wd); err == nil {
			wd = real
		}
		expected = slices.DeleteFunc(expected, func(d string) bool { return d == wd })
	}
	goPID, _, _ := goParent()
	pg, redis, complete := waitForRecords(dir, expected, goPID)
	if !complete {
		return code
	}
	if line := SummaryLine(pg, redis); line != "" {
		writeSummary(goPID, line)
	}
	return code
}

// waitForRecords waits until every package of the run has finished and
// returns the summed counts of their records. Every package has finished
// when every expected package has written its record and the go command
// has no other child process (summaryQuiet), or when the go command has had
// no other child for summaryIdle: the expected packages without a record
// then did not run, being outside the run or kept from an earlier run by go
// test's cache, which keeps only results that skipped nothing (a skip
// creates a record, and a record keeps a result out of the cache). complete
// is false after summaryMaxWait.
func waitForRecords(dir string, expected []string, goPID int) (pg, redis int64, complete bool) {
	deadline := time.Now().Add(summaryMaxWait)
	var quietSince time.Time
	for time.Now().Before(deadline) {
		recs := readRecords(dir)
		missing := 0
		for _, d := range expected {
			if _, ok := recs[d]; !ok {
				missing++
			}
		}
		if otherChildren(goPID) {
			quietSince = time.Time{}
		} else if quietSince.IsZero() {
			quietSince = time.Now()
		}
		quiet := time.Duration(0)
		if !quietSince.IsZero() {
			quiet = time.Since(quietSince)
		}
		if missing == 0 && quiet >= summaryQuiet || quiet >= summaryIdle {
			pg, redis = 0, 0
			for _, r := range recs {
				pg += r.Postgres
				redis += r.Redis
			}
			return pg, redis, true
		}
		time.Sleep(summaryPoll)
	}
	return 0, 0, false
}

// readRecords returns the records in dir by package directory.
func readRecords(dir string) map[string]record {
	out := map[string]record{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var r record
		if json.Unmarshal(b, &r) == nil && r.Dir != "" {
			out[r.Dir] = r
		}
	}
	return out
}

// otherChildren reports whether the go command has a child process other
// than this one: a compiler, linker, vet or another test binary.
func otherChildren(goPID int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self := os.Getpid()
	want := strconv.Itoa(goPID)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == want { // field 4: ppid
			return true
		}
	}
	return false
}

// writeSummary prints line where the user sees it: the summary package's
// own output under -v (go test shows it), else the go command's standard
// output.
func writeSummary(goPID int, line string) {
	if f := flag.Lookup("test.v"); f != nil && f.Value.String() != "false" && f.Value.String() != "" {
		fmt.Println(line)
		return
	}
	w, err := goStdout(goPID)
	if err != nil {
		return
	}
	defer w.Close()
	_, _ = io.WriteString(w, line+"\n")
}

// goStdout opens the go command's standard output for appending. A regular
// file opened without O_APPEND is refused: the go command would write its
// next line over ours.
func goStdout(goPID int) (*os.File, error) {
	fd := "/proc/" + strconv.Itoa(goPID) + "/fd/1"
	st, err := os.Stat(fd)
	if err != nil {
		return nil, err
	}
	if st.Mode().IsRegular() && !appendMode(goPID) {
		return nil, errors.New("the go command's output is a file it does not append to")
	}
	return os.OpenFile(fd, os.O_WRONLY|os.O_APPEND, 0)
}

// appendMode reports whether the go command's standard output was opened
// with O_APPEND.
func appendMode(goPID int) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(goPID) + "/fdinfo/1")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&0o2000 != 0 // O_APPEND
		}
	}
	return false
}

// cleanRecords removes this run's records and those of finished runs.
func cleanRecords(dir string) {
	_ = os.RemoveAll(dir)
	cleanFinished(filepath.Dir(dir))
}

// cleanFinished removes the records of runs whose go command has exited:
// runs without the summary package (go test ./store/pgstore), or
// interrupted ones. So at most the latest such run's records stay behind.
func cleanFinished(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, start, ok := strings.Cut(e.Name(), "-")
		if !ok {
			continue
		}
		if running, _ := processStart(pid); running != start {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// processStart returns the start time, in clock ticks, of process pid: field
// 22 of /proc/pid/stat, counted after the command name in parentheses,
// which may hold spaces.
func processStart(pid string) (string, bool) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return "", false
	}
	return f[19], true
}
