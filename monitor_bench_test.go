package secmon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/rediscounters"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/store/memstore"
)

// noopStore accepts every write and stores nothing, so benchmarks measure
// the Monitor alone.
type noopStore struct{}

func (noopStore) InsertEvents(context.Context, []secmon.Event) error { return nil }
func (noopStore) QueryEvents(context.Context, secmon.EventQuery) ([]secmon.Event, error) {
	return nil, nil
}
func (noopStore) UpsertSessions(context.Context, []secmon.SessionBeat) error { return nil }
func (noopStore) ActiveSessions(context.Context, secmon.SessionQuery) ([]secmon.Session, error) {
	return nil, nil
}
func (noopStore) RevokeSession(context.Context, string, time.Time) error    { return nil }
func (noopStore) InsertActivities(context.Context, []secmon.Activity) error { return nil }
func (noopStore) Activities(context.Context, secmon.ActivityQuery) ([]secmon.Activity, error) {
	return nil, nil
}
func (noopStore) UpsertAlerts(context.Context, []secmon.Alert) error { return nil }
func (noopStore) Alerts(context.Context, secmon.AlertQuery) ([]secmon.Alert, error) {
	return nil, nil
}
func (noopStore) SetAlertStatus(context.Context, uuid.UUID, secmon.AlertStatus) error { return nil }
func (noopStore) Summary(context.Context, time.Time, time.Time) (secmon.Summary, error) {
	return secmon.Summary{}, nil
}
func (noopStore) Hourly(context.Context, time.Time, time.Time) ([]secmon.HourBucket, error) {
	return nil, nil
}
func (noopStore) PutBlocks(context.Context, []secmon.Block) error { return nil }
func (noopStore) Blocks(context.Context, secmon.BlockQuery) ([]secmon.Block, error) {
	return nil, nil
}
func (noopStore) LiftBlock(context.Context, uuid.UUID, string, time.Time) error { return nil }
func (noopStore) Top(context.Context, secmon.TopQuery) (secmon.TopReport, error) {
	return secmon.TopReport{}, nil
}
func (noopStore) Purge(context.Context, secmon.RetentionPolicy, time.Time) (secmon.PurgeResult, error) {
	return secmon.PurgeResult{}, nil
}
func (noopStore) EraseUser(context.Context, string) (int64, error)    { return 0, nil }
func (noopStore) ExportUser(context.Context, string, io.Writer) error { return nil }

var _ secmon.Store = noopStore{}

// reportCPU adds a cpu-ns/op metric: the process's CPU time (every
// goroutine, the flusher and the garbage collector included) per operation.
// On a shared machine it is steadier than ns/op, which also counts the time
// other processes held the CPU.
// Use it as defer reportCPU(b)() just before the timed loop.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func benchMonitor(b *testing.B, mod func(*secmon.Config)) *secmon.Monitor {
	b.Helper()
	cfg := secmon.Config{Store: noopStore{}, QueueCapacity: 1 << 16, MaxPendingSessions: 1 << 20}
	if mod != nil {
		mod(&cfg)
	}
	m, err := secmon.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return m
}

var benchEvent = secmon.Event{
	Type: secmon.EventLoginFailure, Severity: secmon.SeverityLow,
	UserID: "user-42", SessionID: "sess-42", IP: netip.MustParseAddr("203.0.113.7"),
	UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
}

// logOrCount logs and counts ErrQueueFull, which would mean the benchmark
// outran the flusher and measured the refusal path instead.
func logOrCount(b *testing.B, m *secmon.Monitor, ctx context.Context, full *atomic.Int64) {
	countFull(b, m.Log(ctx, benchEvent), full)
}

// countFull counts ErrQueueFull in full and fails b on any other error.
func countFull(b *testing.B, err error, full *atomic.Int64) {
	if err != nil {
		if !errors.Is(err, secmon.ErrQueueFull) {
			b.Fatal(err)
		}
		full.Add(1)
	}
}

// BenchmarkMonitorLog is Log on the caller's goroutine with a no-op store:
// validate, stamp ID and time, privacy policy, enqueue.
func BenchmarkMonitorLog(b *testing.B) {
	m := benchMonitor(b, nil)
	ctx := context.Background()
	var full atomic.Int64
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		logOrCount(b, m, ctx, &full)
	}
	b.ReportMetric(float64(full.Load())/float64(b.N), "queuefull/op")
}

// BenchmarkMonitorLogRequestContext logs with a cancellable request
// context and a Detector, the usual shape in an HTTP handler.
func BenchmarkMonitorLogWithDetector(b *testing.B) {
	m := benchMonitor(b, func(c *secmon.Config) {
		c.Detector = secmon.DetectorFunc(func(context.Context, secmon.Event) ([]secmon.Finding, error) { return nil, nil })
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var full atomic.Int64
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		logOrCount(b, m, ctx, &full)
	}
	b.ReportMetric(float64(full.Load())/float64(b.N), "queuefull/op")
}

// BenchmarkMonitorLogAsyncDetector is BenchmarkMonitorLogWithDetector with
// the Detector on the detection worker (AsyncDetection): Log hands a copy of
// the event to the worker's queue instead of calling Observe. Events the
// worker could not take (a full queue) are reported as detectdropped/op.
func BenchmarkMonitorLogAsyncDetector(b *testing.B) {
	m := benchMonitor(b, func(c *secmon.Config) {
		c.Detector = secmon.DetectorFunc(func(context.Context, secmon.Event) ([]secmon.Finding, error) { return nil, nil })
		c.AsyncDetection = true
		c.DetectQueue = 1 << 16
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var full atomic.Int64
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		logOrCount(b, m, ctx, &full)
	}
	b.ReportMetric(float64(full.Load())/float64(b.N), "queuefull/op")
	b.ReportMetric(float64(m.Stats().DetectDropped)/float64(b.N), "detectdropped/op")
}

// redisEngine returns the built-in detection rules over rediscounters.Counters in
// the test Redis, under a key prefix deleted when the benchmark ends.
func redisEngine(b *testing.B) *detect.Engine {
	b.Helper()
	client, prefix := testenv.RedisClient(b, "monitor-bench")
	counters, err := rediscounters.New(client, rediscounters.Config{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	engine, err := detect.New(detect.Config{Counters: counters})
	if err != nil {
		b.Fatal(err)
	}
	return engine
}

// BenchmarkMonitorLogRedisDetector is Log with the built-in rules over
// rediscounters.Counters, which the Monitor runs on its detection worker. The worker
// does one Redis round trip per event and cannot keep up with this loop, so
// most events find the detection queue full (detectdropped/op): the figure
// is what Log costs a caller while detection waits on Redis.
func BenchmarkMonitorLogRedisDetector(b *testing.B) {
	engine := redisEngine(b)
	m := benchMonitor(b, func(c *secmon.Config) { c.Detector = engine })
	ctx := context.Background()
	var full atomic.Int64
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		logOrCount(b, m, ctx, &full)
	}
	b.ReportMetric(float64(full.Load())/float64(b.N), "queuefull/op")
	b.ReportMetric(float64(m.Stats().DetectDropped)/float64(b.N), "detectdropped/op")
}

// BenchmarkBaselineRedisObserveInline is what Log would cost with the same
// engine called on the caller's goroutine: one Observe, one Redis round
// trip, per event.
func BenchmarkBaselineRedisObserveInline(b *testing.B) {
	engine := redisEngine(b)
	ctx := context.Background()
	e := benchEvent
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		e.Time = time.Now()
		if _, err := engine.Observe(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMonitorLogWithMetadata logs an event with three metadata keys,
// which the privacy policy copies into a new, filtered map.
func BenchmarkMonitorLogWithMetadata(b *testing.B) {
	m := benchMonitor(b, nil)
	ctx := context.Background()
	e := benchEvent
	e.Metadata = map[string]string{"reason": "bad_password", "method": "POST", "path": "/login"}
	var full atomic.Int64
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		countFull(b, m.Log(ctx, e), &full)
	}
	b.ReportMetric(float64(full.Load())/float64(b.N), "queuefull/op")
}

func BenchmarkMonitorLogParallel(b *testing.B) {
	m := benchMonitor(b, nil)
	ctx := context.Background()
	var full atomic.Int64
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			logOrCount(b, m, ctx, &full)
		}
	})
	b.ReportMetric(float64(full.Load())/float64(b.N), "queuefull/op")
}

func benchBeats(n int) []secmon.SessionBeat {
	beats := make([]secmon.SessionBeat, n)
	for i := range beats {
		beats[i] = secmon.SessionBeat{
			SessionID: fmt.Sprintf("session-%06d", i), UserID: fmt.Sprintf("user-%06d", i),
			IP: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), UserAgent: "Mozilla/5.0 Firefox/128.0",
		}
	}
	return beats
}

// BenchmarkMonitorHeartbeat beats 10,000 sessions round-robin.
func BenchmarkMonitorHeartbeat(b *testing.B) {
	m := benchMonitor(b, nil)
	beats := benchBeats(10000)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	i := 0
	for b.Loop() {
		if err := m.Heartbeat(ctx, beats[i]); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(beats) {
			i = 0
		}
	}
}

func BenchmarkMonitorHeartbeatParallel(b *testing.B) {
	m := benchMonitor(b, nil)
	beats := benchBeats(10000)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1000)) % len(beats)
		for pb.Next() {
			if err := m.Heartbeat(ctx, beats[i]); err != nil {
				b.Error(err)
				return
			}
			if i++; i == len(beats) {
				i = 0
			}
		}
	})
}

func BenchmarkMonitorTrackActivity(b *testing.B) {
	m := benchMonitor(b, nil)
	ctx := context.Background()
	a := secmon.Activity{UserID: "user-42", Action: "page_view", Resource: "report:42"}
	var full atomic.Int64
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		countFull(b, m.TrackActivity(ctx, a), &full)
	}
	b.ReportMetric(float64(full.Load())/float64(b.N), "queuefull/op")
}

// BenchmarkBaselineInsertPerEvent is the audited design's shape: one store
// write per event on the caller's goroutine, here into memstore (a database
// round trip would add far more).
func BenchmarkBaselineInsertPerEvent(b *testing.B) {
	st := memstore.New()
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		e := benchEvent
		e.ID, e.Time = secmon.NewID(), time.Now()
		if err := st.InsertEvents(ctx, []secmon.Event{e}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineUpsertPerBeat is one session upsert per heartbeat.
func BenchmarkBaselineUpsertPerBeat(b *testing.B) {
	st := memstore.New()
	beats := benchBeats(10000)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	i := 0
	for b.Loop() {
		bt := beats[i]
		bt.Time = time.Now()
		if err := st.UpsertSessions(ctx, []secmon.SessionBeat{bt}); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(beats) {
			i = 0
		}
	}
}
