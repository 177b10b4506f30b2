package upload

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"
)

// Tracker defaults.
const (
	DefaultTrackerSamples = 100
	DefaultSlowStage      = 200 * time.Millisecond
)

// TrackerConfig configures a Tracker. Zero fields mean the documented
// defaults.
type TrackerConfig struct {
	// Samples is how many recent durations each stage keeps for its
	// statistics (a ring buffer). Default DefaultTrackerSamples; at most
	// 1 << 16.
	Samples int
	// SlowStage is the duration above which a stage is logged as slow.
	// Default DefaultSlowStage (a 200 ms budget); negative disables
	// the warning.
	SlowStage time.Duration
	// Logger receives the slow-stage warnings. Nil is silent.
	Logger *slog.Logger
}

// StageStats summarises the recent durations of one validation stage.
type StageStats struct {
	Stage   string
	Count   int64         // durations observed since the tracker was made
	Samples int           // durations the statistics below cover (the last N)
	Min     time.Duration // over the samples
	Avg     time.Duration
	P50     time.Duration // nearest-rank median
	P99     time.Duration // nearest-rank 99th percentile
	Max     time.Duration
	Slow    int64 // durations observed above the slow-stage threshold, ever
}

// Tracker records how long validation stages take: per stage, the last N
// durations in a ring buffer, from which Snapshot computes min, average,
// median, p99 and max. A duration over the slow-stage threshold is logged as a
// warning.
//
// A Tracker is safe for concurrent use. Several Validators may share one.
type Tracker struct {
	mu     sync.Mutex
	n      int
	slow   time.Duration
	log    *slog.Logger
	stages map[string]*ring
}

type ring struct {
	buf   []time.Duration
	next  int
	full  bool
	count int64
	slow  int64
}

// NewTracker returns a Tracker. An invalid config is an error.
func NewTracker(cfg TrackerConfig) (*Tracker, error) {
	switch {
	case cfg.Samples < 0:
		return nil, errors.New("upload: TrackerConfig.Samples is negative")
	case cfg.Samples > 1<<16:
		return nil, errors.New("upload: TrackerConfig.Samples exceeds 65536")
	case cfg.Samples == 0:
		cfg.Samples = DefaultTrackerSamples
	}
	if cfg.SlowStage == 0 {
		cfg.SlowStage = DefaultSlowStage
	}
	return &Tracker{n: cfg.Samples, slow: cfg.SlowStage, log: cfg.Logger, stages: make(map[string]*ring)}, nil
}

// Observe records one duration for stage. Durations over the slow-stage
// threshold are counted and, with a Logger, logged at warning level.
func (t *Tracker) Observe(stage string, d time.Duration) {
	t.mu.Lock()
	r := t.stages[stage]
	if r == nil {
		r = &ring{buf: make([]time.Duration, t.n)}
		t.stages[stage] = r
	}
	r.buf[r.next] = d
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.count++
	slow := t.slow > 0 && d > t.slow
	if slow {
		r.slow++
	}
	t.mu.Unlock()
	if slow && t.log != nil {
		t.log.LogAttrs(context.Background(), slog.LevelWarn, "upload: slow validation stage",
			slog.String("stage", stage), slog.Duration("duration", d), slog.Duration("threshold", t.slow))
	}
}

// Snapshot returns the statistics of every stage seen, sorted by stage
// name.
func (t *Tracker) Snapshot() []StageStats {
	t.mu.Lock()
	out := make([]StageStats, 0, len(t.stages))
	var tmp []time.Duration
	for name, r := range t.stages {
		n := r.next
		if r.full {
			n = len(r.buf)
		}
		tmp = append(tmp[:0], r.buf[:n]...)
		out = append(out, summarise(name, tmp, r.count, r.slow))
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Stage < out[j].Stage })
	return out
}

func summarise(name string, d []time.Duration, count, slow int64) StageStats {
	s := StageStats{Stage: name, Count: count, Samples: len(d), Slow: slow}
	if len(d) == 0 {
		return s
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	s.Min, s.Max = d[0], d[len(d)-1]
	s.Avg = sum / time.Duration(len(d))
	s.P50 = d[(50*len(d)+99)/100-1] // nearest rank: ceil(0.50·n)
	s.P99 = d[(99*len(d)+99)/100-1] // nearest rank: ceil(0.99·n)
	return s
}
