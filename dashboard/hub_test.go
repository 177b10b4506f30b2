package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

func testHandler(t *testing.T, mod func(*Config)) *handler {
	t.Helper()
	cfg := Config{
		Authorize: func(*http.Request) (string, Role, bool) { return "tester", RoleViewer, true },
		Store:     memstore.New(), ReadOnly: true, LiveInterval: time.Hour,
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h.(*handler)
}

// TestHubOverflow: a browser that falls clientBuffer messages behind
// misses the rest and is marked, without slowing the broadcast.
func TestHubOverflow(t *testing.T) {
	h := testHandler(t, nil)
	c, ok := h.hub.join()
	if !ok {
		t.Fatal("join refused")
	}
	defer h.hub.leave(c)
	for i := 0; i < 3*clientBuffer; i++ {
		h.hub.broadcast([]byte("event: x\ndata: {}\n\n"), false)
	}
	if len(c.ch) != clientBuffer || !c.missed.Load() {
		t.Errorf("after overflow: %d queued, missed %v", len(c.ch), c.missed.Load())
	}
}

// TestStreamTellsResync: the next message a marked browser gets is
// preceded by a resync event.
func TestStreamTellsResync(t *testing.T) {
	h := testHandler(t, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Mark every joined browser, then send one message.
	h.hub.mu.Lock()
	for c := range h.hub.clients {
		c.missed.Store(true)
	}
	h.hub.mu.Unlock()
	h.hub.broadcast(alertMessage(secmon.Alert{Rule: "r", Subject: "s", LastSeen: time.Now()}), false)
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 1024)
	for !strings.Contains(string(buf), "event: alert") {
		n, err := resp.Body.Read(tmp)
		if err != nil {
			t.Fatalf("stream ended: %v; read %q", err, buf)
		}
		buf = append(buf, tmp[:n]...)
	}
	if !strings.Contains(string(buf), "event: resync\ndata: {}\n\n") {
		t.Errorf("no resync before the alert: %q", buf)
	}
}

// TestHubStopsWithLastBrowser: the loops run only while a browser is
// connected (goleak in TestMain would catch a leak at the end).
func TestHubStopsWithLastBrowser(t *testing.T) {
	h := testHandler(t, nil)
	a, _ := h.hub.join()
	b, _ := h.hub.join()
	if h.hub.stop == nil {
		t.Fatal("no loops with two browsers")
	}
	h.hub.leave(a)
	if h.hub.stop == nil {
		t.Fatal("loops stopped with a browser still connected")
	}
	h.hub.leave(b)
	if h.hub.stop != nil || h.hub.done != nil {
		t.Fatal("loops still running after the last browser left")
	}
	c, _ := h.hub.join() // and they start again
	if h.hub.stop == nil {
		t.Fatal("loops did not restart")
	}
	h.hub.leave(c)
}
