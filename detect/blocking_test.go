package detect

import (
	"context"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

// wrappedCounters is a host's own Counters: the engine cannot tell whether
// it waits on I/O.
type wrappedCounters struct{ inner *MemoryCounters }

func (w wrappedCounters) Do(ctx context.Context, now time.Time, ops []Op) error {
	return w.inner.Do(ctx, now, ops)
}

func TestObserveBlocks(t *testing.T) {
	t.Parallel()
	mem, err := NewMemoryCounters(MemoryCountersConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		want bool
	}{
		{"default in-memory counters", Config{}, false},
		{"default counters with MaxKeys", Config{MaxKeys: 10}, false},
		{"explicit MemoryCounters", Config{Counters: mem}, false},
		{"custom Counters", Config{Counters: wrappedCounters{mem}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d secmon.Detector = newEngine(t, tc.cfg)
			bd, ok := d.(secmon.BlockingDetector)
			if !ok {
				t.Fatal("*Engine does not implement secmon.BlockingDetector")
			}
			if got := bd.ObserveBlocks(); got != tc.want {
				t.Errorf("ObserveBlocks() = %v, want %v", got, tc.want)
			}
		})
	}
}
