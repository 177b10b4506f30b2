package rediscounters

import (
	"context"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// BenchmarkRedisObserve runs every built-in rule with counters in the real
// Redis and reports round trips per event (every login failure costs one).
func BenchmarkRedisObserve(b *testing.B) {
	client, prefix := redisSetup(b)
	hook := &roundTrips{}
	client.AddHook(hook)
	e := newEngine(b, detect.Config{Counters: newRedisCounters(b, client, prefix)})
	events := benchEvents(1 << 12)
	ctx := context.Background()
	// The connection handshake is once per connection, not per event.
	if _, err := e.Observe(ctx, events[0]); err != nil {
		b.Fatal(err)
	}
	hook.pipelines.Store(0)
	hook.commands.Store(0)
	i := 0
	var counted int64
	for b.Loop() {
		ev := events[i&(len(events)-1)]
		ev.Type = secmon.EventLoginFailure
		if _, err := e.Observe(ctx, ev); err != nil {
			b.Fatal(err)
		}
		counted++
		i++
	}
	b.ReportMetric(float64(hook.pipelines.Load()+hook.commands.Load())/float64(counted), "round_trips/op")
}
