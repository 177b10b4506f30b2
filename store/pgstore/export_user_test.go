package pgstore_test

import (
	"bytes"
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
