package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/dashboard"
)

// sse is one message of the live stream.
type sse struct {
	event string
	data  string
}

// stream is a live-stream connection read message by message.
type stream struct {
	t    *testing.T
	resp *http.Response
	msgs chan sse
	stop context.CancelFunc
}

func openStream(t *testing.T, e *env, role string) (*stream, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/admin/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(hdrUser, role+"-person")
	req.Header.Set(hdrRole, role)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	s := &stream{t: t, resp: resp, msgs: make(chan sse, 256), stop: cancel}
	go func() {
		defer close(s.msgs)
		sc := bufio.NewScanner(resp.Body)
		var cur sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.event != "" || cur.data != "" {
					s.msgs <- cur
				}
				cur = sse{}
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.data = strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, "retry: "):
				cur.event = "retry"
			}
		}
	}()
	t.Cleanup(s.close)
	return s, http.StatusOK
}

func (s *stream) close() {
	s.stop()
	s.resp.Body.Close()
	for range s.msgs { // wait for the reader
	}
}

// next returns the next message of type event, skipping others; ok is false
// when the stream ended or the test's generous bound passed.
func (s *stream) next(event string) (sse, bool) {
	s.t.Helper()
	bound := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return sse{}, false
			}
			if m.event == event {
				return m, true
			}
		case <-bound:
			return sse{}, false
		}
	}
}

// attack logs n failed logins from ip, each against another account,
// through the Monitor: ten are enough for the brute_force_ip rule (and
// credential_stuffing).
func attack(t *testing.T, e *env, ip string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		err := e.mon.Log(context.Background(), secmon.Event{Type: secmon.EventLoginFailure, Severity: secmon.SeverityLow,
			UserID: "victim" + strconv.Itoa(i), IP: netip.MustParseAddr(ip), Metadata: map[string]string{"reason": "bad_password"}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestLiveStreamFromMonitor(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, envOpts{})
		s, code := openStream(t, e, "viewer")
		if code != 200 {
			t.Fatalf("stream: %d", code)
		}
		if _, ok := s.next("retry"); !ok {
			t.Fatal("the stream does not set a reconnection delay")
		}
		m, ok := s.next("counters")
		if !ok {
			t.Fatal("no counters")
		}
		var c map[string]any
		if err := json.Unmarshal([]byte(m.data), &c); err != nil || c["open_alerts"] != "0" || c["as_of"] == "" {
			t.Errorf("counters %s: %v", m.data, err)
		}
		attack(t, e, "192.0.2.99", 12)
		for {
			m, ok = s.next("alert")
			if !ok {
				t.Fatal("no brute_force_ip alert arrived")
			}
			var a map[string]any
			if err := json.Unmarshal([]byte(m.data), &a); err != nil {
				t.Fatal(err)
			}
			if a["rule"] == "brute_force_ip" {
				if a["subject"] != "ip:192.0.2.99/32" || a["status"] != "open" || a["severity"] != "high" || a["first_seen"] == "" {
					t.Errorf("alert %s", m.data)
				}
				break
			}
		}
		// The counters catch up with the written events.
		e.flush()
		for {
			m, ok := s.next("counters")
			if !ok {
				t.Fatal("counters never counted the attack")
			}
			if err := json.Unmarshal([]byte(m.data), &c); err == nil && c["login_failures"] == float64(12) && c["open_alerts"] != "0" {
				break
			}
		}
	})
}

// TestLiveStreamFromStore: without a Monitor the stream follows the
// store's own announcements; on PostgreSQL that is LISTEN, so alerts
// written by any instance arrive.
func TestLiveStreamFromStore(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, envOpts{cfg: func(c *dashboard.Config) {
			c.Logger, c.Stats, c.ReadOnly = nil, nil, true
			c.Alerts = nil // found on the store
		}})
		s, code := openStream(t, e, "viewer")
		if code != 200 {
			t.Fatalf("stream: %d", code)
		}
		if _, ok := s.next("counters"); !ok { // the subscription is running once the loops run
			t.Fatal("no counters")
		}
		// The LISTEN connection may still be starting: write until one
		// announcement arrives.
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := e.store.UpsertAlerts(context.Background(), []secmon.Alert{{Rule: "other_instance", Subject: "user:zed",
				Severity: secmon.SeverityHigh, LastSeen: time.Now(), Summary: "raised elsewhere"}})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case m, ok := <-s.msgs:
				if !ok {
					t.Fatal("stream ended")
				}
				if m.event == "alert" {
					if !strings.Contains(m.data, `"rule":"other_instance"`) || !strings.Contains(m.data, `"summary":"raised elsewhere"`) {
						t.Errorf("alert %s", m.data)
					}
					return
				}
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("no alert arrived from the store")
			}
		}
	})
}

func TestLiveStreamLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", envOpts{cfg: func(c *dashboard.Config) {
		c.MaxStreams = 2
		c.StreamLifetime = 300 * time.Millisecond
	}})
	a, _ := openStream(t, e, "viewer")
	b, _ := openStream(t, e, "admin")
	if _, code := openStream(t, e, "viewer"); code != http.StatusServiceUnavailable {
		t.Errorf("third stream over MaxStreams 2: %d, want 503", code)
	}
	// A stream ends at its lifetime, so the browser reconnects and is
	// authorised again.
	for _, s := range []*stream{a, b} {
		for range s.msgs { // drain until the server ends it
		}
	}
	// Unauthorised streams are refused.
	r, err := http.Get(e.srv.URL + "/admin/stream")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("stream without a person: %d", r.StatusCode)
	}
}

// TestLiveStreamSlowClient: a browser that stops reading neither blocks
// the Monitor's notifier nor the other browsers: with one browser never
// reading, another sees each of 100 attacks in turn.
func TestLiveStreamSlowClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", envOpts{})
	slow, _ := openStream(t, e, "viewer")
	fast, _ := openStream(t, e, "viewer")
	_ = slow // never read until the end: the hub test (hub_test.go) covers its overflow
	for i := 0; i < 100; i++ {
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()
		attack(t, e, ip, 10)
		for {
			m, ok := fast.next("alert")
			if !ok {
				t.Fatalf("the reading browser missed the alert of attack %d", i)
			}
			var a struct{ Rule, Subject string }
			if json.Unmarshal([]byte(m.data), &a) == nil && a.Rule == "brute_force_ip" && a.Subject == "ip:"+ip+"/32" {
				break
			}
		}
	}
}

// TestCloseEndsStreams: Close ends every live stream at once, stops the
// loops (goleak in TestMain) and refuses new streams.
func TestCloseEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", envOpts{cfg: func(c *dashboard.Config) { c.LiveLinger = time.Hour }})
	s, _ := openStream(t, e, "viewer")
	if _, ok := s.next("counters"); !ok {
		t.Fatal("no counters")
	}
	if err := e.h.(io.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	for range s.msgs { // ends
	}
	if _, code := openStream(t, e, "viewer"); code != http.StatusServiceUnavailable {
		t.Errorf("stream after Close: %d, want 503", code)
	}
	if err := e.h.(io.Closer).Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
