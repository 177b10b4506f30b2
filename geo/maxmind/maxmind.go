package maxmind

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/secmon-go/secmon"
)

// DefaultReloadInterval is how often the database file is checked for
// changes when Config.ReloadInterval is zero.
const DefaultReloadInterval = time.Minute

// Config tunes a Resolver. Zero fields mean the documented defaults.
type Config struct {
	// ReloadInterval is how often a background goroutine, owned by the
	// Resolver and stopped by Close, checks the file's modification time
	// and size, reloading it when either changed. Zero means
	// DefaultReloadInterval; a negative value disables the goroutine, so
	// only Reload loads a new file.
	ReloadInterval time.Duration
	// Mmap maps the file into memory instead of reading it onto the heap.
	// Mapping saves memory (a City database is tens of megabytes) but the
	// file must then only ever be replaced by rename, never rewritten in
	// place: a mapped file truncated under a reader crashes the process.
	// Reading (the default) is safe with any update method.
	Mmap bool
	// Logger receives reload failures of the background goroutine. Nil
	// means silent.
	Logger *slog.Logger
}

// Resolver implements secmon.GeoResolver over a MaxMind GeoIP2 or GeoLite2
// City (or Country) database file, hot-reloading it when the file changes.
//
// Lookups never block on a reload: a new reader is swapped in atomically,
// and the old one is closed only when the last lookup using it has
// finished. A file that fails to load leaves the current reader in
// service. A Resolver is safe for concurrent use.
type Resolver struct {
	path string
	mmap bool
	log  *slog.Logger

	cur atomic.Pointer[handle]

	reloadMu sync.Mutex // serialises loads and Close
	lastStat fileStat   // guarded by reloadMu: the file as last tried
	isClosed bool       // guarded by reloadMu
	stats    struct {
		reloads, failures atomic.Int64
		lastErr           atomic.Pointer[string]
	}

	closeOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

var _ secmon.GeoResolver = (*Resolver)(nil)

// handle is a reader with a reference count: one reference for being
// current, one per lookup in flight. The reader closes at zero.
type handle struct {
	rd     *maxminddb.Reader
	refs   atomic.Int64
	loaded time.Time
}

func (h *handle) release() {
	if h.refs.Add(-1) == 0 {
		h.rd.Close()
	}
}

type fileStat struct {
	mod  time.Time
	size int64
}

// Open loads the database at path and, unless cfg disables it, starts
// watching it for changes. Close the Resolver to stop the watcher and
// release the database.
func Open(path string, cfg Config) (*Resolver, error) {
	r := &Resolver{path: path, mmap: cfg.Mmap, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	interval := cfg.ReloadInterval
	if interval == 0 {
		interval = DefaultReloadInterval
	}
	if interval > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		r.stop = cancel
		r.done = make(chan struct{})
		go r.watch(ctx, interval)
	}
	return r, nil
}

// Reload loads the file now, whether or not it changed, and swaps it in.
// On error the current database stays in service and the error says why
// the new file was refused.
func (r *Resolver) Reload() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.isClosed {
		return secmon.ErrClosed
	}
	st, err := os.Stat(r.path)
	if err == nil {
		r.lastStat = fileStat{st.ModTime(), st.Size()}
	}
	h, err := r.load()
	if err != nil {
		r.stats.failures.Add(1)
		msg := err.Error()
		r.stats.lastErr.Store(&msg)
		return err
	}
	r.stats.reloads.Add(1)
	r.stats.lastErr.Store(nil)
	if old := r.cur.Swap(h); old != nil {
		old.release()
	}
	return nil
}

func (r *Resolver) load() (h *handle, err error) {
	// A reader library that panics on a hostile file must not take the
	// process (or the watcher goroutine) down with it.
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("maxmind: loading %s: malformed database (%v)", r.path, p)
		}
	}()
	var rd *maxminddb.Reader
	if r.mmap {
		rd, err = maxminddb.Open(r.path)
	} else {
		var b []byte
		b, err = os.ReadFile(r.path)
		if err == nil {
			rd, err = maxminddb.OpenBytes(b)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("maxmind: loading %s: %w", r.path, err)
	}
	h = &handle{rd: rd, loaded: time.Now()}
	h.refs.Store(1)
	return h, nil
}

func (r *Resolver) watch(ctx context.Context, interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(r.path)
		if err != nil {
			continue // being replaced, or gone: keep serving the old data
		}
		r.reloadMu.Lock()
		changed := fileStat{st.ModTime(), st.Size()} != r.lastStat
		r.reloadMu.Unlock()
		if !changed {
			continue
		}
		if err := r.Reload(); err != nil && !errors.Is(err, secmon.ErrClosed) {
			r.log.LogAttrs(ctx, slog.LevelWarn, "maxmind: keeping the previous database", slog.String("error", err.Error()))
		}
	}
}

// acquire returns the current handle with a reference taken, or nil after
// Close.
func (r *Resolver) acquire() *handle {
	for {
		h := r.cur.Load()
		if h == nil {
			return nil
		}
		n := h.refs.Load()
		if n == 0 {
			continue // swapped out and closing; load the new one
		}
		if h.refs.CompareAndSwap(n, n+1) {
			return h
		}
	}
}

// cityRecord is the part of a GeoIP2/GeoLite2 City record that Resolve
// reads. Decoding into structs (not maps) skips the other languages'
// names without allocating.
type cityRecord struct {
	City struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	Location struct {
		Latitude       float64 `maxminddb:"latitude"`
		Longitude      float64 `maxminddb:"longitude"`
		AccuracyRadius uint16  `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
}

// Resolve returns where ip is: the country's ISO code (the registered
// country's when the database has no country for the network), the first
// subdivision's English name (its ISO code when unnamed), the city's English
// name, coordinates and accuracy radius. It returns secmon.ErrNotFound when
// the address is not in the database, an error matching secmon.ErrInvalid
// for an invalid address, and secmon.ErrClosed after Close.
func (r *Resolver) Resolve(ctx context.Context, ip netip.Addr) (g secmon.Geo, err error) {
	if !ip.IsValid() {
		return secmon.Geo{}, fmt.Errorf("maxmind: invalid address: %w", secmon.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return secmon.Geo{}, err
	}
	h := r.acquire()
	if h == nil {
		return secmon.Geo{}, secmon.ErrClosed
	}
	defer h.release()
	defer func() {
		if p := recover(); p != nil { // a malformed data section
			g, err = secmon.Geo{}, fmt.Errorf("maxmind: malformed record (%v)", p)
		}
	}()
	res := h.rd.Lookup(ip.Unmap().WithZone(""))
	if err := res.Err(); err != nil {
		return secmon.Geo{}, fmt.Errorf("maxmind: lookup: %w", err)
	}
	if !res.Found() {
		return secmon.Geo{}, secmon.ErrNotFound
	}
	var rec cityRecord
	if err := res.Decode(&rec); err != nil {
		return secmon.Geo{}, fmt.Errorf("maxmind: decoding record: %w", err)
	}
	g = secmon.Geo{
		Country:    rec.Country.ISOCode,
		City:       rec.City.Names.EN,
		Latitude:   rec.Location.Latitude,
		Longitude:  rec.Location.Longitude,
		AccuracyKM: int(rec.Location.AccuracyRadius),
	}
	if g.Country == "" {
		g.Country = rec.RegisteredCountry.ISOCode
	}
	if len(rec.Subdivisions) > 0 {
		g.Region = rec.Subdivisions[0].Names.EN
		if g.Region == "" {
			g.Region = rec.Subdivisions[0].ISOCode
		}
	}
	if g.IsZero() {
		return secmon.Geo{}, secmon.ErrNotFound
	}
	return g, nil
}

// Stats describes the loaded database and the reload history.
type Stats struct {
	DatabaseType string    // e.g. "GeoLite2-City"
	BuildTime    time.Time // when MaxMind built the database
	LoadedAt     time.Time // when this process loaded it
	Reloads      int64     // successful loads, the first included
	Failures     int64     // refused files
	LastError    string    // why the last load failed; empty after a success
}

// Stats returns the current database's metadata and reload counters.
func (r *Resolver) Stats() Stats {
	s := Stats{Reloads: r.stats.reloads.Load(), Failures: r.stats.failures.Load()}
	if p := r.stats.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	if h := r.acquire(); h != nil {
		s.DatabaseType = h.rd.Metadata.DatabaseType
		s.BuildTime = h.rd.Metadata.BuildTime()
		s.LoadedAt = h.loaded
		h.release()
	}
	return s
}

// Close stops the watcher, waiting for it until ctx ends, and releases the
// database once the lookups in flight finish. Later Resolve calls return
// secmon.ErrClosed. Close is idempotent.
func (r *Resolver) Close(ctx context.Context) error {
	var err error
	r.closeOnce.Do(func() {
		if r.stop != nil {
			r.stop()
			select {
			case <-r.done:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		r.reloadMu.Lock()
		r.isClosed = true
		old := r.cur.Swap(nil)
		r.reloadMu.Unlock()
		if old != nil {
			old.release()
		}
	})
	return err
}
