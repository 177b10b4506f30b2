package detect

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A flood of events from a million distinct sources, each a new IPv6 /64,
// a new user and a new session, stays under the configured caps: the
// counters hold at most MaxKeys keys, the stateful rules at most their
// MaxUsers/MaxSessions, and the heap grows by what those caps allow, not by
// what the flood would need.
func TestFloodStaysUnderCap(t *testing.T) {
	if testing.Short() {
		t.Skip("flood of 1M events skipped in -short")
	}
	events, maxKeys, maxTracked := 1_000_000, 20_000, 10_000
	if raceEnabled {
		events, maxKeys, maxTracked = 100_000, 2_000, 1_000
	}
	counters := newMemory(t, MemoryCountersConfig{MaxKeys: maxKeys})
	rules := Defaults()
	for _, r := range rules {
		switch r := r.(type) {
		case *ImpossibleTravel:
			r.MaxUsers = maxTracked
		case *NewCountry:
			r.MaxUsers = maxTracked
		case *NewDevice:
			r.MaxUsers = maxTracked
		case *SessionHijack:
			r.MaxSessions = maxTracked
		case *BruteForceAccount:
			r.MaxAccounts = maxTracked
		case *DistributedAttack:
			r.MaxAccounts = maxTracked
		}
	}
	e := newEngine(t, Config{Rules: rules, Counters: counters, MaxSubjects: maxTracked})
	ctx := context.Background()

	before := heapInUse()
	var ev secmon.Event
	types := []secmon.EventType{secmon.EventLoginFailure, secmon.EventLoginSuccess, secmon.EventPageView, secmon.EventLoginFailure}
	for i := range events {
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
		a[4], a[5], a[6], a[7] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		a[15] = 1
		ev = secmon.Event{
			Time:        t0.Add(time.Duration(i) * time.Millisecond),
			Type:        types[i%len(types)],
			IP:          netip.AddrFrom16(a),
			UserID:      fmt.Sprint("flood-user-", i),
			SessionID:   fmt.Sprint("flood-session-", i),
			UserAgent:   "flood/1.0",
			Fingerprint: fmt.Sprint("fp-", i),
			Geo:         secmon.Geo{Country: "NL", Latitude: 52.37, Longitude: 4.90, AccuracyKM: 10},
		}
		if _, err := e.Observe(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	after := heapInUse()
	growth := int64(after) - int64(before)
	runtime.KeepAlive(e)

	if n := counters.Len(); n > maxKeys {
		t.Errorf("counters hold %d keys, cap %d", n, maxKeys)
	}
	if counters.Evictions() == 0 {
		t.Error("no evictions: the flood did not reach the cap")
	}
	for _, r := range rules {
		var n int
		switch r := r.(type) {
		case *ImpossibleTravel:
			n = r.last.len()
		case *NewCountry:
			n = r.state.t.len()
		case *NewDevice:
			n = r.state.t.len()
		case *SessionHijack:
			n = r.binds.len()
		case *BruteForceAccount:
			n = r.src.t.len()
		case *DistributedAttack:
			n = r.src.t.len()
		default:
			continue
		}
		if n > maxTracked || n == 0 {
			t.Errorf("%s tracks %d, cap %d", r.Name(), n, maxTracked)
		}
	}
	// Budget: every capped structure full, at a generous 1 KiB per entry.
	// Without caps the flood would hold ~4M counter keys and 3×250k users.
	budget := int64(maxKeys+9*maxTracked) * 1024
	t.Logf("%d events: heap grew %.1f MiB (budget %.1f MiB); counters %d keys, %d evictions",
		events, float64(growth)/(1<<20), float64(budget)/(1<<20), counters.Len(), counters.Evictions())
	if growth > budget {
		t.Errorf("heap grew %d bytes, budget %d", growth, budget)
	}
}

// The engine's own memory, the (rule, subject) pairs it suppresses and the
// subjects it escalates blocks for, stays under MaxSubjects when every event
// of a flood is a finding about a new subject.
func TestFloodOfSubjectsStaysUnderCap(t *testing.T) {
	if testing.Short() {
		t.Skip("flood of 1M events skipped in -short")
	}
	events, maxSubjects := 1_000_000, 10_000
	if raceEnabled {
		events = 100_000
	}
	e := newEngine(t, Config{
		Rules:       []Rule{&BruteForceIP{Threshold: 1}, &BruteForceAccount{Threshold: 1}},
		MaxKeys:     maxSubjects,
		MaxSubjects: maxSubjects,
	})
	ctx := context.Background()
	before := heapInUse()
	findings := 0
	for i := range events {
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
		a[4], a[5], a[6], a[7] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		fs, err := e.Observe(ctx, secmon.Event{
			Time:   t0.Add(time.Duration(i) * time.Millisecond),
			Type:   secmon.EventLoginFailure,
			IP:     netip.AddrFrom16(a),
			UserID: fmt.Sprint("flood-user-", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		findings += len(fs)
	}
	after := heapInUse()
	runtime.KeepAlive(e)
	if findings != 2*events {
		t.Errorf("%d findings, want one per rule and event (%d)", findings, 2*events)
	}
	if n := e.suppress.len(); n > maxSubjects || n < maxSubjects/2 {
		t.Errorf("suppression table holds %d, cap %d", n, maxSubjects)
	}
	if n := e.strikes.len(); n > maxSubjects || n < maxSubjects/2 {
		t.Errorf("strike table holds %d, cap %d", n, maxSubjects)
	}
	// Budget: both tables and the counters full, at a generous 1 KiB per
	// entry. Without caps the flood would hold 2M suppressed pairs and 1M
	// strike records.
	growth := int64(after) - int64(before)
	budget := int64(3*maxSubjects) * 1024
	t.Logf("%d events: heap grew %.1f MiB (budget %.1f MiB); suppress %d, strikes %d, evictions %d/%d",
		events, float64(growth)/(1<<20), float64(budget)/(1<<20),
		e.suppress.len(), e.strikes.len(), e.suppress.evictions.Load(), e.strikes.evictions.Load())
	if growth > budget {
		t.Errorf("heap grew %d bytes, budget %d", growth, budget)
	}
}
