package main

// The fleet test: three httpserver processes (the binary, built by the
// test) on loopback ports, sharing one PostgreSQL schema and a three-master
// Redis Cluster, behind a load balancer played by the test. Users sign in,
// send heartbeats and activity, each request to whichever instance the
// balancer picks; a brute force and a credential-stuffing attack are spread
// over the instances so that none sees enough to raise an alert alone. One
// instance is stopped with SIGTERM mid-load and another killed with SIGKILL,
// and both are started again, as an orchestrator would. Then, under the
// rest of the load, blocks are decided on one instance (by detection and
// by an operator) and lifted on another, and the time each takes to reach
// the other instances is measured (fleet_guard_test.go).
//
// Each request carries a marker of its own (in the User-Agent, and in the
// resource of an activity), so every event and activity an instance
// answered for can be looked up in PostgreSQL afterwards. Each instance
// reaches PostgreSQL through a proxy the test owns that counts the
// statements it sends (see load_test.go).
//
// Plain go test runs the short version (100 users, 24 s of traffic);
// -fleet.long runs 10,000 users for 10 minutes. See
// benchmarks/results/fleet.md.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/faulttest"
	"github.com/secmon-go/secmon/internal/rediscluster"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/ratelimit"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
)

var fleetLong = flag.Bool("fleet.long", false, "run the long fleet test: 10,000 users for 10 minutes (see benchmarks/results/fleet.md)")

const fleetAdminToken = "fleet-admin-token"

// ---- instances -----------------------------------------------------------

// fleetInstance is one httpserver process slot: the process now running
// in it (restarts make new generations), its statement-counting proxy to
// PostgreSQL and its standard error, kept for the notifications it logged.
type fleetInstance struct {
	idx   int
	name  string
	stmts *stmtCounter
	dbURL string // through the proxy

	up atomic.Bool // the balancer sends it requests

	mu     sync.Mutex
	gen    int
	base   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // the process's exit, once exited is closed
	stderr strings.Builder
}

func (in *fleetInstance) current() (base string, gen int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.base, in.gen
}

// log returns everything every generation wrote to standard error.
func (in *fleetInstance) log() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stderr.String()
}

// fleet is the processes, what they share and the balancer in front.
type fleet struct {
	t              *testing.T
	bin            string
	usersFile      string
	schema         string
	redis          string // SECMON_REDIS_ADDR
	prefix         string // SECMON_REDIS_PREFIX
	fingerprintKey string // SECMON_FINGERPRINT_KEY, shared
	direct         *pgxpool.Pool
	instances      []*fleetInstance
	hc             *http.Client
	rr             atomic.Uint64

	seq             atomic.Uint64 // request markers
	requests        atomic.Int64  // answered requests
	stuffingChecked atomic.Int64  // guesses from the /64 the login limit let through
	// stuffingBlockedOn counts, per instance, the /64's guesses that
	// instance's guard refused (403).
	stuffingBlockedOn [3]atomic.Int64
	unavailable       atomic.Int64 // of which 503: the instance's session store (Redis) did not answer in time
	mu                sync.Mutex
	records           []record // what the instances answered for
	errs              []string
}

// record is one answer that means an instance accepted something: an
// event (marker in its User-Agent), an activity (marker in its resource)
// or a heartbeat.
type record struct {
	inst, gen int
	kind      recordKind
	marker    string
	user      int
	at        time.Time // when the answer arrived
}

type recordKind byte

const (
	acceptedEvent recordKind = iota
	acceptedActivity
	acceptedHeartbeat
)

func (f *fleet) fail(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) < 30 {
		f.errs = append(f.errs, fmt.Sprintf(format, args...))
	}
}

func (f *fleet) note(r record) {
	f.mu.Lock()
	f.records = append(f.records, r)
	f.mu.Unlock()
}

// buildServer builds this package's binary into dir, with the race detector
// when the test has it (the race-built packages are then in the build cache
// already, and the instances are checked for races too).
func buildServer(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(dir, "httpserver")
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, append(args, ".")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// start runs a new generation of in and waits until it listens.
func (f *fleet) start(in *fleetInstance) {
	f.t.Helper()
	cmd := exec.Command(f.bin, "-addr", "127.0.0.1:0", "-users", f.usersFile)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECMON_") || strings.HasPrefix(kv, "SECMON_TEST_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"SECMON_DATABASE_URL="+in.dbURL,
		"SECMON_SCHEMA="+f.schema,
		"SECMON_REDIS_ADDR="+f.redis,
		"SECMON_REDIS_PREFIX="+f.prefix,
		"SECMON_INSTANCE="+in.name,
		"SECMON_ADMIN_TOKEN="+fleetAdminToken,
		"SECMON_FINGERPRINT_KEY="+f.fingerprintKey,
		"SECMON_TRUSTED_PROXIES=127.0.0.0/8",
	)
	cmd.SysProcAttr = testenv.ChildProcAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	listening := make(chan string, 1)
	exited := make(chan struct{})
	in.mu.Lock()
	in.gen++
	in.cmd, in.exited, in.err = cmd, exited, nil
	fmt.Fprintf(&in.stderr, "---- %s generation %d\n", in.name, in.gen)
	in.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			in.mu.Lock()
			in.stderr.WriteString(line + "\n")
			in.mu.Unlock()
			if strings.Contains(line, `msg="httpserver listening"`) {
				for _, field := range strings.Fields(line) {
					if a, ok := strings.CutPrefix(field, "addr="); ok {
						listening <- a
					}
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		err := cmd.Wait() // after every read of the pipe, as os/exec asks
		in.mu.Lock()
		in.err = err
		in.mu.Unlock()
		close(exited)
	}()
	select {
	case addr := <-listening:
		in.mu.Lock()
		in.base = "http://" + addr
		in.mu.Unlock()
		in.up.Store(true)
	case <-exited:
		f.t.Fatalf("%s exited at start: %v\n%s", in.name, in.err, tail(in.log(), 30))
	case <-time.After(2 * time.Minute):
		f.t.Fatalf("%s did not start listening\n%s", in.name, tail(in.log(), 30))
	}
}

// stop signals in's process and waits until it has exited; the balancer
// stops sending it requests first. It returns the process's exit error.
func (f *fleet) stop(in *fleetInstance, sig syscall.Signal) error {
	in.up.Store(false)
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	in.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
	default:
		_ = cmd.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%s ignored signal %v for 2 minutes", in.name, sig)
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.cmd = nil
	return in.err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// startFleet starts n instances on one fresh schema (migrated and given its
// partitions by the test, dropped at the end) and the shared cluster.
func startFleet(t *testing.T, n int, users map[string]string, conns int) *fleet {
	t.Helper()
	dbURL := testenv.DatabaseURL(t)
	cluster := rediscluster.Shared(t)
	direct := sqlschematest.Pool(t)
	f := &fleet{
		t:              t,
		schema:         sqlschematest.RandomName("secmon_fleet"),
		redis:          strings.Join(cluster.Addrs(), ","),
		prefix:         "secmon:fleet:" + secmon.NewID().String()[:8] + ":",
		fingerprintKey: secmon.NewID().String(),
		direct:         direct,
	}
	t.Cleanup(func() { sqlschematest.DropSchema(t, direct, f.schema) })
	ctx := context.Background()
	if err := ensureServiceRole(ctx, direct); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlschema.Migrate(ctx, direct, sqlschema.Config{Schema: f.schema}); err != nil {
		t.Fatal(err)
	}
	// Today's partitions exist before the instances start, so their own
	// start-up maintenance finds nothing to do.
	st, err := pgstore.New(direct, pgstore.Config{Schema: f.schema, StatementTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Maintain(ctx, time.Now(), secmon.RetentionPolicy{}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	f.bin = buildServer(t, dir)
	f.usersFile = filepath.Join(dir, "users")
	var lines strings.Builder
	for u, pw := range users {
		lines.WriteString(u + ":" + pw + "\n")
	}
	if err := os.WriteFile(f.usersFile, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever happened, no process outlives the test.
		for _, in := range f.instances {
			_ = f.stop(in, syscall.SIGKILL)
		}
		if t.Failed() {
			for _, in := range f.instances {
				t.Logf("%s standard error (tail):\n%s", in.name, tail(in.log(), 40))
			}
		}
	})
	for i := range n {
		px := faulttest.NewProxy(t, u.Host)
		in := &fleetInstance{idx: i, name: fmt.Sprintf("i%d", i), stmts: newStmtCounter()}
		px.TapClient(in.stmts.tap)
		pu := *u
		pu.Host = px.Addr()
		in.dbURL = pu.String()
		f.instances = append(f.instances, in)
	}
	var wg sync.WaitGroup
	for _, in := range f.instances {
		wg.Go(func() { f.start(in) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 30 * time.Second, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	f.hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return f
}

// ---- the balancer --------------------------------------------------------

// fleetClient is one browser (or bot): its own address, sent as
// X-Forwarded-For, and its session cookie.
type fleetClient struct {
	addr  netip.Addr
	agent string
	sid   string
	user  int // index of the user, or -1
}

// pick returns the next instance the balancer sends to, round robin over
// those that are up.
func (f *fleet) pick() *fleetInstance {
	for range 2 * len(f.instances) {
		in := f.instances[f.rr.Add(1)%uint64(len(f.instances))]
		if in.up.Load() {
			return in
		}
	}
	return nil
}

// send delivers one request through the balancer: to the next instance,
// or to pinned when it is set. A request that failed in transport (the
// instance went away) is sent again to another instance, as a balancer
// would; each attempt carries a marker of its own, so an attempt the dead
// instance answered but never reported counts nowhere.
func (f *fleet) send(c *fleetClient, pinned *fleetInstance, path, body string) (status int, in *fleetInstance, gen int, marker string, err error) {
	for attempt := range 2 * len(f.instances) {
		in = pinned
		if in == nil || !in.up.Load() {
			in = f.pick()
		}
		if in == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		base, g := in.current()
		marker = fmt.Sprintf("r%d", f.seq.Add(1))
		ctype := "application/x-www-form-urlencoded"
		if path == "/api/activity/track" {
			ctype = "application/json"
		}
		req, rerr := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if rerr != nil {
			return 0, nil, 0, "", rerr
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("X-Forwarded-For", c.addr.String())
		// One browser keeps its user agent: a session whose user agent
		// changed would be judged hijacked.
		req.Header.Set("User-Agent", c.agent)
		req.Header.Set(HeaderRequestID, marker)
		if c.sid != "" {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.sid})
		}
		resp, derr := f.hc.Do(req)
		if derr != nil {
			err = derr
			time.Sleep(time.Duration(attempt*20) * time.Millisecond)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if path == "/login" && resp.StatusCode == http.StatusOK {
			for _, ck := range resp.Cookies() {
				if ck.Name == sessionCookie {
					c.sid = ck.Value
				}
			}
		}
		return resp.StatusCode, in, g, marker, nil
	}
	return 0, nil, 0, "", fmt.Errorf("no instance answered %s: %w", path, err)
}

// metrics is one scrape of an instance's GET /metrics: each sample's
// value by its series (name and labels, as the text format writes them).
type metrics map[string]float64

// get returns the value of series, 0 when absent.
func (m metrics) get(series string) float64 { return m[series] }

// sum adds the samples of metric name whose labels contain every one of
// match (`degraded="local"`) and none of exclude.
func (m metrics) sum(name string, match, exclude []string) float64 {
	var n float64
	for series, v := range m {
		labels, ok := strings.CutPrefix(series, name+"{")
		if !ok {
			continue
		}
		keep := true
		for _, l := range match {
			keep = keep && strings.Contains(labels, l)
		}
		for _, l := range exclude {
			keep = keep && !strings.Contains(labels, l)
		}
		if keep {
			n += v
		}
	}
	return n
}

// degraded is how many rate-limit decisions the fail policy made.
func (m metrics) degraded() uint64 {
	return uint64(m.sum("secmon_ratelimit_decisions_total", nil, []string{`degraded="none"`}))
}

// scrape reads an instance's GET /metrics (Prometheus text format).
func (f *fleet) scrape(in *fleetInstance) (metrics, error) {
	base, _ := in.current()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+fleetAdminToken)
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("GET /metrics: line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("GET /metrics: line %q: %w", line, err)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// ---- the scenario --------------------------------------------------------

type fleetScenario struct {
	users     int
	duration  time.Duration // of each user's traffic
	heartbeat time.Duration // between a user's heartbeats
	activity  time.Duration // between a user's activity calls
	conns     int           // client connections per instance
	// propRounds is how many rounds the propagation phase runs; each
	// decides a block by detection and one by hand on every instance and
	// lifts the manual ones (see fleet_guard_test.go).
	propRounds int
}

// The attack, spread over the instances so that each sees less than any
// rule's threshold and only the shared counters see it whole:
//
//   - a botnet of 12 IPv4 addresses, one guess each at the account
//     "victim" (brute_force_account and distributed_attack need 5);
//   - 45 guesses from rotating addresses of one IPv6 /64, each at another
//     account: brute_force_ip (5 failures within 10 minutes, counted in
//     Redis across the instances) fires on whichever instance sees the
//     fifth, its guard blocks the /64, and every instance refuses the rest
//     with 403 once the block reaches it through PostgreSQL, so the /64
//     never gets as far as credential_stuffing (10 accounts) or
//     rate_limit_abuse. The login limit (10 per minute per IP group, in
//     Redis) would have stopped it a little later.
const (
	botnetGuesses   = 12
	stuffingGuesses = 45
)

var stuffing64 = netip.MustParsePrefix("2001:db8:f1ee:7::/64")

func fleetUserName(i int) string { return fmt.Sprintf("user%05d", i) }

func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet test skipped in short mode")
	}
	sc := fleetScenario{users: 100, duration: 24 * time.Second, heartbeat: 4 * time.Second, activity: time.Second, conns: 32, propRounds: 2}
	if *fleetLong {
		sc = fleetScenario{users: 10_000, duration: 10 * time.Minute, heartbeat: 30 * time.Second, activity: 20 * time.Second, conns: 64, propRounds: 5}
	}
	users := map[string]string{"victim": "victim-password-1"}
	for i := range sc.users {
		users[fleetUserName(i)] = "pw-" + fleetUserName(i)
	}
	f := startFleet(t, 3, users, sc.conns)
	i0, i1, i2 := f.instances[0], f.instances[1], f.instances[2]

	// An admin watches the alert stream of the first instance: it follows
	// PostgreSQL's LISTEN, so it must carry the alerts every instance
	// raises.
	streamed := f.watchAlerts(i0)

	before := make([]stmtSnapshot, len(f.instances))
	for i, in := range f.instances {
		before[i] = in.stmts.snapshot()
	}
	start := time.Now()
	var traffic sync.WaitGroup
	spans := make([]time.Duration, sc.users) // each user's traffic, first request to last answer
	for i := range sc.users {
		traffic.Go(func() { spans[i] = f.user(i, sc) })
	}
	attack := f.attack(time.Second)

	// Mid-load: the balancer drains instance 2 and it gets SIGTERM (as in a
	// rolling deploy); it must flush everything it accepted. It starts again.
	time.Sleep(sc.duration / 3)
	var degraded uint64 // limiter decisions made by the fail policy, all generations
	if m, err := f.scrape(i2); err == nil {
		degraded += m.degraded()
	}
	if err := f.stop(i2, syscall.SIGTERM); err != nil {
		t.Errorf("%s after SIGTERM: %v", i2.name, err)
	}
	_, sigtermGen := i2.current()
	f.start(i2)

	// Later: instance 1 is killed with SIGKILL, as a crash or an OOM kill
	// would; what it still held in memory is lost. Its queues just before,
	// as its metrics show them.
	time.Sleep(sc.duration / 3)
	<-attack
	snapAt := time.Now()
	snap, err := f.scrape(i1)
	if err != nil {
		t.Fatalf("metrics of %s: %v", i1.name, err)
	}
	if _, ok := snap[`secmon_queue_pending{queue="events"}`]; !ok || snap.sum("secmon_ratelimit_decisions_total", nil, nil) == 0 {
		t.Fatalf("the metrics of %s lack the queues or the rate-limit decisions: %v", i1.name, snap)
	}
	degraded += snap.degraded()
	_, killGen := i1.current()
	_ = f.stop(i1, syscall.SIGKILL)
	killedAt := time.Now()
	time.Sleep(time.Second)
	f.start(i1)

	// Under the rest of the load, with every instance up: how fast blocks
	// and lifts decided on one instance reach the other two.
	type propOutcome struct {
		samples []propSample
		err     error
	}
	propDone := make(chan propOutcome, 1)
	go func() {
		samples, err := f.propagation(sc.propRounds)
		propDone <- propOutcome{samples, err}
	}()

	traffic.Wait()
	prop := <-propDone
	elapsed := time.Since(start)
	final := make([]metrics, len(f.instances))
	for i, in := range f.instances {
		m, err := f.scrape(in)
		if err != nil {
			t.Errorf("metrics of %s: %v", in.name, err)
		}
		final[i] = m
		degraded += m.degraded()
	}
	for _, in := range f.instances {
		if err := f.stop(in, syscall.SIGTERM); err != nil {
			t.Errorf("%s at the end: %v", in.name, err)
		}
	}
	res := fleetResult{elapsed: elapsed, stmts: make([]stmtSnapshot, len(f.instances)), degraded: degraded}
	for i, in := range f.instances {
		res.stmts[i] = in.stmts.snapshot().sub(before[i])
	}
	for _, e := range f.errs {
		t.Error(e)
	}
	for _, in := range f.instances {
		if strings.Contains(in.log(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", in.name)
		}
	}

	f.checkLimits(t, sc, spans, degraded, &res)
	// The login limit holds fleet-wide: a burst of 10 for the /64, plus what
	// refilled (one per 6 s) while the guesses came; per instance it would
	// have let 30 through.
	login, _ := ratelimit.Login.WithDefaults()
	limit := login.Burst + 2
	if degraded > 0 {
		limit *= 1 + len(f.instances)
	}
	// The guard's block, decided on one instance, was enforced by every
	// instance: each refused some of the /64's later guesses.
	for i := range f.instances {
		if f.stuffingBlockedOn[i].Load() == 0 {
			t.Errorf("%s never refused the blocked /64", f.instances[i].name)
		}
	}
	if n := f.stuffingChecked.Load(); n > int64(limit) {
		t.Errorf("%d guesses from one /64 checked across the fleet, want at most %d", n, limit)
	}
	res.stuffingChecked = f.stuffingChecked.Load()
	for i := range f.stuffingBlockedOn {
		res.stuffingBlocked += f.stuffingBlockedOn[i].Load()
	}
	f.checkDelivery(t, i2.idx, sigtermGen, i1.idx, killGen, snap, snapAt, killedAt, &res)
	// Every instance has written its last events (SIGTERM flushes them),
	// the propagation probes' included.
	if prop.err != nil {
		t.Errorf("propagation: %v", prop.err)
	}
	f.checkPropagation(t, prop.samples, sc.propRounds, &res)
	f.checkAlerts(t, streamed, sc.propRounds, &res)
	// One browser, one fingerprint, whichever instance (and generation)
	// served it: the instances share the fingerprint key.
	if split := sqlschematest.Strings(t, f.direct, `SELECT user_agent FROM `+f.schema+`.security_events
 WHERE fingerprint IS NOT NULL GROUP BY user_agent HAVING count(DISTINCT fingerprint) > 1`); len(split) > 0 {
		t.Errorf("%d user agents with several fingerprints, e.g. %q", len(split), split[0])
	}
	for i, m := range final {
		for _, series := range []string{"secmon_queue_full_total", "secmon_detections_dropped_total", "secmon_alerts_dropped_total",
			"secmon_events_rejected_total", "secmon_activities_rejected_total"} {
			if n := m.get(series); n != 0 {
				t.Errorf("%s: %s %v", f.instances[i].name, series, n)
			}
		}
	}
	f.checkWrites(t, &res)
	// An instance answers 503 when Redis did not answer its session lookup
	// within a second: a machine too busy for its load. Reported, like the
	// limiter decisions the fail policy made for the same reason.
	res.requests, res.unavailable = f.requests.Load(), f.unavailable.Load()
	t.Log(res.String())
}

// user is one user's traffic: a login, then heartbeats and activity until
// sc.duration, every request through the balancer. It returns the time from
// its first request to its last answer.
func (f *fleet) user(i int, sc fleetScenario) time.Duration {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	c := &fleetClient{addr: netip.AddrFrom4([4]byte{10, 30, byte(i >> 8), byte(i)}), agent: fmt.Sprintf("secmon-fleet/1.0 (user %d)", i), user: i}
	// Arrivals spread over a second per thousand users, as browsers come.
	time.Sleep(time.Duration(rng.Int64N(int64(time.Second) * int64(max(1, sc.users/1000)))))
	first := time.Now()
	name := fleetUserName(i)
	var (
		code, gen int
		in        *fleetInstance
		marker    string
		err       error
	)
	// A browser's user tries again when told to (503).
	for try := 0; try < 3; try++ {
		code, in, gen, marker, err = f.send(c, nil, "/login", url.Values{"user": {name}, "password": {"pw-" + name}}.Encode())
		if err == nil {
			f.requests.Add(1)
		}
		if err != nil || code != http.StatusServiceUnavailable {
			break
		}
		f.unavailable.Add(1)
		time.Sleep(time.Second)
	}
	if err != nil || code != http.StatusOK {
		f.fail("user %d login: %d %v", i, code, err)
		return time.Since(first)
	}
	f.note(record{inst: in.idx, gen: gen, kind: acceptedEvent, marker: marker, user: i, at: time.Now()})
	nextHB, nextAct := time.Duration(0), time.Duration(rng.Int64N(int64(sc.activity)))
	n := 0
	for {
		if nextHB >= sc.duration && nextAct >= sc.duration {
			return time.Since(first)
		}
		var path, body string
		isHB := nextHB <= nextAct
		if isHB {
			time.Sleep(time.Until(first.Add(nextHB)))
			path = "/api/session/heartbeat"
			nextHB += sc.heartbeat
		} else {
			time.Sleep(time.Until(first.Add(nextAct)))
			n++
			action := "page_view"
			if n%4 == 0 {
				action = "download_report"
			}
			path, body = "/api/activity/track", `{"action":"`+action+`","resource":"/reports/`+fmt.Sprint(n%7)+`"}`
			nextAct += sc.activity
		}
		code, in, gen, marker, err := f.send(c, nil, path, body)
		at := time.Now()
		if err == nil {
			f.requests.Add(1)
		}
		switch {
		case err != nil:
			f.fail("user %d %s: %v", i, path, err)
		case code == http.StatusServiceUnavailable:
			// "Try again later": the instance could not reach its session
			// store in time. Counted, and bounded below.
			f.unavailable.Add(1)
		case code == http.StatusNoContent && isHB:
			f.note(record{inst: in.idx, gen: gen, kind: acceptedHeartbeat, marker: marker, user: i, at: at})
		case code == http.StatusNoContent:
			f.note(record{inst: in.idx, gen: gen, kind: acceptedActivity, marker: marker, user: i, at: at})
		case code == http.StatusTooManyRequests:
			f.note(record{inst: in.idx, gen: gen, kind: acceptedEvent, marker: marker, user: i, at: at}) // rate_limited
		default:
			f.fail("user %d %s on %s: %d", i, path, in.name, code)
		}
	}
}

// attack runs the two attacks after delay, request k pinned to instance
// k mod 3, and closes the returned channel when done.
func (f *fleet) attack(delay time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(delay)
		rng := rand.New(rand.NewPCG(3, 4))
		guess := func(k int, c *fleetClient, user string) int {
			pinned := f.instances[k%len(f.instances)]
			code, in, gen, marker, err := f.send(c, pinned, "/login", url.Values{"user": {user}, "password": {"Winter2024!"}}.Encode())
			if err == nil && code == http.StatusForbidden && user != "victim" {
				// Refused by the guard: the refusal's access_blocked event is
				// folded with the others of its minute, so none is noted.
				f.stuffingBlockedOn[in.idx%len(f.stuffingBlockedOn)].Add(1)
				return code
			}
			if err != nil || (code != http.StatusUnauthorized && code != http.StatusTooManyRequests) {
				f.fail("attack login %d: %d %v", k, code, err)
				return code
			}
			f.note(record{inst: in.idx, gen: gen, kind: acceptedEvent, marker: marker, user: -1, at: time.Now()})
			return code
		}
		for k := range botnetGuesses {
			guess(k, &fleetClient{addr: netip.AddrFrom4([4]byte{198, 18, 7, byte(k + 1)}), agent: "botnet/1.0", user: -1}, "victim")
			time.Sleep(50 * time.Millisecond)
		}
		checked := 0
		for k := range stuffingGuesses {
			a := stuffing64.Addr().As16()
			for j := 8; j < 16; j++ {
				a[j] = byte(rng.Uint32())
			}
			if guess(k, &fleetClient{addr: netip.AddrFrom16(a), agent: "stuffer/2.0", user: -1}, fleetUserName(k)) == http.StatusUnauthorized {
				checked++
			}
			time.Sleep(20 * time.Millisecond)
		}
		f.stuffingChecked.Store(int64(checked))
	}()
	return done
}

// watchAlerts opens in's alert stream and returns the (rule, subject)
// pairs it delivers; the stream ends when in stops.
func (f *fleet) watchAlerts(in *fleetInstance) *sync.Map {
	seen := &sync.Map{}
	base, _ := in.current()
	req, _ := http.NewRequest(http.MethodGet, base+"/admin/api/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+fleetAdminToken)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		f.t.Fatalf("alert stream: %v", err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var a alertJSON
				if json.Unmarshal([]byte(data), &a) == nil {
					seen.Store(a.Rule+" "+a.Subject, true)
				}
			}
		}
	}()
	return seen
}

// ---- checks --------------------------------------------------------------

type fleetResult struct {
	elapsed time.Duration
	stmts   []stmtSnapshot

	requests, unavailable int64
	stuffingChecked       int64
	stuffingBlocked       int64
	degraded              uint64 // limiter decisions by the fail policy (the killed generation's after its last look are missing)

	heartbeats, heartbeatsMaxUser  int
	activities                     int
	events                         int
	sigtermAccepted, sigtermStored int
	killEvents, killActivities     int // accepted by the killed generation
	lostEvents, lostActivities     int
	lostBound                      int
	lostWindow                     time.Duration
	alerts                         []string
	notifications                  map[string]int

	// Propagation: blocks decided by a rule and by hand, and lifts, from
	// the instance that decided them to each of the other two.
	propRule, propManual, propBlocks, propLifts propSummary
}

func (r fleetResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "traffic %s: %d requests answered (%d with 503), %d limiter decisions by the fail policy; %d events, %d activities, %d heartbeats accepted (at most %d for one user); ",
		r.elapsed.Round(time.Millisecond), r.requests, r.unavailable, r.degraded, r.events, r.activities, r.heartbeats, r.heartbeatsMaxUser)
	fmt.Fprintf(&b, "SIGTERM: %d of %d accepted stored; SIGKILL: lost %d of %d events and %d of %d activities (bound %d, accepted in the last %s); ",
		r.sigtermStored, r.sigtermAccepted, r.lostEvents, r.killEvents, r.lostActivities, r.killActivities, r.lostBound, r.lostWindow.Round(time.Millisecond))
	fmt.Fprintf(&b, "credential stuffing: %d of %d guesses checked, %d refused by the guard; alerts %v, notifications %v; ", r.stuffingChecked, stuffingGuesses, r.stuffingBlocked, r.alerts, r.notifications)
	fmt.Fprintf(&b, "propagation to the other instances: rule blocks %v; manual blocks %v; all blocks %v; lifts %v; ", r.propRule, r.propManual, r.propBlocks, r.propLifts)
	total := 0
	all := 0
	for i, s := range r.stmts {
		total += s.Writes
		all += s.Total
		fmt.Fprintf(&b, "i%d writes %d (%.0f/min) %v, others %v; ", i, s.Writes, float64(s.Writes)/r.elapsed.Minutes(), s.ByWrite, s.ByOther)
	}
	fmt.Fprintf(&b, "fleet writes %d (%.0f/min), statements %d (%.0f/min)", total, float64(total)/r.elapsed.Minutes(), all, float64(all)/r.elapsed.Minutes())
	return b.String()
}

// checkLimits: the heartbeat and activity limits hold across the fleet:
// no user got more accepted than one bucket allows over its traffic.
//
// That holds for the decisions Redis made. When Redis did not answer within
// a limiter's Timeout (a machine too busy), its FailPolicy (FailLocal in
// the example) decided instead, from a bucket of each instance's own: then
// a user may get up to the Redis bucket plus one local bucket per instance,
// and that looser bound is checked.
func (f *fleet) checkLimits(t *testing.T, sc fleetScenario, spans []time.Duration, degraded uint64, res *fleetResult) {
	buckets := 1
	if degraded > 0 {
		buckets = 1 + len(f.instances)
		t.Logf("%d limiter decisions were made by the fail policy: checking the limits at %d buckets", degraded, buckets)
	}
	hb := make([]int, sc.users)
	act := make([]int, sc.users)
	for _, r := range f.records {
		switch {
		case r.user < 0:
		case r.kind == acceptedHeartbeat:
			hb[r.user]++
			res.heartbeats++
		case r.kind == acceptedActivity:
			act[r.user]++
		}
	}
	hbPolicy, _ := ratelimit.Heartbeat.WithDefaults()
	actPolicy, _ := ratelimit.Activity.WithDefaults()
	for i := range sc.users {
		p := hbPolicy
		if limit := buckets * (p.Burst + int(spans[i]/p.Interval())); hb[i] > limit {
			t.Errorf("user %d: %d heartbeats accepted across the fleet in %s, the policy allows %d", i, hb[i], spans[i], limit)
		}
		p = actPolicy
		if limit := buckets * (p.Burst + int(spans[i]/p.Interval())); act[i] > limit {
			t.Errorf("user %d: %d activities accepted across the fleet in %s, the policy allows %d", i, act[i], spans[i], limit)
		}
		res.heartbeatsMaxUser = max(res.heartbeatsMaxUser, hb[i])
	}
	if res.heartbeats < sc.users {
		t.Errorf("%d heartbeats accepted for %d users", res.heartbeats, sc.users)
	}
}

// checkDelivery: every event and activity an instance answered for is in
// PostgreSQL exactly once, except what the killed generation still held:
// that loss is measured, and bounded by what its queues held just before
// the kill plus what it accepted after that look.
func (f *fleet) checkDelivery(t *testing.T, sigterm, sigtermGen, killed, killGen int, snap metrics, snapAt, killedAt time.Time, res *fleetResult) {
	stored := map[string]int{}
	for _, q := range []string{
		`SELECT metadata->>'request_id' FROM ` + f.schema + `.security_events WHERE metadata ? 'request_id'`,
		`SELECT metadata->>'request_id' FROM ` + f.schema + `.user_activity WHERE metadata ? 'request_id'`,
	} {
		for _, m := range sqlschematest.Strings(t, f.direct, q) {
			stored[m]++
		}
	}
	for m, n := range stored {
		if n != 1 {
			t.Errorf("marker %s stored %d times", m, n)
		}
	}
	var lostEvents, lostActs, afterSnapEvents, afterSnapActs int
	var oldestLost time.Time
	for _, r := range f.records {
		switch r.kind {
		case acceptedEvent:
			res.events++
		case acceptedActivity:
			res.activities++
		default:
			continue
		}
		_, ok := stored[r.marker]
		switch {
		case r.inst == sigterm && r.gen == sigtermGen:
			res.sigtermAccepted++
			if ok {
				res.sigtermStored++
			} else {
				t.Errorf("%s accepted %s before SIGTERM; it is not in PostgreSQL", f.instances[sigterm].name, r.marker)
			}
		case r.inst == killed && r.gen == killGen:
			if r.kind == acceptedEvent {
				res.killEvents++
			} else {
				res.killActivities++
			}
			if r.at.After(snapAt) {
				if r.kind == acceptedEvent {
					afterSnapEvents++
				} else {
					afterSnapActs++
				}
			}
			if ok {
				continue
			}
			if r.kind == acceptedEvent {
				lostEvents++
			} else {
				lostActs++
			}
			if oldestLost.IsZero() || r.at.Before(oldestLost) {
				oldestLost = r.at
			}
		case !ok:
			t.Errorf("%s (generation %d) accepted %s; it is not in PostgreSQL", f.instances[r.inst].name, r.gen, r.marker)
		}
	}
	res.lostEvents, res.lostActivities = lostEvents, lostActs
	if !oldestLost.IsZero() {
		res.lostWindow = killedAt.Sub(oldestLost)
	}
	// What the queues held at the kill: what they held at the look, plus
	// what was accepted after it.
	evBound := int(snap.get(`secmon_queue_pending{queue="events"}`)) + afterSnapEvents
	actBound := int(snap.get(`secmon_queue_pending{queue="activities"}`)) + afterSnapActs
	res.lostBound = evBound + actBound
	if lostEvents > evBound || lostActs > actBound {
		t.Errorf("kill -9 lost %d events and %d activities; its queues held at most %d and %d", lostEvents, lostActs, evBound, actBound)
	}
	if res.sigtermAccepted == 0 || res.killEvents+res.killActivities == 0 {
		t.Errorf("the stopped instances accepted nothing (%d, %d): the test proves nothing", res.sigtermAccepted, res.killEvents+res.killActivities)
	}
}

// checkAlerts: the attacks, which no instance saw whole, raised exactly
// the expected alerts, one open row per (rule, subject), and the first
// instance's stream carried all of them.
func (f *fleet) checkAlerts(t *testing.T, streamed *sync.Map, propRounds int, res *fleetResult) {
	group := "ip:" + secmon.IPGroup(stuffing64.Addr()).String()
	want := []string{
		"brute_force_account user:victim",
		"brute_force_ip " + group,
		"distributed_attack user:victim",
	}
	// The propagation phase's blocks decided by detection: one
	// brute_force_ip per /64.
	for r := range propRounds {
		for d := range f.instances {
			want = append(want, "brute_force_ip ip:"+secmon.IPGroup(probe64(r, d).Addr()).String())
		}
	}
	slices.Sort(want)
	rows, err := f.direct.Query(context.Background(), `SELECT rule, subject, count(*) FROM `+f.schema+`.security_alerts WHERE status = 'open' GROUP BY rule, subject`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var rule, subject string
		var n int
		if err := rows.Scan(&rule, &subject, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d open alerts for (%s, %s), want exactly 1", n, rule, subject)
		}
		got = append(got, rule+" "+subject)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	res.alerts = got
	if !slices.Equal(got, want) {
		t.Errorf("open alerts %q, want %q", got, want)
	}
	for _, w := range want {
		if _, ok := streamed.Load(w); !ok {
			t.Errorf("alert %q never reached the first instance's stream", w)
		}
	}
	// Notifications: each instance notifies an alert it opens itself; count
	// them across the fleet.
	res.notifications = map[string]int{}
	for _, in := range f.instances {
		for _, line := range strings.Split(in.log(), "\n") {
			if !strings.Contains(line, `msg="secmon alert"`) {
				continue
			}
			var rule, subject string
			for _, field := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(field, "rule="); ok {
					rule = v
				}
				if v, ok := strings.CutPrefix(field, "subject="); ok {
					subject = v
				}
			}
			res.notifications[rule+" "+subject]++
		}
	}
}

// checkWrites: the fleet's database writes per minute stay within three
// times the single-instance budget TestLoad asserts (500 a minute).
func (f *fleet) checkWrites(t *testing.T, res *fleetResult) {
	const perInstance = 500
	total := 0
	for i, s := range res.stmts {
		total += s.Writes
		if perMin := float64(s.Writes) / res.elapsed.Minutes(); perMin > perInstance {
			t.Errorf("%s: %.0f write statements a minute, the single-instance budget is %d", f.instances[i].name, perMin, perInstance)
		}
	}
	if perMin := float64(total) / res.elapsed.Minutes(); perMin > 3*perInstance {
		t.Errorf("fleet: %.0f write statements a minute, want at most %d", perMin, 3*perInstance)
	}
}
