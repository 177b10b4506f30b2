package memstore_test

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

var benchUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

func benchEvent(i int, at time.Time) secmon.Event {
	return secmon.Event{
		ID: secmon.NewID(), Time: at, Type: secmon.EventPageView,
		UserID: fmt.Sprint("user-", i%5000), SessionID: "s", IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}),
		UserAgent: benchUA,
	}
}

// BenchmarkInsertEvents inserts batches of 500 events in time order, the
// Monitor's usual flush: into an empty store that grows, into a full store
// that evicts the oldest 500 per batch, and, as the baseline, appended to a
// plain slice under a mutex (no validation, no order, no bound).
func BenchmarkInsertEvents(b *testing.B) {
	newBatch := func() ([]secmon.Event, *time.Time) {
		at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
		batch := make([]secmon.Event, 500)
		for i := range batch {
			batch[i] = benchEvent(i, at)
		}
		return batch, &at
	}
	next := func(batch []secmon.Event, at *time.Time) {
		for i := range batch {
			*at = at.Add(time.Millisecond)
			batch[i].Time = *at // (Time, ID) stays unique; NewID is left out of the figure
		}
	}
	run := func(b *testing.B, s *memstore.Store, batch []secmon.Event, at *time.Time) {
		b.ReportAllocs()
		for b.Loop() {
			next(batch, at)
			if err := s.InsertEvents(b.Context(), batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
	}
	b.Run("memstore/growing", func(b *testing.B) {
		batch, at := newBatch()
		run(b, memstore.New(), batch, at)
	})
	b.Run("memstore/full-100k-evicting", func(b *testing.B) {
		s, err := memstore.NewWithConfig(memstore.Config{MaxEvents: 100_000})
		if err != nil {
			b.Fatal(err)
		}
		batch, at := newBatch()
		for range 200 {
			next(batch, at)
			if err := s.InsertEvents(b.Context(), batch); err != nil {
				b.Fatal(err)
			}
		}
		run(b, s, batch, at)
	})
	b.Run("baseline/slice-append", func(b *testing.B) {
		var (
			mu  sync.Mutex
			all []secmon.Event
		)
		batch, at := newBatch()
		b.ReportAllocs()
		for b.Loop() {
			next(batch, at)
			mu.Lock()
			all = append(all, batch...)
			mu.Unlock()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
	})
}

const benchEvents = 1_000_000

// fill1M returns a store holding 1M events spread evenly over 30 days and
// the same events in a plain slice, oldest first.
func fill1M(b *testing.B) (*memstore.Store, []secmon.Event, time.Time) {
	b.Helper()
	s := memstore.New()
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	step := 30 * 24 * time.Hour / benchEvents
	all := make([]secmon.Event, benchEvents)
	for i := range all {
		all[i] = benchEvent(i, start.Add(time.Duration(i)*step))
	}
	for i := 0; i < len(all); i += 10_000 {
		if err := s.InsertEvents(b.Context(), all[i:i+10_000]); err != nil {
			b.Fatal(err)
		}
	}
	return s, all, start
}

// BenchmarkQueryEvents1M queries one hour (about 1,400 events) out of 1M.
// The naive-scan case is the baseline: the same filter as a loop over every
// event, what a store without a time index does.
func BenchmarkQueryEvents1M(b *testing.B) {
	s, all, start := fill1M(b)
	from := start.Add(15 * 24 * time.Hour)
	to := from.Add(time.Hour)
	q := secmon.EventQuery{From: from, To: to, Limit: secmon.MaxQueryLimit}
	want := 0
	for i := range all {
		if !all[i].Time.Before(from) && all[i].Time.Before(to) {
			want++
		}
	}
	b.Run("memstore/hour", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := s.QueryEvents(b.Context(), q)
			if err != nil || len(got) != want {
				b.Fatalf("got %d events (%v), want %d", len(got), err, want)
			}
		}
	})
	b.Run("memstore/hour-user-filter", func(b *testing.B) {
		q := q
		q.UserID = "user-42"
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.QueryEvents(b.Context(), q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline/naive-scan-hour", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var got []secmon.Event
			for i := len(all) - 1; i >= 0; i-- {
				if e := &all[i]; !e.Time.Before(from) && e.Time.Before(to) {
					got = append(got, *e)
				}
			}
			if len(got) != want {
				b.Fatalf("got %d", len(got))
			}
		}
	})
}

// BenchmarkUpsertSessions upserts 10,000 beats, one per session, as one
// Monitor flush does; sessions already exist after the first iteration. The
// baseline is a plain map from session ID to newest beat under a mutex.
func BenchmarkUpsertSessions(b *testing.B) {
	beats := make([]secmon.SessionBeat, 10_000)
	for i := range beats {
		beats[i] = secmon.SessionBeat{
			SessionID: fmt.Sprint("session-", i), UserID: fmt.Sprint("user-", i%3000),
			IP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), UserAgent: benchUA,
		}
	}
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	next := func() {
		at = at.Add(time.Minute)
		for i := range beats {
			beats[i].Time = at
		}
	}
	b.Run("memstore", func(b *testing.B) {
		s := memstore.New()
		b.ReportAllocs()
		for b.Loop() {
			next()
			if err := s.UpsertSessions(b.Context(), beats); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(beats)), "ns/beat")
	})
	b.Run("baseline/map", func(b *testing.B) {
		var mu sync.Mutex
		m := make(map[string]secmon.SessionBeat)
		b.ReportAllocs()
		for b.Loop() {
			next()
			mu.Lock()
			for _, x := range beats {
				if cur, ok := m[x.SessionID]; !ok || !x.Time.Before(cur.Time) {
					m[x.SessionID] = x
				}
			}
			mu.Unlock()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(beats)), "ns/beat")
	})
}
