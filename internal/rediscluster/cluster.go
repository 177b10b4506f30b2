// Package rediscluster starts a throwaway Redis Cluster for tests: masters
// of its own (redis-server --cluster-enabled yes) on free loopback ports,
// joined with redis-cli --cluster create, in a directory of the test's own.
// Every server it starts is stopped when the test ends, whether it passed,
// failed or panicked; on Linux the kernel also kills them should the test
// binary die without running its cleanups. It never touches a server it did
// not start.
//
//	c := rediscluster.Start(t, rediscluster.Config{})
//	client := c.Client(t)       // a *redis.ClusterClient over every master
//	c.Kill(1)                   // SIGKILL the second master
//	err := c.Restart(1)         // start it again; it serves its slots again
//	c.MigrateSlot(ctx, slot, 2) // move a slot with its keys to the third master
//
// Tests that only read and write share one cluster per package with
// Shared(t); the package's TestMain then calls StopShared after m.Run.
//
// The nodes run with cluster-require-full-coverage no, so the masters that
// are up keep serving their slots while another is down, and with no
// persistence: a restarted master comes back with its slots and no data.
//
// When redis-server or redis-cli is not on PATH the test skips, or fails
// when SECMON_TEST_REQUIRE_SERVICES is set (see internal/testenv).
package rediscluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secmon-go/secmon/internal/testenv"
)

// Config configures Start. Zero fields mean the defaults.
type Config struct {
	// Masters is the number of masters; default 3 (the least Redis Cluster
	// accepts).
	Masters int
	// NodeTimeout is cluster-node-timeout: how long a master may be
	// unreachable before the others mark it failing. Default 1 s.
	NodeTimeout time.Duration
}

// startTimeout bounds starting one server, creating the cluster and waiting
// for it to agree; it only stops a broken setup from hanging the test.
const startTimeout = 60 * time.Second

// Cluster is a running Redis Cluster owned by one test. Its methods may be
// called from several goroutines, though Kill, Restart and MigrateSlot are
// meant to be called from the test's own.
type Cluster struct {
	cfg        Config
	server     string // redis-server
	clusterBus bool   // the server takes --cluster-port (Redis 7+)

	mu      sync.Mutex
	nodes   []*node
	stopped bool
}

// node is one master: its ports, directory and current process.
type node struct {
	index     int
	port, bus int
	dir       string
	id        string // cluster node ID, kept across restarts by nodes.conf

	cmd    *exec.Cmd     // nil while down
	exited chan struct{} // closed once cmd has been waited for
}

func (n *node) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// Start starts a cluster for t and stops it when t ends. It fails t when
// the cluster cannot be started, and skips t (see the package documentation)
// when the Redis binaries are missing.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	server, cli := binaries(t)
	c := &Cluster{}
	root := t.TempDir()
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.LogTails())
		}
		c.Stop()
	})
	if err := c.launch(cfg, root, server, cli); err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	sharedMu  sync.Mutex
	sharedErr error
	sharedC   *Cluster
	sharedDir string
)

// Shared returns a cluster shared by every test of the package that calls
// it, started by the first caller. Tests that kill masters or move slots
// start their own with Start instead. The package's TestMain must call
// StopShared after m.Run.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	server, cli := binaries(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedC == nil && sharedErr == nil {
		sharedDir, sharedErr = os.MkdirTemp("", "secmon-rediscluster-")
		if sharedErr == nil {
			c := &Cluster{}
			if sharedErr = c.launch(Config{}, sharedDir, server, cli); sharedErr != nil {
				c.Stop()
			} else {
				sharedC = c
			}
		}
	}
	if sharedErr != nil {
		t.Fatalf("shared cluster: %v", sharedErr)
	}
	return sharedC
}

// StopShared stops the shared cluster, if one was started, and removes its
// directory. TestMain calls it after m.Run.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedC != nil {
		sharedC.Stop()
		sharedC = nil
	}
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
		sharedDir = ""
	}
}

// binaries returns the paths of redis-server and redis-cli, or skips t.
func binaries(t testing.TB) (server, cli string) {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server is not on PATH; skipping Redis Cluster test")
		return "", ""
	}
	cli, err = exec.LookPath("redis-cli")
	if err != nil {
		testenv.Missing(t, "redis-cli is not on PATH; skipping Redis Cluster test")
		return "", ""
	}
	return server, cli
}

// launch starts cfg.Masters servers in directories under root, joins them
// into a cluster and waits until it is healthy.
func (c *Cluster) launch(cfg Config, root, server, cli string) error {
	if cfg.Masters == 0 {
		cfg.Masters = 3
	}
	if cfg.Masters < 3 {
		return fmt.Errorf("rediscluster: %d masters; Redis Cluster needs at least 3", cfg.Masters)
	}
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = time.Second
	}
	c.cfg, c.server, c.clusterBus = cfg, server, majorVersion(server) >= 7
	for i := range cfg.Masters {
		n := &node{index: i, dir: filepath.Join(root, "node"+strconv.Itoa(i))}
		if err := os.Mkdir(n.dir, 0o700); err != nil {
			return err
		}
		c.mu.Lock()
		c.nodes = append(c.nodes, n)
		c.mu.Unlock()
		if err := c.startFresh(n); err != nil {
			return fmt.Errorf("rediscluster: starting master %d: %w", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("rediscluster: redis-cli --cluster create: %w\n%s", err, out)
	}
	for _, n := range c.nodes {
		cl := n.client()
		id, err := cl.ClusterMyID(ctx).Result()
		cl.Close()
		if err != nil {
			return fmt.Errorf("rediscluster: CLUSTER MYID on %s: %w", n.addr(), err)
		}
		n.id = id
	}
	return c.WaitHealthy(ctx)
}

// majorVersion is redis-server's major version, or 0 when unknown.
func majorVersion(server string) int {
	out, err := exec.Command(server, "--version").Output()
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`v=(\d+)\.`).FindSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

// startFresh picks free ports for n and starts it, trying other ports when
// another process takes the chosen ones first.
func (c *Cluster) startFresh(n *node) error {
	var err error
	for range 5 {
		if n.port, n.bus, err = freePorts(); err != nil {
			return err
		}
		if err = c.start(n); err == nil {
			return nil
		}
	}
	return err
}

// freePorts returns a free loopback port and a free port for its cluster
// bus. Without --cluster-port (Redis 6) the bus is port+10000, so the port
// is chosen below 55536 and the bus checked free.
func freePorts() (port, bus int, err error) {
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		port = a.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			a.Close()
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return port, port + 10000, nil
	}
	return 0, 0, errors.New("no free pair of loopback ports")
}

// start runs redis-server for n on its ports and waits until it answers.
func (c *Cluster) start(n *node) error {
	args := []string{
		"--port", strconv.Itoa(n.port),
		"--bind", "127.0.0.1",
		"--protected-mode", "yes",
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(c.cfg.NodeTimeout.Milliseconds(), 10),
		"--cluster-require-full-coverage", "no",
		"--save", "",
		"--appendonly", "no",
		"--dir", n.dir,
		"--logfile", "redis.log",
	}
	if c.clusterBus {
		args = append(args, "--cluster-port", strconv.Itoa(n.bus))
	}
	cmd := exec.Command(c.server, args...)
	cmd.SysProcAttr = testenv.ChildProcAttr()
	cmd.Dir = n.dir
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return errors.New("cluster stopped")
	}
	if err := cmd.Start(); err != nil {
		c.mu.Unlock()
		return err
	}
	exited := make(chan struct{})
	n.cmd, n.exited = cmd, exited
	c.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		if ping(n.addr()) {
			return nil
		}
		select {
		case <-exited:
			c.mu.Lock()
			n.cmd = nil
			c.mu.Unlock()
			return fmt.Errorf("redis-server on port %d exited at start (see %s)", n.port, filepath.Join(n.dir, "redis.log"))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.kill(n)
			return fmt.Errorf("redis-server on port %d does not answer PING", n.port)
		}
	}
}

// ping reports whether a Redis server answers PING at addr.
func ping(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// client is a plain client of one node, for administration.
func (n *node) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: n.addr(), DialTimeout: time.Second, ContextTimeoutEnabled: true, MaxRetries: -1})
}

// Addrs returns every master's host:port, in master order.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr()
	}
	return out
}

// Client returns a cluster client seeded with every master, closed when t
// ends. ContextTimeoutEnabled is set, as secmon's Redis packages ask.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cl := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 c.Addrs(),
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
	})
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Owner returns the index of the master that serves slot, as that master's
// peers see it.
func (c *Cluster) Owner(ctx context.Context, slot int) (int, error) {
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	var lastErr error
	for _, n := range nodes {
		if !c.running(n) {
			continue
		}
		cl := n.client()
		slots, err := cl.ClusterSlots(ctx).Result()
		cl.Close()
		if err != nil {
			lastErr = err
			continue
		}
		for _, s := range slots {
			if int(s.Start) <= slot && slot <= int(s.End) && len(s.Nodes) > 0 {
				for _, m := range nodes {
					if m.addr() == s.Nodes[0].Addr || m.id == s.Nodes[0].ID {
						return m.index, nil
					}
				}
			}
		}
		return 0, fmt.Errorf("rediscluster: slot %d has no known owner", slot)
	}
	if lastErr == nil {
		lastErr = errors.New("no master is running")
	}
	return 0, fmt.Errorf("rediscluster: CLUSTER SLOTS: %w", lastErr)
}

// OwnerOfKey returns the index of the master serving key's slot.
func (c *Cluster) OwnerOfKey(ctx context.Context, key string) (int, error) {
	return c.Owner(ctx, Slot(key))
}

// Do runs one command on master i directly (no redirection).
func (c *Cluster) Do(ctx context.Context, i int, args ...any) *redis.Cmd {
	cl := c.nodes[i].client()
	defer cl.Close()
	return cl.Do(ctx, args...)
}

func (c *Cluster) running(n *node) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.cmd != nil
}

// Kill sends SIGKILL to master i, as a crash would, and waits until it has
// exited. Its slots stay assigned to it: there are no replicas to take over.
func (c *Cluster) Kill(i int) { c.kill(c.nodes[i]) }

func (c *Cluster) kill(n *node) {
	c.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts master i again on its port with its nodes.conf (same node
// ID and slots, no data) and waits until every master agrees the cluster
// is whole again.
func (c *Cluster) Restart(i int) error {
	n := c.nodes[i]
	if c.running(n) {
		return fmt.Errorf("rediscluster: master %d is running", i)
	}
	if err := c.start(n); err != nil {
		return fmt.Errorf("rediscluster: restarting master %d: %w", i, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return c.WaitHealthy(ctx)
}

// PID returns master i's process ID, or 0 while it is down.
func (c *Cluster) PID(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd := c.nodes[i].cmd; cmd != nil {
		return cmd.Process.Pid
	}
	return 0
}

// WaitHealthy waits until every running master reports cluster_state:ok,
// all slots served by masters it does not consider failing, and every
// master known, or until ctx ends.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var last string
	for {
		ok := true
		c.mu.Lock()
		nodes := append([]*node(nil), c.nodes...)
		c.mu.Unlock()
		for _, n := range nodes {
			if !c.running(n) {
				continue
			}
			cl := n.client()
			info, err := cl.ClusterInfo(ctx).Result()
			cl.Close()
			if err != nil {
				ok, last = false, n.addr()+": "+err.Error()
				break
			}
			fields := parseInfo(info)
			if fields["cluster_state"] != "ok" || fields["cluster_slots_ok"] != strconv.Itoa(Slots) ||
				fields["cluster_known_nodes"] != strconv.Itoa(len(nodes)) {
				ok, last = false, n.addr()+": "+strings.Join(strings.Fields(info), " ")
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rediscluster: cluster not healthy: %s", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func parseInfo(info string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// Migration moves one slot from its owner to another master in steps, so
// a test can send traffic while the slot is half moved (the source answers
// ASK for keys it no longer holds, TRYAGAIN for multi-key commands over
// keys on both sides).
type Migration struct {
	c        *Cluster
	slot     int
	src, dst *node
}

// BeginMigration marks slot as importing on master to and migrating on its
// current owner.
func (c *Cluster) BeginMigration(ctx context.Context, slot, to int) (*Migration, error) {
	from, err := c.Owner(ctx, slot)
	if err != nil {
		return nil, err
	}
	if from == to {
		return nil, fmt.Errorf("rediscluster: slot %d is already on master %d", slot, to)
	}
	m := &Migration{c: c, slot: slot, src: c.nodes[from], dst: c.nodes[to]}
	if err := c.Do(ctx, to, "cluster", "setslot", slot, "importing", m.src.id).Err(); err != nil {
		return nil, fmt.Errorf("rediscluster: SETSLOT IMPORTING: %w", err)
	}
	if err := c.Do(ctx, from, "cluster", "setslot", slot, "migrating", m.dst.id).Err(); err != nil {
		return nil, fmt.Errorf("rediscluster: SETSLOT MIGRATING: %w", err)
	}
	return m, nil
}

// MoveKeys moves up to max of the slot's keys that are still on the source
// (with MIGRATE, one atomic call) and returns how many it moved.
func (m *Migration) MoveKeys(ctx context.Context, max int) (int, error) {
	keys, err := m.c.Do(ctx, m.src.index, "cluster", "getkeysinslot", m.slot, max).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("rediscluster: GETKEYSINSLOT: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	args := []any{"migrate", "127.0.0.1", m.dst.port, "", 0, 5000, "keys"}
	for _, k := range keys {
		args = append(args, k)
	}
	if err := m.c.Do(ctx, m.src.index, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("rediscluster: MIGRATE: %w", err)
	}
	return len(keys), nil
}

// Finish moves the remaining keys and assigns the slot to the destination
// on every master, destination and source first.
func (m *Migration) Finish(ctx context.Context) error {
	for {
		n, err := m.MoveKeys(ctx, 100)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	order := []*node{m.dst, m.src}
	for _, n := range m.c.nodes {
		if n != m.dst && n != m.src {
			order = append(order, n)
		}
	}
	for _, n := range order {
		if !m.c.running(n) {
			continue
		}
		if err := m.c.Do(ctx, n.index, "cluster", "setslot", m.slot, "node", m.dst.id).Err(); err != nil {
			return fmt.Errorf("rediscluster: SETSLOT NODE on %s: %w", n.addr(), err)
		}
	}
	return nil
}

// MigrateSlot moves slot and its keys to master to in one go.
func (c *Cluster) MigrateSlot(ctx context.Context, slot, to int) error {
	m, err := c.BeginMigration(ctx, slot, to)
	if err != nil {
		return err
	}
	return m.Finish(ctx)
}

// CycleSlot moves slot rounds times, each time from its owner to the next
// master in order, slowly: one key at a time with a few milliseconds
// between keys, and a pause once every key has moved but the slot is not
// yet reassigned (the source then answers ASK for every key). Traffic sent
// meanwhile meets every stage of a move: MOVED, ASK and TRYAGAIN.
func (c *Cluster) CycleSlot(ctx context.Context, slot, rounds int) error {
	for round := range rounds {
		owner, err := c.Owner(ctx, slot)
		if err != nil {
			return err
		}
		m, err := c.BeginMigration(ctx, slot, (owner+1)%len(c.nodes))
		if err != nil {
			return err
		}
		for {
			n, err := m.MoveKeys(ctx, 1)
			if err != nil {
				return fmt.Errorf("round %d: %w", round, err)
			}
			if n == 0 {
				break
			}
			time.Sleep(3 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		if err := m.Finish(ctx); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
	}
	return nil
}

// Traffic is load a test sends while it changes the cluster.
type Traffic struct {
	Workers int                  // goroutines calling Op
	Pause   time.Duration        // between one worker's calls
	Op      func(g, i int) error // call i of worker g; an error stops that worker
}

// During runs change while tr's workers call Op over and over, and stops
// them once change has returned. It returns change's error, the first
// errors of the workers (at most 8) and the slowest call to Op.
func (tr Traffic) During(change func() error) (slowest time.Duration, errs []error, err error) {
	var (
		done       atomic.Bool
		maxLatency atomic.Int64
		wg         sync.WaitGroup
	)
	errc := make(chan error, 8)
	for g := range tr.Workers {
		wg.Go(func() {
			for i := 0; !done.Load(); i++ {
				start := time.Now()
				err := tr.Op(g, i)
				if d := int64(time.Since(start)); d > maxLatency.Load() {
					maxLatency.Store(d)
				}
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				if tr.Pause > 0 {
					time.Sleep(tr.Pause)
				}
			}
		})
	}
	err = change()
	done.Store(true)
	wg.Wait()
	close(errc)
	for e := range errc {
		errs = append(errs, e)
	}
	return time.Duration(maxLatency.Load()), errs, err
}

// Stop kills every server and waits for them. It is idempotent; Start
// registers it as a cleanup.
func (c *Cluster) Stop() {
	c.mu.Lock()
	c.stopped = true
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		c.kill(n)
	}
}

// Alive reports whether process pid still exists (as anything but a
// zombie of ours: Stop waits for every server it started).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

// LogTails returns the end of every server's log, for a failed test.
func (c *Cluster) LogTails() string {
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	var out bytes.Buffer
	for _, n := range nodes {
		b, err := os.ReadFile(filepath.Join(n.dir, "redis.log"))
		if err != nil {
			continue
		}
		lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
		lines = lines[max(0, len(lines)-15):]
		fmt.Fprintf(&out, "rediscluster: master %d (%s) log tail:\n%s\n", n.index, n.addr(), bytes.Join(lines, []byte("\n")))
	}
	return out.String()
}
