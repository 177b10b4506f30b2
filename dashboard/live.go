package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secmon-go/secmon"
)

// The live stream is Server-Sent Events. One hub per dashboard holds the
// connected browsers; while at least one is connected (and for
// Config.LiveLinger after the last leaves) it runs one alert subscription
// and one counters loop, whose messages every browser shares, so a hundred
// open dashboards cost the store what one does.
//
// Alert messages carry an id; the hub keeps the last replayLen of them, so
// a browser that reconnects (its stream reached StreamLifetime, or the
// network dropped) is sent what it missed, as the browser names its last
// id in the Last-Event-ID header. When the gap is wider than that, or the
// id is from before a restart, the browser is told to reload instead.

const (
	clientBuffer    = 256 // messages a browser may fall behind (a burst of new alerts) before it is told to resync
	replayLen       = 256 // alert messages kept for reconnecting browsers
	keepAlive       = 15 * time.Second
	writeTimeout    = 10 * time.Second
	reconnectMillis = 500
)

type client struct {
	ch     chan []byte
	missed atomic.Bool
	pos    string // the id of the latest alert message when the browser joined
}

type hub struct {
	h       *handler
	epoch   string        // names this process's message ids
	closing chan struct{} // closed by close: every stream ends

	mu       sync.Mutex
	clients  map[*client]struct{}
	stop     context.CancelFunc // of the running loops; nil when none run
	done     chan struct{}      // closed when the running loops have returned
	linger   *time.Timer        // stops the loops once the last browser has been gone LiveLinger
	closed   bool
	counters []byte            // the latest counters message, for browsers that join
	seq      uint64            // id of the latest alert message
	replay   [replayLen][]byte // alert message seq is at replay[seq%replayLen]
}

func newHub(h *handler) *hub {
	var e [4]byte
	_, _ = rand.Read(e[:])
	return &hub{h: h, epoch: hex.EncodeToString(e[:]), closing: make(chan struct{}), clients: map[*client]struct{}{}}
}

// join adds a browser, starting the loops for the first one. lastID is the
// id of the last message the browser received, when it reconnects; what
// it missed since is queued first. join returns false when MaxStreams
// browsers are connected.
func (b *hub) join(lastID string) (*client, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.clients) >= b.h.cfg.MaxStreams {
		return nil, false
	}
	c := &client{ch: make(chan []byte, clientBuffer), pos: b.epoch + "." + strconv.FormatUint(b.seq, 10)}
	if lastID != "" {
		b.replayLocked(c, lastID)
	}
	if b.counters != nil {
		c.ch <- b.counters
	}
	b.clients[c] = struct{}{}
	if b.linger != nil {
		b.linger.Stop()
		b.linger = nil
	}
	if b.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		b.stop, b.done = cancel, make(chan struct{})
		go b.run(ctx, b.done)
	}
	return c, true
}

// replayLocked queues for c the alert messages after lastID, or marks c
// to resync when they are no longer all kept. The caller holds mu.
func (b *hub) replayLocked(c *client, lastID string) {
	epoch, n, ok := strings.Cut(lastID, ".")
	seq, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil || epoch != b.epoch || seq > b.seq {
		c.missed.Store(true) // an id from before a restart, or not ours
		return
	}
	if b.seq-seq > replayLen || b.seq-seq > clientBuffer-1 {
		c.missed.Store(true)
		return
	}
	for s := seq + 1; s <= b.seq; s++ {
		c.ch <- b.replay[s%replayLen]
	}
}

// leave removes a browser. When the last one leaves, the loops stop after
// LiveLinger (at once when it is negative), unless a browser joins first:
// a browser reconnecting in the meantime misses nothing.
func (b *hub) leave(c *client) {
	b.mu.Lock()
	delete(b.clients, c)
	if len(b.clients) > 0 || b.stop == nil {
		b.mu.Unlock()
		return
	}
	if d := b.h.cfg.LiveLinger; d > 0 {
		if b.linger == nil {
			b.linger = time.AfterFunc(d, b.stopIfIdle)
		}
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.stopIfIdle()
}

// stopIfIdle stops the loops when no browser is connected, and waits for
// them.
func (b *hub) stopIfIdle() {
	b.mu.Lock()
	if len(b.clients) > 0 || b.stop == nil {
		b.mu.Unlock()
		return
	}
	stop, done := b.stop, b.done
	b.stop, b.done, b.counters, b.linger = nil, nil, nil, nil
	b.mu.Unlock()
	stop()
	<-done
}

// close ends every stream and stops the loops at once; later streams are
// refused. It is idempotent.
func (b *hub) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	close(b.closing)
	if b.linger != nil {
		b.linger.Stop()
		b.linger = nil
	}
	stop, done := b.stop, b.done
	b.stop, b.done = nil, nil
	b.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// broadcastAlert gives an alert message the next id, keeps it for
// reconnecting browsers and broadcasts it.
func (b *hub) broadcastAlert(a secmon.Alert) {
	b.mu.Lock()
	b.seq++
	msg := append([]byte("id: "+b.epoch+"."+strconv.FormatUint(b.seq, 10)+"\n"), alertMessage(a)...)
	b.replay[b.seq%replayLen] = msg
	b.mu.Unlock()
	b.broadcast(msg, false)
}

// broadcast offers msg to every browser without waiting: one that has
// fallen clientBuffer messages behind misses it and is told to reload.
func (b *hub) broadcast(msg []byte, isCounters bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if isCounters {
		b.counters = msg
	}
	for c := range b.clients {
		select {
		case c.ch <- msg:
		default:
			c.missed.Store(true)
		}
	}
}

// run is the loops: the alert subscription, and the counters every
// LiveInterval (the first at once).
func (b *hub) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	var wg sync.WaitGroup
	if src := b.h.cfg.Alerts; src != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := src.SubscribeAlerts(ctx, b.broadcastAlert)
			if err != nil && ctx.Err() == nil {
				b.h.cfg.ErrorLog.Warn("dashboard: the live alert subscription ended", "err", err)
			}
		}()
	}
	t := time.NewTicker(b.h.cfg.LiveInterval)
	defer t.Stop()
	for {
		if msg, err := b.h.countersMessage(ctx); err == nil {
			b.broadcast(msg, true)
		} else if ctx.Err() == nil {
			b.h.cfg.ErrorLog.Warn("dashboard: live counters failed", "err", err)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

// alertJSON is an alert as the browser receives it. Text fields are the
// stored text, made inert by the script (textContent), never parsed as
// HTML.
type alertJSON struct {
	ID        string `json:"id"`
	Rule      string `json:"rule"`
	Subject   string `json:"subject"`
	Severity  string `json:"severity"`
	Status    string `json:"status"`
	Count     int64  `json:"count"`
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
	Summary   string `json:"summary"`
}

func sseMessage(event string, v any) []byte {
	data, err := json.Marshal(v) // escapes <, > and &, so no payload can close anything
	if err != nil {
		data = []byte("{}")
	}
	msg := make([]byte, 0, len(event)+len(data)+16)
	msg = append(msg, "event: "...)
	msg = append(msg, event...)
	msg = append(msg, "\ndata: "...)
	msg = append(msg, data...)
	return append(msg, "\n\n"...)
}

func alertMessage(a secmon.Alert) []byte {
	return sseMessage("alert", alertJSON{
		ID: a.ID.String(), Rule: string(a.Rule), Subject: a.Subject, Severity: a.Severity.String(),
		Status: string(a.Status), Count: a.Count, FirstSeen: a.FirstSeen.UTC().Format(time.RFC3339),
		LastSeen: a.LastSeen.UTC().Format(time.RFC3339), Summary: inert(a.Summary),
	})
}

// countersJSON are the Overview's live figures; the page's elements name
// them in data-live attributes.
type countersJSON struct {
	AsOf           string `json:"as_of"`
	Events         int64  `json:"events"`
	LoginFailures  int64  `json:"login_failures"`
	UploadsBlocked int64  `json:"uploads_blocked"`
	AlertsOpened   int64  `json:"alerts_opened"`
	High           int64  `json:"high"`
	OpenAlerts     string `json:"open_alerts"`
	OpenCritical   int    `json:"open_critical"`
	OpenHigh       int    `json:"open_high"`
	OpenMedium     int    `json:"open_medium"`
	OpenLow        int    `json:"open_low"`
	OpenInfo       int    `json:"open_info"`
	PendingEvents  string `json:"pending_events,omitempty"`
	LastFlush      string `json:"last_flush,omitempty"`
	Failures       string `json:"failures,omitempty"`
	Written        string `json:"written,omitempty"`
}

// countersMessage reads today's summary, the open alerts and the
// Monitor's health once, for every browser.
func (h *handler) countersMessage(parent context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, h.cfg.QueryTimeout)
	defer cancel()
	now := h.cfg.Clock.Now().UTC()
	day := now.Truncate(24 * time.Hour)
	sum, err := h.cfg.Store.Summary(ctx, day, day.Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	open, err := h.cfg.Store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen, Limit: openAlertLimit})
	if err != nil {
		return nil, err
	}
	c := countersJSON{
		AsOf: formatUTC(now), Events: sum.Events, LoginFailures: sum.LoginFailures,
		UploadsBlocked: sum.ThreatsBlocked, AlertsOpened: sum.AlertsOpened, OpenAlerts: formatInt(len(open)),
	}
	if len(open) >= openAlertLimit {
		c.OpenAlerts = "≥ " + c.OpenAlerts
	}
	for s, n := range sum.BySeverity {
		if s >= secmon.SeverityHigh {
			c.High += n
		}
	}
	for _, a := range open {
		switch a.Severity {
		case secmon.SeverityCritical:
			c.OpenCritical++
		case secmon.SeverityHigh:
			c.OpenHigh++
		case secmon.SeverityMedium:
			c.OpenMedium++
		case secmon.SeverityLow:
			c.OpenLow++
		default:
			c.OpenInfo++
		}
	}
	if h.cfg.Stats != nil {
		hv := health(h.cfg.Stats.Stats(), now)
		c.PendingEvents = formatInt(hv.PendingEvents)
		c.LastFlush = formatDuration(hv.LastFlushLatency)
		c.Failures = formatInt(hv.Failures)
		c.Written = formatInt(hv.EventsWritten) + " of " + formatInt(hv.EventsAccepted)
	}
	return sseMessage("counters", c), nil
}

// maxEventIDLen bounds the Last-Event-ID a browser may send back.
const maxEventIDLen = 64

// stream serves the live stream to one browser. A reconnecting browser
// names its last message in the Last-Event-ID header (EventSource does)
// or the last query parameter (the page's script, when it reconnects by
// itself).
func (h *handler) stream(w http.ResponseWriter, r *http.Request) {
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last")
	}
	if len(lastID) > maxEventIDLen {
		lastID = "invalid"
	}
	c, ok := h.hub.join(lastID)
	if !ok {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "503 live stream unavailable: too many connections, or shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.hub.leave(c)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The position message gives the browser an id to name when it
	// reconnects, even before its first alert.
	if !write([]byte("retry: " + strconv.Itoa(reconnectMillis) + "\n: secmon live stream\n\nid: " + c.pos + "\nevent: position\ndata: {}\n\n")) {
		return
	}
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	lifetime := time.NewTimer(h.cfg.StreamLifetime)
	defer lifetime.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.hub.closing:
			return
		case <-lifetime.C:
			// Ending the response makes the browser reconnect (after
			// reconnectMillis, naming the last id it got), and so be
			// authorised again.
			return
		case <-ping.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
		case msg := <-c.ch:
			if c.missed.Swap(false) {
				msg = append([]byte("event: resync\ndata: {}\n\n"), msg...)
			}
			if !write(msg) {
				return
			}
		}
	}
}
