package upload_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secmon-go/secmon/upload"
)

func TestTrackerRing(t *testing.T) {
	t.Parallel()
	tr, err := upload.NewTracker(upload.TrackerConfig{Samples: 4, SlowStage: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		tr.Observe("magic", time.Duration(i)*time.Millisecond)
	}
	tr.Observe("size", time.Microsecond)
	s := tr.Snapshot()
	if len(s) != 2 || s[0].Stage != "magic" || s[1].Stage != "size" {
		t.Fatalf("snapshot %+v", s)
	}
	want := upload.StageStats{Stage: "magic", Count: 10, Samples: 4, Min: 7 * time.Millisecond,
		Avg: 8500 * time.Microsecond, P50: 8 * time.Millisecond, P99: 10 * time.Millisecond, Max: 10 * time.Millisecond}
	if s[0] != want {
		t.Errorf("got %+v, want %+v", s[0], want)
	}
}

func TestTrackerP99(t *testing.T) {
	t.Parallel()
	tr, _ := upload.NewTracker(upload.TrackerConfig{Samples: 200, SlowStage: -1})
	for i := 1; i <= 200; i++ {
		tr.Observe("total", time.Duration(i))
	}
	if s := tr.Snapshot()[0]; s.P99 != 198 || s.P50 != 100 || s.Min != 1 || s.Max != 200 {
		t.Errorf("%+v", s)
	}
	// An odd count: the median is the middle sample.
	tr, _ = upload.NewTracker(upload.TrackerConfig{Samples: 3, SlowStage: -1})
	for _, d := range []time.Duration{30, 10, 20} {
		tr.Observe("magic", d)
	}
	if s := tr.Snapshot()[0]; s.P50 != 20 || s.P99 != 30 {
		t.Errorf("%+v", s)
	}
}

func TestTrackerSlowStageWarning(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	tr, _ := upload.NewTracker(upload.TrackerConfig{SlowStage: 50 * time.Millisecond, Logger: log})
	tr.Observe("structure", 10*time.Millisecond)
	tr.Observe("structure", 80*time.Millisecond)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, "slow validation stage") != 1 || !strings.Contains(out, "stage=structure") || !strings.Contains(out, "level=WARN") {
		t.Errorf("log: %q", out)
	}
	if s := tr.Snapshot()[0]; s.Slow != 1 {
		t.Errorf("Slow = %d", s.Slow)
	}
	// A nil logger is silent and still counts.
	quiet, _ := upload.NewTracker(upload.TrackerConfig{SlowStage: time.Nanosecond})
	quiet.Observe("total", time.Second)
	if s := quiet.Snapshot()[0]; s.Slow != 1 {
		t.Errorf("Slow = %d", s.Slow)
	}
}

func TestTrackerConcurrent(t *testing.T) {
	t.Parallel()
	tr, _ := upload.NewTracker(upload.TrackerConfig{Samples: 16})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				tr.Observe([]string{"size", "magic", "total"}[(g+i)%3], time.Duration(i))
				if i%50 == 0 {
					tr.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
	var n int64
	for _, s := range tr.Snapshot() {
		n += s.Count
		if s.Samples != 16 {
			t.Errorf("%+v", s)
		}
	}
	if n != 8*500 {
		t.Errorf("observed %d, want %d", n, 8*500)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
