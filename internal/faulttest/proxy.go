package faulttest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// mode is what the proxy does with a connection.
type mode int

const (
	forward   mode = iota // pass bytes both ways
	refuse                // close at once
	blackhole             // hold open, read and discard, never answer
)

// dialTimeout bounds the proxy's own dial to the target.
const dialTimeout = 5 * time.Second

// Proxy is a loopback TCP proxy to one target address. It forwards every
// connection until Cut or Blackhole, and again after Restore. All methods
// are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   mode
	conns  map[net.Conn]struct{} // every open connection, both sides
	tap    func() io.Writer
	closed bool
	stats  Stats

	wg sync.WaitGroup // accept loop and copiers
}

// Stats counts what the proxy did.
type Stats struct {
	Accepted  int // connections accepted
	Forwarded int // connections joined to the target
	Refused   int // connections closed at once because the proxy was cut (or the target refused)
	Held      int // connections held unanswered because the proxy was blackholed
	Cuts      int // calls to Cut or Blackhole
	Dropped   int // open sockets (either side of a pair) closed by Cut, Blackhole, Restore or Close
}

// NewProxy listens on a free 127.0.0.1 port and forwards to target
// (host:port). The proxy is closed when t ends; a listen failure fails t.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faulttest: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port; point the client here instead of target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// TapClient makes the proxy copy the bytes each client sends to a writer of
// its own: f is called once for every connection forwarded after this call,
// and the writer it returns is written from that connection's goroutine only
// (so it may keep per-connection state without locking). A Write error ends
// the connection. Nil f stops tapping new connections.
func (p *Proxy) TapClient(f func() io.Writer) {
	p.mu.Lock()
	p.tap = f
	p.mu.Unlock()
}

// Cut closes every open connection and refuses new ones (they are accepted
// and closed at once, as by a server that went away) until Restore.
func (p *Proxy) Cut() { p.setMode(refuse, true) }

// Blackhole closes every open connection and then holds new ones open
// without ever answering, as a network partition does, until Restore.
func (p *Proxy) Blackhole() { p.setMode(blackhole, true) }

// Restore forwards new connections again. Connections held by Blackhole are
// closed, as a partition that heals after the client's timeouts would leave
// them.
func (p *Proxy) Restore() {
	p.mu.Lock()
	held := p.mode == blackhole
	p.mu.Unlock()
	p.setMode(forward, held)
}

// Stats returns a snapshot of the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines. It is idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.setMode(refuse, true)
	p.wg.Wait()
}

func (p *Proxy) setMode(m mode, drop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		m = refuse
	} else if m != forward {
		p.stats.Cuts++
	}
	p.mode = m
	if !drop {
		return
	}
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
		p.stats.Dropped++
	}
}

// track registers c as open; false when the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		p.stats.Accepted++
		m := p.mode
		switch m {
		case refuse:
			p.stats.Refused++
		case blackhole:
			p.stats.Held++
		}
		p.mu.Unlock()
		switch m {
		case refuse:
			_ = c.Close()
		case blackhole:
			if !p.track(c) {
				_ = c.Close()
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(io.Discard, c)
				p.untrack(c)
			}()
		default:
			p.wg.Add(1)
			go p.join(c)
		}
	}
}

// join dials the target for client c and copies both ways until either
// side ends or the proxy drops them.
func (p *Proxy) join(c net.Conn) {
	defer p.wg.Done()
	u, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		p.mu.Lock()
		p.stats.Refused++
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	// A Cut that happened while dialling wins: the pair is refused.
	p.mu.Lock()
	ok := !p.closed && p.mode == forward
	var tap io.Writer
	if ok {
		p.conns[c] = struct{}{}
		p.conns[u] = struct{}{}
		p.stats.Forwarded++
		if p.tap != nil {
			tap = p.tap()
		}
	} else {
		p.stats.Refused++
	}
	p.mu.Unlock()
	if !ok {
		_ = c.Close()
		_ = u.Close()
		return
	}
	var src io.Reader = c
	if tap != nil {
		src = io.TeeReader(c, tap)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(c, u)
		p.untrack(c)
		p.untrack(u)
	}()
	_, _ = io.Copy(u, src)
	p.untrack(u)
	p.untrack(c)
}
