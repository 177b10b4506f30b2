package faulttest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer answers every line with the same line, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// roundTrip dials addr, sends msg and reads it back. The deadline only
// stops a broken proxy from hanging the test.
func roundTrip(addr, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return echo(c, msg)
}

func echo(c net.Conn, msg string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return line, err
}

func TestProxyForwards(t *testing.T) {
	px := NewProxy(t, echoServer(t))
	got, err := roundTrip(px.Addr(), "hello")
	if err != nil || got != "hello\n" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if st := px.Stats(); st.Accepted != 1 || st.Forwarded != 1 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	px := NewProxy(t, echoServer(t))
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := echo(c, "before"); err != nil || got != "before\n" {
		t.Fatalf("before cut: %q, %v", got, err)
	}

	px.Cut()
	// The open connection is gone: the next read ends, never answers.
	if got, err := echo(c, "during"); err == nil {
		t.Fatalf("open connection survived the cut: %q", got)
	}
	// New connections are accepted and closed at once.
	if got, err := roundTrip(px.Addr(), "new"); err == nil {
		t.Fatalf("new connection answered while cut: %q", got)
	} else if isTimeout(err) {
		t.Fatalf("new connection was held, not refused: %v", err)
	}

	px.Restore()
	if got, err := roundTrip(px.Addr(), "after"); err != nil || got != "after\n" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
	st := px.Stats()
	if st.Cuts != 1 || st.Refused != 1 || st.Forwarded != 2 || st.Dropped != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestProxyBlackhole(t *testing.T) {
	px := NewProxy(t, echoServer(t))
	px.Blackhole()
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "anyone?\n"); err != nil {
		t.Fatal(err)
	}
	// Nothing comes back: the read times out rather than ending.
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("blackholed read: %d, %v; want a timeout", n, err)
	}
	// Restore closes the held connection and forwards new ones.
	px.Restore()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("held connection after restore: %v; want it closed", err)
	}
	if got, err := roundTrip(px.Addr(), "back"); err != nil || got != "back\n" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
	if st := px.Stats(); st.Held != 1 || st.Cuts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	px := NewProxy(t, dead)
	if got, err := roundTrip(px.Addr(), "x"); err == nil {
		t.Fatalf("answer from a dead target: %q", got)
	}
	if st := px.Stats(); st.Refused != 1 || st.Forwarded != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// tapWriter records what one connection's client sent.
type tapWriter struct {
	mu  *sync.Mutex
	all *[]string
	buf bytes.Buffer
}

func (w *tapWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	w.mu.Lock()
	*w.all = append(*w.all, string(p))
	w.mu.Unlock()
	return len(p), nil
}

func TestProxyTapClient(t *testing.T) {
	px := NewProxy(t, echoServer(t))
	var mu sync.Mutex
	var seen []string
	conns := 0
	px.TapClient(func() io.Writer {
		mu.Lock()
		conns++
		mu.Unlock()
		return &tapWriter{mu: &mu, all: &seen}
	})
	for _, m := range []string{"one", "two"} {
		if got, err := roundTrip(px.Addr(), m); err != nil || got != m+"\n" {
			t.Fatalf("round trip %s: %q, %v", m, got, err)
		}
	}
	px.TapClient(nil)
	if _, err := roundTrip(px.Addr(), "untapped"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 2 {
		t.Errorf("tap made for %d connections, want 2", conns)
	}
	var all bytes.Buffer
	for _, s := range seen {
		all.WriteString(s)
	}
	if got := all.String(); got != "one\ntwo\n" {
		t.Errorf("tapped %q", got)
	}
}

// failingWriter refuses every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("tap full") }

func TestProxyTapErrorEndsConnection(t *testing.T) {
	px := NewProxy(t, echoServer(t))
	px.TapClient(func() io.Writer { return failingWriter{} })
	if got, err := roundTrip(px.Addr(), "x"); err == nil {
		t.Fatalf("connection with a failing tap answered: %q", got)
	}
}

func TestProxyCloseIdempotent(t *testing.T) {
	px := NewProxy(t, echoServer(t))
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := echo(c, "x"); err != nil {
		t.Fatal(err)
	}
	px.Close()
	px.Close()
	px.Restore() // no effect after Close
	if _, err := echo(c, "y"); err == nil {
		t.Fatal("connection survived Close")
	}
	if _, err := net.DialTimeout("tcp", px.Addr(), time.Second); err == nil {
		t.Fatal("proxy still listening after Close")
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
