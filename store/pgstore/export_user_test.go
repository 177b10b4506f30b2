package pgstore_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
)

// heapWatcher is an io.Writer that counts what ExportUser writes and
// samples the live heap as it goes.
type heapWatcher struct {
	bytes, lines int
	base, peak   uint64
}

func (h *heapWatcher) Write(p []byte) (int, error) {
	h.bytes += len(p)
	before := h.lines
	h.lines += bytes.Count(p, []byte{'\n'})
	if h.lines/5000 != before/5000 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		h.peak = max(h.peak, m.HeapAlloc)
	}
	return len(p), nil
}

// TestExportUserBoundedMemory exports a user with 30,000 events and checks
// that the heap does not grow with them: ExportUser reads pages, not the
// whole result. (A million rows behave the same, page by page; the test
// keeps to 30,000 so it runs in seconds.)
func TestExportUserBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 30,000 rows")
	}
	pool := sqlschematest.Pool(t)
	s := setup(t, pool, pgstore.Config{})
	const rows, batch = 30_000, 10_000
	evs := make([]secmon.Event, batch)
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < rows; i += batch {
		for j := range evs {
			evs[j] = secmon.Event{ID: secmon.NewID(), Time: base.Add(time.Duration(i+j) * time.Millisecond), Type: secmon.EventLogout,
				UserID: "heavy", Metadata: map[string]string{"route": "/logout"}}
		}
		if err := s.InsertEvents(t.Context(), evs); err != nil {
			t.Fatal(err)
		}
	}
	evs = nil
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w := &heapWatcher{base: m.HeapAlloc}
	if err := s.ExportUser(t.Context(), "heavy", w); err != nil {
		t.Fatal(err)
	}
	if w.lines != rows {
		t.Fatalf("exported %d lines, want %d", w.lines, rows)
	}
	growth := int64(w.peak) - int64(w.base)
	t.Logf("exported %d rows, %d MB; live heap grew by at most %d KB", w.lines, w.bytes>>20, growth>>10)
	if growth > 16<<20 || growth > int64(w.bytes)/4 {
		t.Errorf("live heap grew by %d bytes while exporting %d bytes: the export is not streamed", growth, w.bytes)
	}
}

// TestExportUserPagesEveryKind exports more than one page (1,000 rows) of
// every kind ExportUser reads, with equal times where a kind is paged by
// time and ID, and checks that each row comes out exactly once.
func TestExportUserPagesEveryKind(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	s := setup(t, pool, pgstore.Config{})
	const n = 1200
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var (
		acts     = make([]secmon.Activity, n)
		beats    = make([]secmon.SessionBeat, n)
		alerts   = make([]secmon.Alert, n)
		blocks   = make([]secmon.Block, n)
		want     = map[string]map[string]bool{}
		wantKind = func(kind, key string) {
			if want[kind] == nil {
				want[kind] = map[string]bool{}
			}
			want[kind][key] = true
		}
	)
	for i := range n {
		at := base.Add(time.Duration(i/3) * time.Second) // three rows a time: the ID breaks ties
		acts[i] = secmon.Activity{ID: secmon.NewID(), Time: at, UserID: "many", Action: "view"}
		wantKind(secmon.ExportActivity, acts[i].ID.String())
		beats[i] = secmon.SessionBeat{SessionID: fmt.Sprintf("sess-%04d", i), UserID: "many", Time: at}
		wantKind(secmon.ExportSession, beats[i].SessionID)
		alerts[i] = secmon.Alert{ID: secmon.NewID(), Rule: secmon.RuleName(fmt.Sprint("rule_", i)), Subject: secmon.UserSubject + "many",
			Severity: secmon.SeverityLow, Status: secmon.AlertOpen, Count: 1, FirstSeen: at, LastSeen: at, Summary: "s"}
		wantKind(secmon.ExportAlert, alerts[i].ID.String())
		blocks[i] = secmon.Block{ID: secmon.NewID(), Scope: secmon.ScopeUser, Subject: secmon.BlockSubject(secmon.ScopeUser, netip.Prefix{}, "many"),
			UserID: "many", Reason: "r", Origin: secmon.OriginManual, Level: 1, Created: at, By: "admin"}
		wantKind(secmon.ExportBlock, blocks[i].ID.String())
	}
	ctx := t.Context()
	if err := s.InsertActivities(ctx, acts); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertSessions(ctx, beats); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlocks(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.ExportUser(ctx, "many", &buf); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]int{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var r secmon.ExportRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		var key string
		switch {
		case r.Activity != nil:
			key = r.Activity.ID.String()
		case r.Session != nil:
			key = r.Session.SessionID
		case r.Alert != nil:
			key = r.Alert.ID.String()
		case r.Block != nil:
			key = r.Block.ID.String()
		default:
			t.Fatalf("unexpected record %s", sc.Text())
		}
		if got[r.Kind] == nil {
			got[r.Kind] = map[string]int{}
		}
		got[r.Kind][key]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for kind, keys := range want {
		if len(got[kind]) != len(keys) {
			t.Errorf("%s: exported %d of %d", kind, len(got[kind]), len(keys))
		}
		for key, times := range got[kind] {
			if !keys[key] || times != 1 {
				t.Errorf("%s %s exported %d times (expected: %v)", kind, key, times, keys[key])
			}
		}
	}
}
