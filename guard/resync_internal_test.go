package guard

import (
	"testing"
	"time"
)

// A store that announces nothing is read every PollInterval, not every
// second tick: the tick that arrives just before the interval has passed
// (a resync takes time, so the two drift apart) must already resync.
func TestResyncDueOnTheTickOfItsInterval(t *testing.T) {
	for _, c := range []struct {
		name                 string
		since, every, period time.Duration
		want                 bool
	}{
		{"poll every tick, resync took 10ms", 990 * time.Millisecond, time.Second, time.Second, true},
		{"poll every tick, exactly on time", time.Second, time.Second, time.Second, true},
		{"poll every tick, half way", 400 * time.Millisecond, time.Second, time.Second, false},
		{"resync every minute, tick before", 59*time.Second + 980*time.Millisecond, time.Minute, time.Second, true},
		{"resync every minute, a tick too early", 59*time.Second - 20*time.Millisecond, time.Minute, time.Second, false},
		{"short poll, one tick after", 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, true},
		{"short poll, a fraction", 2 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, false},
	} {
		if got := resyncDue(c.since, c.every, c.period); got != c.want {
			t.Errorf("%s: resyncDue(%v, %v, %v) = %v, want %v", c.name, c.since, c.every, c.period, got, c.want)
		}
	}
}
