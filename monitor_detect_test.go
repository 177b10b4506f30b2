package secmon_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/rediscounters"
	"github.com/secmon-go/secmon/internal/testenv"
)

// With the built-in rules, an attack of 1,000 failed logins from one address
// over 50 minutes crosses brute_force_ip once per window; the Monitor merges
// every finding into one open alert.
func TestThousandFailedLoginsWithBuiltInRules(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	engine, err := detect.New(detect.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var notified int
	done := make(chan struct{}, 8)
	m, st, _ := setup(t, func(c *secmon.Config) {
		c.Clock = clock
		c.Detector = engine
		c.Notifiers = []secmon.Notifier{secmon.NotifierFunc(func(context.Context, secmon.Alert) error {
			notified++ // only the notifier goroutine runs this
			done <- struct{}{}
			return nil
		})}
	})
	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.23")
	for i := range 1000 {
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: ip}); err != nil {
			t.Fatalf("Log %d: %v", i, err)
		}
		clock.Advance(3 * time.Second)
		if i%250 == 0 {
			mustFlush(t, m)
		}
	}
	mustFlush(t, m)
	alerts, err := st.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("open alerts = %d, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	s := m.Stats()
	findings := int64(s.AlertsOpened + s.AlertsSuppressed)
	if a.Rule != "brute_force_ip" || a.Subject != "ip:"+secmon.IPGroup(ip).String() || a.Count != findings || findings < 2 {
		t.Errorf("alert %s %s Count %d; want brute_force_ip for the address with Count = all %d findings (several windows)",
			a.Rule, a.Subject, a.Count, findings)
	}
	if s.AlertsOpened != 1 {
		t.Errorf("AlertsOpened = %d, want 1", s.AlertsOpened)
	}
	<-done
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if notified != 1 {
		t.Errorf("notified %d times, want once", notified)
	}
	t.Logf("findings merged into the alert: %d", findings)
}

// gatedDetector is a Detector that reports it blocks. Each Observe records
// the event and its context's error, then, while gate is open (non-nil and
// not closed), announces itself on entered and waits for gate to close or
// its context to end. It returns one finding per failed login, keyed by IP
// group.
type gatedDetector struct {
	blocks  bool
	gate    chan struct{}
	entered chan struct{}

	mu      sync.Mutex
	seen    []secmon.Event
	ctxErrs []error
}

func newGatedDetector() *gatedDetector {
	return &gatedDetector{blocks: true, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (d *gatedDetector) ObserveBlocks() bool { return d.blocks }

func (d *gatedDetector) Observe(ctx context.Context, e secmon.Event) ([]secmon.Finding, error) {
	d.mu.Lock()
	d.seen = append(d.seen, e)
	d.ctxErrs = append(d.ctxErrs, ctx.Err())
	d.mu.Unlock()
	if d.gate != nil {
		select {
		case <-d.gate:
		default:
			select {
			case d.entered <- struct{}{}:
			default:
			}
			select {
			case <-d.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	if e.Type != secmon.EventLoginFailure {
		return nil, nil
	}
	return []secmon.Finding{{
		Rule: "brute_force_ip", Subject: "ip:" + secmon.IPGroup(e.IP).String(),
		Severity: secmon.SeverityHigh, Summary: "failed logins from one address",
	}}, nil
}

func (d *gatedDetector) observed() []secmon.Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

var _ secmon.BlockingDetector = (*gatedDetector)(nil)

// waitOrFail waits for ch, failing the test after a generous limit. It
// asserts nothing about how long the wait takes, only that it ends.
func waitOrFail(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
	}
}

// A Detector that reports it blocks runs on the detection worker: Log
// returns while Observe is stuck, with the caller's cancellation not passed
// on, and the findings are raised once the Detector goes on.
func TestBlockingDetectorDoesNotBlockLog(t *testing.T) {
	t.Parallel()
	d := newGatedDetector()
	m, st, _ := setup(t, func(c *secmon.Config) { c.Detector = d })
	ip := netip.MustParseAddr("198.51.100.7")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a finished request: the Detector must not see it cancelled

	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for i := range 5 {
			if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: ip,
				Metadata: map[string]string{"reason": "bad_password", "password": "hunter2"}}); err != nil {
				t.Errorf("Log %d: %v", i, err)
			}
		}
	}()
	waitOrFail(t, "the Detector to be called", d.entered)
	waitOrFail(t, "Log to return while the Detector is blocked", logged)
	s := m.Stats()
	if s.PendingDetections != 4 || s.AlertsOpened != 0 || s.EventsAccepted != 5 {
		t.Errorf("while blocked: PendingDetections %d AlertsOpened %d EventsAccepted %d; want 4, 0, 5",
			s.PendingDetections, s.AlertsOpened, s.EventsAccepted)
	}
	if n := len(d.observed()); n != 1 {
		t.Errorf("Observe called %d times while blocked, want 1", n)
	}

	close(d.gate)
	mustFlush(t, m) // waits for the worker to observe the five events
	s = m.Stats()
	if s.AlertsOpened != 1 || s.AlertsSuppressed != 4 || s.PendingDetections != 0 || s.DetectDropped != 0 {
		t.Errorf("after Flush: opened %d suppressed %d pending %d dropped %d; want 1, 4, 0, 0",
			s.AlertsOpened, s.AlertsSuppressed, s.PendingDetections, s.DetectDropped)
	}
	alerts, err := st.Alerts(context.Background(), secmon.AlertQuery{Status: secmon.AlertOpen})
	if err != nil || len(alerts) != 1 || alerts[0].Count != 5 {
		t.Fatalf("open alerts = %+v, %v; want one with Count 5", alerts, err)
	}
	stored, err := st.QueryEvents(context.Background(), secmon.EventQuery{})
	if err != nil || len(stored) != 5 {
		t.Fatalf("stored events = %d, %v; want 5", len(stored), err)
	}
	ids := map[uuid.UUID]bool{}
	for _, e := range stored {
		ids[e.ID] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, e := range d.seen {
		if !ids[e.ID] {
			t.Errorf("the Detector saw event %v, which was not stored under that ID", e.ID)
		}
		if _, ok := e.Metadata["password"]; ok || e.Metadata["reason"] != "bad_password" {
			t.Errorf("the Detector saw metadata %v, not the privacy policy's", e.Metadata)
		}
		if d.ctxErrs[i] != nil {
			t.Errorf("the Detector's context was cancelled: %v", d.ctxErrs[i])
		}
	}
}

// A BlockingDetector that says it does not block, and any Detector when
// AsyncDetection is unset, still runs inline: its findings exist when Log
// returns.
func TestNonBlockingDetectorRunsInline(t *testing.T) {
	t.Parallel()
	d := &gatedDetector{blocks: false}
	m, _, _ := setup(t, func(c *secmon.Config) { c.Detector = d })
	if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr("192.0.2.4")}); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.AlertsOpened != 1 {
		t.Errorf("AlertsOpened right after Log = %d, want 1 (inline detection)", s.AlertsOpened)
	}
}

// AsyncDetection moves even an in-memory Detector to the worker.
func TestAsyncDetectionForcesTheWorker(t *testing.T) {
	t.Parallel()
	d := newGatedDetector()
	d.blocks = false
	m, _, _ := setup(t, func(c *secmon.Config) {
		c.Detector = d
		c.AsyncDetection = true
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr("192.0.2.5")}); err != nil {
				t.Error(err)
			}
		}
	}()
	waitOrFail(t, "the Detector to be called", d.entered)
	waitOrFail(t, "Log to return while the Detector is blocked", done)
	close(d.gate)
	mustFlush(t, m)
	if s := m.Stats(); s.AlertsOpened != 1 || s.AlertsSuppressed != 2 {
		t.Errorf("opened %d suppressed %d, want 1 and 2", s.AlertsOpened, s.AlertsSuppressed)
	}
}

// waitClosed waits until Close has begun: Log refuses with ErrClosed. The
// probe is an invalid event, which an open Monitor refuses without queuing.
func waitClosed(t *testing.T, m *secmon.Monitor) {
	t.Helper()
	eventually(t, "Close to begin", func() bool {
		return errors.Is(m.Log(context.Background(), secmon.Event{}), secmon.ErrClosed)
	})
}

// A full detection queue neither blocks nor fails Log: the event is stored,
// the drop counted, and the drops logged at most once a second.
func TestDetectQueueFullDropsDetectionNotEvents(t *testing.T) {
	t.Parallel()
	d := newGatedDetector()
	h := &recordHandler{}
	m, st, clock := setup(t, func(c *secmon.Config) {
		c.Detector = d
		c.DetectQueue = 2
		c.Logger = slog.New(h)
	})
	ctx := context.Background()
	ip := netip.MustParseAddr("203.0.113.50")
	log := func() {
		t.Helper()
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: ip}); err != nil {
			t.Fatalf("Log: %v", err)
		}
	}
	log()
	waitOrFail(t, "the Detector to take the first event", d.entered)
	for range 6 { // two fill the queue, four are dropped
		log()
	}
	s := m.Stats()
	if s.DetectDropped != 4 || s.PendingDetections != 2 || s.EventsAccepted != 7 || s.QueueFull != 0 {
		t.Errorf("DetectDropped %d PendingDetections %d EventsAccepted %d QueueFull %d; want 4, 2, 7, 0",
			s.DetectDropped, s.PendingDetections, s.EventsAccepted, s.QueueFull)
	}
	if !strings.Contains(s.LastError, "detection queue full") {
		t.Errorf("LastError = %q", s.LastError)
	}
	countLogs := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		n := 0
		for _, r := range h.recs {
			if strings.Contains(r, "detection queue full") {
				n++
			}
		}
		return n
	}
	if n := countLogs(); n != 1 {
		t.Errorf("%d log lines for four drops within a second, want 1", n)
	}
	clock.Advance(2 * time.Second)
	log()
	if n := countLogs(); n != 2 {
		t.Errorf("%d log lines after a drop two seconds later, want 2", n)
	}

	close(d.gate)
	mustFlush(t, m)
	if n, dup := st.writtenEvents(); n != 8 || dup != 0 {
		t.Errorf("written %d events (%d duplicated), want all 8", n, dup)
	}
	if n := len(d.observed()); n != 3 {
		t.Errorf("the Detector saw %d events, want 3 (one in hand, two queued)", n)
	}
	if s := m.Stats(); s.AlertsOpened+s.AlertsSuppressed != 3 || s.DetectDropped != 5 {
		t.Errorf("findings %d dropped %d, want 3 and 5", s.AlertsOpened+s.AlertsSuppressed, s.DetectDropped)
	}
}

// Close lets the worker observe every queued event and writes the alerts
// their findings raise, and notifies the new ones.
func TestCloseDrainsDetectionQueueAndWritesAlerts(t *testing.T) {
	t.Parallel()
	d := newGatedDetector()
	notified := make(chan secmon.Alert, 16)
	clock := newFakeClock()
	st := newTestStore(clock)
	m, err := secmon.New(secmon.Config{
		Store: st, Clock: clock, Detector: d, FlushInterval: time.Hour,
		Notifiers: []secmon.Notifier{secmon.NotifierFunc(func(_ context.Context, a secmon.Alert) error {
			notified <- a
			return nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ips := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}
	const perIP = 20
	if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr(ips[0])}); err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, "the Detector to be called", d.entered)
	for i := 1; i < perIP*len(ips); i++ {
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr(ips[i%len(ips)])}); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Stats().PendingDetections; n != perIP*len(ips)-1 {
		t.Fatalf("PendingDetections = %d before Close, want %d", n, perIP*len(ips)-1)
	}

	closed := make(chan error, 1)
	go func() { closed <- m.Close(ctx) }()
	waitClosed(t, m)
	if n := m.Stats().PendingDetections; n != perIP*len(ips)-1 {
		t.Fatalf("PendingDetections = %d once Close began, want %d still queued", n, perIP*len(ips)-1)
	}
	close(d.gate)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}

	alerts, err := st.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != len(ips) {
		t.Fatalf("open alerts after Close = %d, want %d: %+v", len(alerts), len(ips), alerts)
	}
	for _, a := range alerts {
		if a.Count != perIP {
			t.Errorf("alert %s Count %d, want %d", a.Subject, a.Count, perIP)
		}
	}
	close(notified)
	var subjects []string
	for a := range notified {
		subjects = append(subjects, a.Subject)
	}
	slices.Sort(subjects)
	if want := []string{"ip:192.0.2.1/32", "ip:192.0.2.2/32", "ip:192.0.2.3/32"}; !slices.Equal(subjects, want) {
		t.Errorf("notified %v, want each alert once: %v", subjects, want)
	}
	if s := m.Stats(); s.DetectDropped != 0 || s.PendingDetections != 0 || s.PendingAlerts != 0 {
		t.Errorf("after Close: dropped %d pending detections %d pending alerts %d", s.DetectDropped, s.PendingDetections, s.PendingAlerts)
	}
	if err := m.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// When Close's context ends while the Detector is stuck, the worker's
// context is cancelled, the events it has not reached are counted as
// dropped, and the worker stops; a second Close writes every event.
func TestCloseGivesUpOnAStuckDetector(t *testing.T) {
	t.Parallel()
	d := newGatedDetector()
	clock := newFakeClock()
	st := newTestStore(clock)
	m, err := secmon.New(secmon.Config{Store: st, Clock: clock, Detector: d, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure, IP: netip.MustParseAddr("192.0.2.8")}); err != nil {
			t.Fatal(err)
		}
	}
	waitOrFail(t, "the Detector to be called", d.entered)
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- m.Close(ctx) }()
	waitClosed(t, m)
	cancel()
	<-closed // nil or *UnflushedError, depending on whether the drain began
	if err := m.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n, _ := st.writtenEvents(); n != 10 {
		t.Errorf("written %d events, want 10", n)
	}
	s := m.Stats()
	if s.DetectDropped != 9 || s.DetectorErrors != 1 || s.AlertsOpened != 0 {
		t.Errorf("dropped %d detector errors %d opened %d; want 9 (never observed), 1 (the cancelled call), 0",
			s.DetectDropped, s.DetectorErrors, s.AlertsOpened)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) != 1 {
		t.Errorf("the Detector saw %d events, want 1", len(d.seen))
	}
}

// Session anomaly events raised by Heartbeat go to the worker like logged
// events.
func TestSessionAnomalyReachesTheDetectionWorker(t *testing.T) {
	t.Parallel()
	d := newGatedDetector()
	d.gate = nil
	m, _, clock := setup(t, func(c *secmon.Config) { c.Detector = d })
	ctx := context.Background()
	for _, ip := range []string{"192.0.2.1", "198.51.100.1"} {
		clock.Advance(time.Minute)
		if err := m.Heartbeat(ctx, secmon.SessionBeat{SessionID: "s1", UserID: "u1", IP: netip.MustParseAddr(ip), UserAgent: "Firefox"}); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, m)
	seen := d.observed()
	if len(seen) != 1 || seen[0].Type != secmon.EventSessionAnomaly || seen[0].Metadata["reason"] != secmon.AnomalyIPGroup {
		t.Errorf("the Detector saw %+v, want one session_anomaly (ip_group)", seen)
	}
}

// A Flush whose context ends while the worker is stuck returns the
// context's error rather than waiting.
func TestFlushHonoursContextWhileDetectorIsStuck(t *testing.T) {
	t.Parallel()
	d := newGatedDetector()
	m, _, _ := setup(t, func(c *secmon.Config) { c.Detector = d })
	if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure}); err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, "the Detector to be called", d.entered)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Flush = %v, want context.Canceled", err)
	}
	close(d.gate)
	mustFlush(t, m)
	if s := m.Stats(); s.AlertsOpened != 1 {
		t.Errorf("AlertsOpened = %d, want 1", s.AlertsOpened)
	}
}

// The detect engine over Redis counters reports that it blocks, so the
// Monitor runs it on the worker; 1,000 failed logins from one address still
// make one open alert once Close has drained the queue.
func TestRedisDetectionEngineThroughTheMonitor(t *testing.T) {
	t.Parallel()
	client, prefix := testenv.RedisClient(t, "monitor")
	// The test is about the Monitor's worker, not about Redis deadlines: a
	// shared machine under load answers slower than the 250 ms default.
	counters, err := rediscounters.New(client, rediscounters.Config{Prefix: prefix, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	engine, err := detect.New(detect.Config{Clock: clock, Counters: counters})
	if err != nil {
		t.Fatal(err)
	}
	if !engine.ObserveBlocks() {
		t.Fatal("an engine over rediscounters.Counters says it does not block")
	}
	st := newTestStore(clock)
	m, err := secmon.New(secmon.Config{Store: st, Clock: clock, Detector: engine, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.23")
	for i := range 1000 {
		// Each event carries its own time, so the counts do not depend on
		// when the worker reaches it.
		if err := m.Log(ctx, secmon.Event{Type: secmon.EventLoginFailure, IP: ip, Time: clock.Now()}); err != nil {
			t.Fatalf("Log %d: %v", i, err)
		}
		clock.Advance(3 * time.Second)
		// The fake clock runs far ahead of a worker that waits on Redis:
		// every 100 events (5 minutes of attack) let it catch up, as real
		// time would, so that a flush does not find the alert quiet for
		// longer than SuppressWindow and forget it. The last 99 are left
		// for Close.
		if i%100 == 0 {
			mustFlush(t, m)
		}
	}
	t.Logf("events left for Close to observe: %d", m.Stats().PendingDetections)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	alerts, err := st.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("open alerts = %d, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	s := m.Stats()
	findings := int64(s.AlertsOpened + s.AlertsSuppressed)
	if a.Rule != "brute_force_ip" || a.Subject != "ip:"+secmon.IPGroup(ip).String() || a.Count != findings || findings < 2 {
		t.Errorf("alert %s %s Count %d; want brute_force_ip for the address with Count = all %d findings (several windows)",
			a.Rule, a.Subject, a.Count, findings)
	}
	if s.DetectDropped != 0 || s.DetectorErrors != 0 || s.AlertsOpened != 1 {
		t.Errorf("dropped %d detector errors %d opened %d; want 0, 0, 1", s.DetectDropped, s.DetectorErrors, s.AlertsOpened)
	}
	if es := engine.Stats(); es.Events != 1000 || es.CounterErrors != 0 {
		t.Errorf("engine saw %d events with %d counter errors, want 1000 and 0", es.Events, es.CounterErrors)
	}
	if n, _ := st.writtenEvents(); n != 1000 {
		t.Errorf("written %d events, want 1000", n)
	}
}

// FindingHandlers see every valid finding, repeats that merge into an open
// alert included, with Time filled, on the inline and the worker path; a
// panicking handler is contained and the others still run.
func TestFindingHandlers(t *testing.T) {
	t.Parallel()
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "inline", true: "worker"}[async], func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var got []secmon.Finding
			det := secmon.DetectorFunc(func(_ context.Context, e secmon.Event) ([]secmon.Finding, error) {
				return []secmon.Finding{
					{Rule: "r", Subject: "ip:" + secmon.IPGroup(e.IP).String(), Severity: secmon.SeverityHigh,
						Sources: []secmon.Source{{Group: secmon.IPGroup(e.IP), Count: 1}}},
					{Rule: "", Subject: "x"}, // invalid: never handed over
				}, nil
			})
			m, _, clock := setup(t, func(c *secmon.Config) {
				c.Detector = det
				c.AsyncDetection = async
				c.FindingHandlers = []secmon.FindingHandler{
					secmon.FindingHandlerFunc(func(secmon.Finding) { panic("boom") }),
					secmon.FindingHandlerFunc(func(f secmon.Finding) {
						mu.Lock()
						got = append(got, f)
						mu.Unlock()
					}),
				}
			})
			ip := netip.MustParseAddr("203.0.113.9")
			for range 3 {
				if err := m.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure, IP: ip}); err != nil {
					t.Fatal(err)
				}
			}
			mustFlush(t, m)
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 3 {
				t.Fatalf("handler saw %d findings, want 3 (one per event, repeats included)", len(got))
			}
			for _, f := range got {
				if f.Rule != "r" || !f.Time.Equal(clock.Now()) || len(f.Sources) != 1 {
					t.Errorf("finding %+v: want rule r, Time %v, one source", f, clock.Now())
				}
			}
			if s := m.Stats(); s.AlertsOpened != 1 || s.AlertsSuppressed != 2 || s.DetectorErrors < 3 {
				t.Errorf("stats %+v: want one alert opened, two merged, the panics and invalid findings counted", s)
			}
		})
	}
	if _, err := secmon.New(secmon.Config{Store: newTestStore(newFakeClock()), FindingHandlers: []secmon.FindingHandler{nil}}); err == nil {
		t.Error("New accepted a nil FindingHandler")
	}
}
