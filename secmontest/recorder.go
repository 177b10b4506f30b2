package secmontest

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

// Recorder is a secmon.Store for tests: it keeps everything in a memstore
// and counts the calls made to it, so a test can assert both what was stored
// (RequireEvent, RequireAlert) and how (Calls: one UpsertSessions per flush,
// not one per heartbeat).
//
// Rows are kept up to memstore's default caps. A Recorder is safe for
// concurrent use.
type Recorder struct {
	*memstore.Store

	mu    sync.Mutex
	calls map[string]int
	rows  map[string]int
}

var _ secmon.Store = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{Store: memstore.New(), calls: map[string]int{}, rows: map[string]int{}}
}

func (r *Recorder) count(method string, rows int) {
	r.mu.Lock()
	r.calls[method]++
	r.rows[method] += rows
	r.mu.Unlock()
}

// Calls returns how many times the write method of that name
// ("InsertEvents", "UpsertSessions", "InsertActivities", "UpsertAlerts",
// "PutBlocks", "LiftBlock") was called.
func (r *Recorder) Calls(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[method]
}

// Rows returns how many rows the write method of that name was handed in all.
func (r *Recorder) Rows(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rows[method]
}

// InsertEvents records the call and stores the events.
func (r *Recorder) InsertEvents(ctx context.Context, events []secmon.Event) error {
	r.count("InsertEvents", len(events))
	return r.Store.InsertEvents(ctx, events)
}

// UpsertSessions records the call and stores the beats.
func (r *Recorder) UpsertSessions(ctx context.Context, beats []secmon.SessionBeat) error {
	r.count("UpsertSessions", len(beats))
	return r.Store.UpsertSessions(ctx, beats)
}

// InsertActivities records the call and stores the activities.
func (r *Recorder) InsertActivities(ctx context.Context, activities []secmon.Activity) error {
	r.count("InsertActivities", len(activities))
	return r.Store.InsertActivities(ctx, activities)
}

// UpsertAlerts records the call and stores the alerts.
func (r *Recorder) UpsertAlerts(ctx context.Context, alerts []secmon.Alert) error {
	r.count("UpsertAlerts", len(alerts))
	return r.Store.UpsertAlerts(ctx, alerts)
}

// PutBlocks records the call and stores the blocks.
func (r *Recorder) PutBlocks(ctx context.Context, blocks []secmon.Block) error {
	r.count("PutBlocks", len(blocks))
	return r.Store.PutBlocks(ctx, blocks)
}

// LiftBlock records the call and lifts the block.
func (r *Recorder) LiftBlock(ctx context.Context, id uuid.UUID, by string, at time.Time) error {
	r.count("LiftBlock", 1)
	return r.Store.LiftBlock(ctx, id, by, at)
}

// AllBlocks returns every stored block, in force or ended, newest first.
func (r *Recorder) AllBlocks() []secmon.Block {
	b, _ := r.Store.Blocks(context.Background(), secmon.BlockQuery{Limit: secmon.MaxQueryLimit})
	return b
}

// Events returns every stored event, oldest first.
func (r *Recorder) Events() []secmon.Event {
	ev, _ := r.Store.QueryEvents(context.Background(), secmon.EventQuery{Limit: secmon.MaxQueryLimit})
	for i, j := 0, len(ev)-1; i < j; i, j = i+1, j-1 {
		ev[i], ev[j] = ev[j], ev[i]
	}
	return ev
}

// AllAlerts returns every stored alert, most recently seen first.
func (r *Recorder) AllAlerts() []secmon.Alert {
	a, _ := r.Store.Alerts(context.Background(), secmon.AlertQuery{Limit: secmon.MaxQueryLimit})
	return a
}

// eventCmp compares events with netip.Addr by value and times to the
// microsecond (what PostgreSQL keeps).
var eventCmp = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmpopts.EquateApproxTime(time.Microsecond),
	cmpopts.EquateEmpty(),
}

// MatchEvent reports whether got has every field that is set (non-zero) in
// want. Metadata matches when every key of want's map has the same value in
// got's.
func MatchEvent(got, want secmon.Event) bool { return len(eventDiff(got, want)) == 0 }

// eventDiff lists the fields set in want that differ in got.
func eventDiff(got, want secmon.Event) []string {
	var diffs []string
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < wv.NumField(); i++ {
		name := wv.Type().Field(i).Name
		w := wv.Field(i)
		if w.IsZero() {
			continue
		}
		if name == "Metadata" {
			for k, v := range want.Metadata {
				if gvv, ok := got.Metadata[k]; !ok || gvv != v {
					diffs = append(diffs, fmt.Sprintf("Metadata[%q]: got %q, want %q", k, gvv, v))
				}
			}
			continue
		}
		if d := cmp.Diff(w.Interface(), gv.Field(i).Interface(), eventCmp...); d != "" {
			diffs = append(diffs, name+" (-want +got):\n"+d)
		}
	}
	return diffs
}

// RequireEvent fails t unless some stored event matches want (see
// MatchEvent), and returns the first that does. On failure it shows the
// go-cmp difference from the closest stored event.
func (r *Recorder) RequireEvent(t testing.TB, want secmon.Event) secmon.Event {
	t.Helper()
	events := r.Events()
	var best []string
	for _, e := range events {
		d := eventDiff(e, want)
		if len(d) == 0 {
			return e
		}
		if best == nil || len(d) < len(best) {
			best = d
		}
	}
	if len(events) == 0 {
		t.Fatalf("secmontest: no event stored; want one matching %+v", want)
		return secmon.Event{}
	}
	t.Fatalf("secmontest: none of %d stored events matches; closest differs in:\n%s", len(events), strings.Join(best, "\n"))
	return secmon.Event{}
}

// RequireNoEvent fails t if a stored event matches want.
func (r *Recorder) RequireNoEvent(t testing.TB, want secmon.Event) {
	t.Helper()
	for _, e := range r.Events() {
		if MatchEvent(e, want) {
			t.Fatalf("secmontest: unexpected event stored: %+v", e)
		}
	}
}

// RequireAlert fails t unless exactly one open alert exists for (rule,
// subject), and returns it.
func (r *Recorder) RequireAlert(t testing.TB, rule secmon.RuleName, subject string) secmon.Alert {
	t.Helper()
	alerts, err := r.Store.Alerts(context.Background(), secmon.AlertQuery{Status: secmon.AlertOpen, Rule: rule, Subject: subject})
	if err != nil {
		t.Fatalf("secmontest: Alerts: %v", err)
	}
	switch len(alerts) {
	case 1:
		return alerts[0]
	case 0:
		var seen []string
		for _, a := range r.AllAlerts() {
			seen = append(seen, fmt.Sprintf("%s/%s (%s)", a.Rule, a.Subject, a.Status))
		}
		t.Fatalf("secmontest: no open alert for rule %q subject %q; stored: %v", rule, subject, seen)
	default:
		t.Fatalf("secmontest: %d open alerts for rule %q subject %q; want one (deduplication failed)", len(alerts), rule, subject)
	}
	return secmon.Alert{}
}

// RequireAlertStatus fails t unless the alert with id has the given status.
func (r *Recorder) RequireAlertStatus(t testing.TB, id uuid.UUID, status secmon.AlertStatus) {
	t.Helper()
	for _, a := range r.AllAlerts() {
		if a.ID == id {
			if a.Status != status {
				t.Fatalf("secmontest: alert %s is %s, want %s", id, a.Status, status)
			}
			return
		}
	}
	t.Fatalf("secmontest: no alert %s", id)
}
