package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
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
		Store:     memstore.New(), ReadOnly: true, LiveInterval: time.Hour, LiveLinger: -1,
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
	c, ok := h.hub.join("")
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
	a, _ := h.hub.join("")
	b, _ := h.hub.join("")
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
	c, _ := h.hub.join("") // and they start again
	if h.hub.stop == nil {
		t.Fatal("loops did not restart")
	}
	h.hub.leave(c)
}

// TestHubReplay: a browser that reconnects naming its last alert message
// gets what it missed; one whose gap is too wide, or whose id is not this
// process's, is told to resync.
func TestHubReplay(t *testing.T) {
	h := testHandler(t, nil)
	keep, _ := h.hub.join("") // keeps the loops running
	defer h.hub.leave(keep)
	alert := func(i int) {
		h.hub.broadcastAlert(secmon.Alert{Rule: "r", Subject: "s" + strconv.Itoa(i), LastSeen: time.Now()})
	}
	alert(1)
	first := h.hub.epoch + "." + strconv.FormatUint(h.hub.seq, 10)
	alert(2)
	alert(3)
	c, _ := h.hub.join(first)
	var got []string
	for len(c.ch) > 0 {
		if m := string(<-c.ch); strings.Contains(m, "event: alert") {
			got = append(got, m)
		}
	}
	h.hub.leave(c)
	if len(got) != 2 || !strings.Contains(got[0], `"subject":"s2"`) || !strings.Contains(got[1], `"subject":"s3"`) ||
		!strings.HasPrefix(got[1], "id: "+h.hub.epoch+".3\n") || c.missed.Load() {
		t.Errorf("replay after %s: %q (missed %v)", first, got, c.missed.Load())
	}
	for name, id := range map[string]string{"other process": "deadbeef.1", "garbage": "x", "future": h.hub.epoch + ".99"} {
		c, _ := h.hub.join(id)
		if !c.missed.Load() {
			t.Errorf("%s id %q: not told to resync", name, id)
		}
		h.hub.leave(c)
	}
	for i := 0; i < replayLen+1; i++ {
		alert(10 + i)
	}
	c, _ = h.hub.join(first)
	if !c.missed.Load() {
		t.Error("a gap wider than the replay kept: not told to resync")
	}
	h.hub.leave(c)
}

// TestHubLingers: with LiveLinger the loops outlive the last browser for a
// while, so a reconnecting browser joins a running hub.
func TestHubLingers(t *testing.T) {
	h := testHandler(t, func(c *Config) { c.LiveLinger = 50 * time.Millisecond })
	a, _ := h.hub.join("")
	h.hub.leave(a)
	h.hub.mu.Lock()
	running := h.hub.stop != nil
	h.hub.mu.Unlock()
	if !running {
		t.Fatal("the loops stopped at once despite LiveLinger")
	}
	b, _ := h.hub.join("") // within the linger: the same loops go on
	h.hub.leave(b)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		h.hub.mu.Lock()
		running = h.hub.stop != nil
		h.hub.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the loops never stopped after the last browser left")
		}
	}
}
