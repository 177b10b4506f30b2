package maxmind_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/geo/maxmind"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// place is one network of a test database, shaped like a GeoIP2 City
// record.
type place struct {
	cidr, country, region, regionCode, city string
	lat, lon                                float64
	radius                                  uint16
}

var london = place{"81.2.69.0/24", "GB", "England", "ENG", "London", 51.5142, -0.0931, 10}
var paris = place{"81.2.69.0/24", "FR", "Île-de-France", "IDF", "Paris", 48.8566, 2.3522, 20}
var berlinV6 = place{"2a02:8100::/32", "DE", "Land Berlin", "BE", "Berlin", 52.52, 13.405, 50}

func record(p place) mmdbtype.Map {
	names := func(en string) mmdbtype.Map {
		return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(en + " (de)")}
	}
	m := mmdbtype.Map{
		"country":            mmdbtype.Map{"iso_code": mmdbtype.String(p.country), "names": names(p.country)},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(p.country)},
		"location": mmdbtype.Map{
			"latitude":        mmdbtype.Float64(p.lat),
			"longitude":       mmdbtype.Float64(p.lon),
			"accuracy_radius": mmdbtype.Uint16(p.radius),
			"time_zone":       mmdbtype.String("Europe/London"),
		},
	}
	if p.city != "" {
		m["city"] = mmdbtype.Map{"geoname_id": mmdbtype.Uint32(1), "names": names(p.city)}
	}
	if p.regionCode != "" {
		sub := mmdbtype.Map{"iso_code": mmdbtype.String(p.regionCode)}
		if p.region != "" {
			sub["names"] = names(p.region)
		}
		m["subdivisions"] = mmdbtype.Slice{sub}
	}
	return m
}

// fataler is the part of testing.TB writeDB needs, so examples can use it.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// writeDB writes a City-shaped database to path atomically (temp file and
// rename, as geoipupdate does).
func writeDB(t fataler, path string, places ...place) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range places {
		_, n, err := net.ParseCIDR(p.cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, record(p)); err != nil {
			t.Fatal(err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "db-*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(tmp); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, path string, cfg maxmind.Config) *maxmind.Resolver {
	t.Helper()
	r, err := maxmind.Open(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func geoOf(p place) secmon.Geo {
	region := p.region
	if region == "" {
		region = p.regionCode
	}
	return secmon.Geo{Country: p.country, Region: region, City: p.city, Latitude: p.lat, Longitude: p.lon, AccuracyKM: int(p.radius)}
}

var noWatch = maxmind.Config{ReloadInterval: -1}

func TestResolve(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	unnamed := place{"198.51.100.0/24", "US", "", "CA", "", 37.75, -122.4, 1000}
	writeDB(t, path, london, berlinV6, unnamed)
	for _, mmap := range []bool{false, true} {
		r := open(t, path, maxmind.Config{ReloadInterval: -1, Mmap: mmap})
		ctx := context.Background()
		tests := []struct {
			ip   string
			want secmon.Geo
			err  error
		}{
			{"81.2.69.142", geoOf(london), nil},
			{"::ffff:81.2.69.142", geoOf(london), nil},
			{"2a02:8100:1234::1", geoOf(berlinV6), nil},
			{"198.51.100.7", geoOf(unnamed), nil},
			{"8.8.8.8", secmon.Geo{}, secmon.ErrNotFound},
			{"2001:db8::1", secmon.Geo{}, secmon.ErrNotFound},
		}
		for _, tt := range tests {
			got, err := r.Resolve(ctx, netip.MustParseAddr(tt.ip))
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("mmap=%v Resolve(%s) = %+v, %v; want %+v, %v", mmap, tt.ip, got, err, tt.want, tt.err)
			}
		}
		if _, err := r.Resolve(ctx, netip.Addr{}); !errors.Is(err, secmon.ErrInvalid) {
			t.Errorf("invalid address: %v", err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := r.Resolve(cancelled, netip.MustParseAddr("81.2.69.142")); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled context: %v", err)
		}
		st := r.Stats()
		if st.DatabaseType != "GeoIP2-City" || st.Reloads != 1 || st.Failures != 0 || st.BuildTime.IsZero() {
			t.Errorf("Stats = %+v", st)
		}
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeDB(t, path, london)
	r := open(t, path, noWatch)
	ip := netip.MustParseAddr("81.2.69.142")

	writeDB(t, path, paris)
	if g, _ := r.Resolve(ctx, ip); g.City != "London" {
		t.Fatalf("before Reload: %+v", g)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if g, err := r.Resolve(ctx, ip); err != nil || g != geoOf(paris) {
		t.Fatalf("after Reload: %+v, %v", g, err)
	}

	// A corrupt file is refused; the loaded database keeps answering.
	if err := os.WriteFile(path+".tmp", []byte("this is not a MaxMind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	err := r.Reload()
	if err == nil || !strings.Contains(err.Error(), "maxmind: loading") {
		t.Fatalf("corrupt file: %v", err)
	}
	if g, err := r.Resolve(ctx, ip); err != nil || g.City != "Paris" {
		t.Fatalf("after corrupt file: %+v, %v", g, err)
	}
	if st := r.Stats(); st.Failures != 1 || st.LastError == "" || st.Reloads != 2 {
		t.Errorf("Stats = %+v", st)
	}

	// A missing file likewise.
	os.Remove(path)
	if err := r.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if g, _ := r.Resolve(ctx, ip); g.City != "Paris" {
		t.Errorf("after missing file: %+v", g)
	}
}

func TestWatcherReloadsChangedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeDB(t, path, london)
	r := open(t, path, maxmind.Config{ReloadInterval: time.Millisecond})
	ip := netip.MustParseAddr("81.2.69.142")

	// A corrupt file first: the watcher must keep the old database.
	if err := os.WriteFile(path+".tmp", []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Rename(path+".tmp", path)
	waitFor(t, func() bool { return r.Stats().Failures > 0 })
	if g, _ := r.Resolve(ctx, ip); g.City != "London" {
		t.Fatalf("after corrupt file: %+v", g)
	}

	writeDB(t, path, paris)
	waitFor(t, func() bool {
		g, _ := r.Resolve(ctx, ip)
		return g.City == "Paris"
	})
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(ctx, ip); !errors.Is(err, secmon.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if err := r.Reload(); !errors.Is(err, secmon.ErrClosed) {
		t.Errorf("Reload after Close: %v", err)
	}
}

// waitFor polls cond; it fails the test only if cond never holds within a
// generous bound (this is not a timing assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition never held")
}

func TestConcurrentLookupsDuringReloads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeDB(t, path, london)
	// Mmap: a reader unmapped while a lookup used it would crash the test.
	r := open(t, path, maxmind.Config{ReloadInterval: -1, Mmap: true})
	ip := netip.MustParseAddr("81.2.69.142")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				g, err := r.Resolve(ctx, ip)
				if err != nil || (g.City != "London" && g.City != "Paris") {
					t.Errorf("Resolve = %+v, %v", g, err)
					return
				}
			}
		}()
	}
	for i := range 30 {
		p := london
		if i%2 == 0 {
			p = paris
		}
		writeDB(t, path, p)
		if err := r.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := maxmind.Open(filepath.Join(dir, "missing.mmdb"), maxmind.Config{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	for name, data := range map[string][]byte{"empty": nil, "garbage": []byte("not a database"), "truncated": nil} {
		path := filepath.Join(dir, name+".mmdb")
		if name == "truncated" {
			writeDB(t, path, london)
			b, _ := os.ReadFile(path)
			data = b[:len(b)/2]
		}
		os.WriteFile(path, data, 0o644)
		for _, mmap := range []bool{false, true} {
			r, err := maxmind.Open(path, maxmind.Config{Mmap: mmap})
			if err == nil || r != nil || !strings.Contains(err.Error(), name+".mmdb") {
				t.Errorf("%s (mmap=%v): %v", name, mmap, err)
			}
		}
	}
}

func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "seed.mmdb")
	writeDB(f, good, london, berlinV6)
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(b[len(b)/3:])
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.mmdb")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := maxmind.Open(path, noWatch)
		if err != nil {
			return
		}
		defer r.Close(context.Background())
		for _, ip := range []string{"81.2.69.142", "2a02:8100::1", "8.8.8.8", "::1"} {
			r.Resolve(context.Background(), netip.MustParseAddr(ip)) // must not panic
		}
	})
}

func BenchmarkResolve(b *testing.B) {
	path := filepath.Join(b.TempDir(), "city.mmdb")
	writeDB(b, path, london, berlinV6)
	r, err := maxmind.Open(path, noWatch)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	ip := netip.MustParseAddr("81.2.69.142")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(context.Background(), ip); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCloseDuringLookupsAndReloads closes a Resolver while lookups, Stats
// and reloads (by hand and by the watcher) run against a mapped file: no
// lookup may use an unmapped reader, and every call after Close returns
// secmon.ErrClosed.
func TestCloseDuringLookupsAndReloads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeDB(t, path, london)
	r, err := maxmind.Open(path, maxmind.Config{ReloadInterval: time.Millisecond, Mmap: true})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("81.2.69.142")
	var closed atomic.Bool
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				wasClosed := closed.Load()
				g, err := r.Resolve(ctx, ip)
				switch {
				case errors.Is(err, secmon.ErrClosed):
					return
				case wasClosed:
					t.Errorf("Resolve after Close = %+v, %v", g, err)
					return
				case err != nil || g.City != "London" && g.City != "Paris":
					t.Errorf("Resolve = %+v, %v", g, err)
					return
				}
				if i%2 == 0 && n%16 == 0 {
					r.Stats()
				}
			}
		}()
	}
	for i := range 20 {
		p := london
		if i%2 == 0 {
			p = paris
		}
		writeDB(t, path, p)
		if err := r.Reload(); err != nil {
			t.Error(err)
		}
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	wg.Wait()
	if err := r.Reload(); !errors.Is(err, secmon.ErrClosed) {
		t.Errorf("Reload after Close = %v", err)
	}
	if err := r.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if s := r.Stats(); s.DatabaseType != "" {
		t.Errorf("Stats after Close names a database: %+v", s)
	}
}
