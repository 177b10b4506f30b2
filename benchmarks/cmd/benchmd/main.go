// Command benchmd runs secmon's benchmark suites, several times each, and
// regenerates BENCHMARKS.md from the medians.
//
// Usage, from the repository root:
//
//	(cd benchmarks && go run ./cmd/benchmd -root .. -count 5)
//
// Each suite is one `go test -run ^$ -bench ...` command, run -count times in
// one process invocation; the table shows the median of every metric, and
// where a group of sub-benchmarks has one named for secmon, each other row's
// ratio to it (above 1 means secmon is faster or smaller). Suites that need
// PostgreSQL or Redis read SECMON_TEST_DATABASE_URL and SECMON_TEST_REDIS_ADDR
// and report themselves skipped when those are unset.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// suite is one benchmark command.
type suite struct {
	Title   string
	Dir     string // module directory relative to the repository root
	Pkg     string // package pattern
	Bench   string // -bench regexp
	Time    string // -benchtime; empty means go test's default
	Count   int    // runs; 0 means the -count flag
	Targets string // what the figures are held against
}

var suites = []suite{
	{Title: "Monitor hot path", Dir: ".", Pkg: ".", Bench: "^Benchmark(MonitorLog|MonitorLogWithDetector|MonitorLogAsyncDetector|MonitorLogWithMetadata|MonitorLogParallel|MonitorHeartbeat|MonitorHeartbeatParallel|MonitorTrackActivity|BaselineInsertPerEvent|BaselineUpsertPerBeat)$", Time: "1000000x",
		Targets: "Log ≤ 1 µs and ≤ 1 allocation per event with a no-op store; Heartbeat ≤ 300 ns; baselines: one store write per event / per beat"},
	{Title: "Monitor with detection over Redis", Dir: ".", Pkg: ".", Bench: "^Benchmark(MonitorLogRedisDetector|BaselineRedisObserveInline)$", Time: "20000x",
		Targets: "Log stays off the network when the detector's counters live in Redis; baseline: Observe on the caller's goroutine"},
	{Title: "Privacy policy and client address", Dir: ".", Pkg: ".", Bench: "^Benchmark(ApplyEvent|ClientIP|IPGroup)$",
		Targets: "ApplyEvent 0 allocations without metadata"},
	{Title: "Privacy and client address beside hand-written baselines", Dir: "benchmarks", Pkg: ".", Bench: "^Benchmark(ClientIP|ApplyEvent)$"},
	{Title: "Secret redaction beside gitleaks", Dir: "benchmarks", Pkg: ".", Bench: "^BenchmarkRedact$", Count: 3,
		Targets: "ApplyEvent with 5 keys ≤ 2 µs and ≤ 3 allocations; a 1 KiB value without a secret ≤ 2 µs; gitleaks (default rules, DetectString) on the same values, detection only; what each finds: TestRedactBesideGitleaks"},
	{Title: "Redaction scanner", Dir: ".", Pkg: "./internal/redact/", Bench: ".", Count: 3},
	{Title: "Detection engine", Dir: ".", Pkg: "./detect/...", Bench: ".",
		Targets: "Observe with every built-in rule ≤ 2 µs per event and 0 database calls; Redis counters one round trip per event; baseline: the audited design's per-event SQL counting"},
	{Title: "PostgreSQL store: inserts and heartbeat flush", Dir: ".", Pkg: "./store/pgstore/", Bench: "InsertEvents|HeartbeatFlush", Count: 3,
		Targets: "InsertEvents ≥ 100,000 rows/s beside one INSERT per event (~4,000 rows/s); flush of 10,000 sessions ≤ 100 ms"},
	{Title: "PostgreSQL store: purge of one day", Dir: ".", Pkg: "./store/pgstore/", Bench: "PurgeDay", Time: "1x", Count: 3,
		Targets: "one-day purge of 1M rows ≤ 250 ms by partition drop, beside DELETE"},
	{Title: "PostgreSQL store: daily summary", Dir: ".", Pkg: "./store/pgstore/", Bench: "Summary", Count: 3,
		Targets: "daily summary over 90 days × 3M rows ≤ 20 ms"},
	{Title: "In-memory store", Dir: ".", Pkg: "./store/memstore/", Bench: ".", Count: 3},
	{Title: "Upload validation", Dir: ".", Pkg: "./upload/", Bench: ".", Count: 3,
		Targets: "full validation (no decode) of a 5 MB PNG and JPEG, the scan of every byte for executable code included, ≤ 10 ms; sanitise ≤ 10 ms (the PRD's budget is 200 ms); BenchmarkScanWhole beside a bytes.Count floor; Reencode (content disarm) is a full decode and encode, measured, with no budget"},
	{Title: "Upload type detection beside filetype and mimetype", Dir: "benchmarks", Pkg: ".", Bench: "^BenchmarkUpload", Count: 3,
		Targets: "the peers read only the first bytes of the file, so they are faster and prove nothing about the rest; what matters is what they let through: on the hostile corpus filetype passes 81 of 89 files, mimetype 77, secmon none (TestUploadPeersLetThrough, benchmarks/results/upload.md)"},
	{Title: "Rate limiting", Dir: ".", Pkg: "./ratelimit/...", Bench: "."},
	{Title: "Rate limiting beside go-limiter, ulule/limiter, throttled and redis_rate", Dir: "benchmarks", Pkg: ".", Bench: "^BenchmarkRateLimit",
		Targets: "faster than every peer on each in-memory row; ≤ 96 B per key; no slower than redis_rate at one round trip per decision"},
	{Title: "GeoIP lookups", Dir: ".", Pkg: "./geo/maxmind/", Bench: ".", Count: 3},
	{Title: "Metrics (telemetry)", Dir: ".", Pkg: "./telemetry/", Bench: ".",
		Targets: "observing a decision or a verdict allocates nothing; the middleware with a Recorder within noise of the middleware without"},
	{Title: "Guard: Check, middleware and list loading", Dir: ".", Pkg: "./guard/", Bench: "^Benchmark(Check|Middleware|ListLoad)$",
		Targets: "Check ≤ 50 ns and 0 allocations with 100,000 list prefixes and 10,000 blocks (mixed traffic); middleware overhead on a passed request ≤ 300 ns (secmon minus the bare handler); loading and swapping a 100,000-line list ≤ 200 ms"},
	{Title: "Guard prefix table beside cidranger and a sorted slice", Dir: "benchmarks", Pkg: ".", Bench: "^BenchmarkGuard", Count: 3,
		Targets: "the same 100,000 list prefixes and 10,000 blocks in each; secmon's Check also says which block matched, whether it expired and whether the allowlist spares the address"},
	{Title: "Guard: propagation between two instances", Dir: ".", Pkg: "./guard/", Bench: "^Benchmark(Propagation|PropagationPostgres|FindingToBlock)$", Time: "1x", Count: 3,
		Targets: "p50 and p99 ≤ 1 s from a block decided on one guard to its enforcement on another sharing PostgreSQL, over 1,000 blocks (a CrowdSec bouncer polls every 10 s by default); a finding enforced on its own instance ≤ 100 ms"},
	{Title: "Dashboard: Overview over 1,000,000 events, live stream to 100 browsers", Dir: ".", Pkg: "./dashboard/", Bench: "^Benchmark(OverviewPostgres|OverviewMemory|LiveFanout)$", Time: "20x", Count: 1,
		Targets: "Overview over pgstore with 1,000,000 events ≤ 50 ms; one alert to 100 connected browsers through one shared subscription, beside one subscription per browser"},
}

func main() {
	root := flag.String("root", ".", "repository root")
	count := flag.Int("count", 5, "runs of each benchmark; the table shows medians")
	out := flag.String("out", "BENCHMARKS.md", "file to write, relative to -root")
	only := flag.String("only", "", "run only suites whose title contains this")
	flag.Parse()

	var body bytes.Buffer
	for _, s := range suites {
		if *only != "" && !strings.Contains(strings.ToLower(s.Title), strings.ToLower(*only)) {
			continue
		}
		n := *count
		if s.Count > 0 && s.Count < n {
			n = s.Count
		}
		args := []string{"test", "-run", "^$", "-bench", s.Bench, "-benchmem", "-count", strconv.Itoa(n)}
		if s.Time != "" {
			args = append(args, "-benchtime", s.Time)
		}
		args = append(args, s.Pkg)
		fmt.Fprintf(os.Stderr, "benchmd: %s: (cd %s && go %s)\n", s.Title, s.Dir, strings.Join(args, " "))
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join(*root, s.Dir)
		cmd.Stderr = os.Stderr
		raw, err := cmd.Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchmd: %s failed: %v\n%s", s.Title, err, raw)
			os.Exit(1)
		}
		writeSection(&body, s, args, parse(bytes.NewReader(raw)))
	}

	var doc bytes.Buffer
	fmt.Fprintf(&doc, "# secmon benchmarks\n\n")
	fmt.Fprintf(&doc, "Regenerate with `(cd benchmarks && go run ./cmd/benchmd -root .. -count %d)`.\n", *count)
	fmt.Fprintf(&doc, "Every figure is the median of the runs of one invocation (%d, or fewer where a section's command says so); peers and baselines run in the same command as the secmon row they are compared with. ", *count)
	fmt.Fprintf(&doc, "Ratios are other ÷ secmon for time and bytes (above 1: secmon is faster or smaller) and secmon ÷ other for throughput metrics ending in /s.\n\n")
	fmt.Fprintf(&doc, "- machine: %s, %d logical CPUs (a shared, noisy 2-core VM: compare ratios, not absolute times)\n", cpuModel(), runtime.NumCPU())
	fmt.Fprintf(&doc, "- %s\n- generated: %s\n\n", goVersion(*root), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	doc.Write(body.Bytes())
	notes, _ := filepath.Glob(filepath.Join(*root, "benchmarks", "results", "*.md"))
	if len(notes) > 0 && *only == "" {
		fmt.Fprintf(&doc, "## Notes\n\nMeasurements that need a setup of their own (data sets, services, memory per key) are described in `benchmarks/results/`:\n\n")
		for _, n := range notes {
			rel, _ := filepath.Rel(*root, n)
			fmt.Fprintf(&doc, "- [%s](%s)\n", filepath.Base(n), filepath.ToSlash(rel))
		}
	}
	dst := *out
	if !filepath.IsAbs(dst) {
		dst = filepath.Join(*root, dst)
	}
	if err := os.WriteFile(dst, doc.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchmd:", err)
		os.Exit(1)
	}
}

// result holds every sample of one benchmark, per unit.
type result struct {
	name    string
	samples map[string][]float64
	order   []string
}

// parse reads `go test -bench` output. Lines that are not benchmark results
// (package headers, PASS, skips) are ignored.
func parse(r io.Reader) []*result {
	var list []*result
	byName := map[string]*result{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := trimProcs(strings.TrimPrefix(f[0], "Benchmark"))
		res := byName[name]
		if res == nil {
			res = &result{name: name, samples: map[string][]float64{}}
			byName[name] = res
			list = append(list, res)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			unit := f[i+1]
			if _, ok := res.samples[unit]; !ok {
				res.order = append(res.order, unit)
			}
			res.samples[unit] = append(res.samples[unit], v)
		}
	}
	return list
}

// trimProcs removes the -GOMAXPROCS suffix go test adds.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// group is the benchmark name without its last path element.
func group(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

func isSecmon(name string) bool {
	last := name[strings.LastIndexByte(name, '/')+1:]
	return strings.Contains(strings.ToLower(last), "secmon")
}

func writeSection(w io.Writer, s suite, args []string, results []*result) {
	fmt.Fprintf(w, "## %s\n\n", s.Title)
	if s.Targets != "" {
		fmt.Fprintf(w, "Held against: %s.\n\n", s.Targets)
	}
	fmt.Fprintf(w, "```\n(cd %s && go %s)\n```\n\n", s.Dir, strings.Join(args, " "))
	if len(results) == 0 {
		fmt.Fprintf(w, "No results: the suite was skipped (a service it needs was not configured).\n\n")
		return
	}
	base := map[string]*result{}
	for _, r := range results {
		if g := group(r.name); g != "" && isSecmon(r.name) && base[g] == nil {
			base[g] = r
		}
	}
	fmt.Fprintf(w, "| benchmark | median | ratio to secmon |\n|---|---|---|\n")
	for _, r := range results {
		var cells []string
		for _, u := range r.order {
			cells = append(cells, format(median(r.samples[u]), u))
		}
		ratio := ""
		if b := base[group(r.name)]; b != nil && b != r {
			ratio = ratios(r, b)
		} else if b == r {
			ratio = "baseline"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.name, strings.Join(cells, ", "), ratio)
	}
	fmt.Fprintln(w)
}

// ratios compares r with the secmon row b on the metrics they share.
func ratios(r, b *result) string {
	var out []string
	for _, u := range r.order {
		bv, ok := b.samples[u]
		if !ok {
			continue
		}
		x, y := median(r.samples[u]), median(bv)
		var q float64
		switch {
		case strings.HasSuffix(u, "/s"):
			if x == 0 {
				continue
			}
			q = y / x
		default:
			if y == 0 {
				continue
			}
			q = x / y
		}
		out = append(out, fmt.Sprintf("%s ×%.3g", u, q))
	}
	return strings.Join(out, ", ")
}

func format(v float64, unit string) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3g %s", v, unit)
	case v == float64(int64(v)):
		return fmt.Sprintf("%d %s", int64(v), unit)
	default:
		return fmt.Sprintf("%.4g %s", v, unit)
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.IndexByte(line, ':'); i > 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return runtime.GOARCH
}

func goVersion(root string) string {
	cmd := exec.Command("go", "version")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(b))
}
