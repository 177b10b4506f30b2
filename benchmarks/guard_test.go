package benchmarks

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/yl2chen/cidranger"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/internal/guardbench"
	"github.com/secmon-go/secmon/store/memstore"
)

// The guard's prefix table beside github.com/yl2chen/cidranger (a popular
// path-compressed trie of CIDR blocks) and a hand-written sorted slice of
// merged address ranges, on the same data: a 100,000-line reputation list
// shaped like the published ones plus 10,000 blocks (IPv4 addresses and
// IPv6 /64s). The guard's Check does more than the others (it tells which
// block matched, whether it has expired, and whether the allowlist
// spares the address); the others only answer "contained".

type guardData struct {
	list     []byte
	prefixes []netip.Prefix // the list's, parsed
	blocks   []netip.Prefix
}

func loadGuardData(b *testing.B) guardData {
	b.Helper()
	list := guardbench.List(100_000, 1)
	ps, _, err := guard.ParseList(bytes.NewReader(list), guard.ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	blocks := make([]netip.Prefix, 0, 10_000)
	for _, a := range guardbench.Blocked() {
		blocks = append(blocks, secmon.IPGroup(a)) // IPv4 addresses, IPv6 /64s
	}
	return guardData{list: list, prefixes: ps, blocks: blocks}
}

func buildGuard(b *testing.B, d guardData) *guard.Guard {
	b.Helper()
	g, err := guard.New(guard.Config{Store: memstore.New(), MaxBlocks: 20_000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Close(context.Background()) })
	if _, err := g.LoadList(guard.ListConfig{Name: "bench"}, bytes.NewReader(d.list)); err != nil {
		b.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	for _, p := range d.blocks {
		if _, err := g.Block(context.Background(), secmon.Block{Prefix: p, Until: until}); err != nil {
			b.Fatal(err)
		}
	}
	return g
}

func toIPNet(p netip.Prefix) net.IPNet {
	return net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func buildRanger(b *testing.B, d guardData) cidranger.Ranger {
	b.Helper()
	r := cidranger.NewPCTrieRanger()
	for _, ps := range [][]netip.Prefix{d.prefixes, d.blocks} {
		for _, p := range ps {
			if err := r.Insert(cidranger.NewBasicRangerEntry(toIPNet(p))); err != nil {
				b.Fatal(err)
			}
		}
	}
	return r
}

// sortedRanges is the baseline: the prefixes as merged, sorted address
// ranges per family, searched by binary search.
type sortedRanges struct {
	v4 [][2]uint32
	v6 [][2][2]uint64
}

func u128(a netip.Addr) [2]uint64 {
	b := a.As16()
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func less128(a, b [2]uint64) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

func buildSorted(d guardData) *sortedRanges {
	s := &sortedRanges{}
	for _, ps := range [][]netip.Prefix{d.prefixes, d.blocks} {
		for _, p := range ps {
			if p.Addr().Is4() {
				lo := binary.BigEndian.Uint32(p.Addr().AsSlice())
				hi := lo | (1<<(32-p.Bits()) - 1)
				if p.Bits() == 0 {
					hi = ^uint32(0)
				}
				s.v4 = append(s.v4, [2]uint32{lo, hi})
				continue
			}
			lo := u128(p.Addr())
			hi := lo
			host := 128 - p.Bits()
			switch {
			case host >= 64:
				hi[1] = ^uint64(0)
				hi[0] |= 1<<(host-64) - 1
				if host == 128 {
					hi[0] = ^uint64(0)
				}
			default:
				hi[1] |= 1<<host - 1
			}
			s.v6 = append(s.v6, [2][2]uint64{lo, hi})
		}
	}
	slices.SortFunc(s.v4, func(a, b [2]uint32) int { return int(int64(a[0]) - int64(b[0])) })
	merged4 := s.v4[:0]
	for _, r := range s.v4 {
		if n := len(merged4); n > 0 && r[0] <= merged4[n-1][1] {
			merged4[n-1][1] = max(merged4[n-1][1], r[1])
			continue
		}
		merged4 = append(merged4, r)
	}
	s.v4 = merged4
	slices.SortFunc(s.v6, func(a, b [2][2]uint64) int {
		switch {
		case less128(a[0], b[0]):
			return -1
		case less128(b[0], a[0]):
			return 1
		}
		return 0
	})
	merged6 := s.v6[:0]
	for _, r := range s.v6 {
		if n := len(merged6); n > 0 && !less128(merged6[n-1][1], r[0]) {
			if less128(merged6[n-1][1], r[1]) {
				merged6[n-1][1] = r[1]
			}
			continue
		}
		merged6 = append(merged6, r)
	}
	s.v6 = merged6
	return s
}

func (s *sortedRanges) contains(a netip.Addr) bool {
	if a.Is4() {
		v := binary.BigEndian.Uint32(a.AsSlice())
		i := sort.Search(len(s.v4), func(i int) bool { return s.v4[i][1] >= v })
		return i < len(s.v4) && s.v4[i][0] <= v
	}
	v := u128(a)
	i := sort.Search(len(s.v6), func(i int) bool { return !less128(s.v6[i][1], v) })
	return i < len(s.v6) && !less128(v, s.v6[i][0])
}

// BenchmarkGuardCheck: one check of a client address against 100,000 list
// prefixes and 10,000 blocks; "mixed" is one blocked address in 16, "miss"
// none, "blocked" all.
func BenchmarkGuardCheck(b *testing.B) {
	d := loadGuardData(b)
	g := buildGuard(b, d)
	r := buildRanger(b, d)
	s := buildSorted(d)
	for _, mix := range []struct {
		name     string
		hitEvery int
	}{{"mixed", 16}, {"miss", 0}, {"blocked", 1}} {
		hits := make([]netip.Addr, len(d.blocks))
		for i, p := range d.blocks {
			hits[i] = p.Addr()
		}
		addrs := guardbench.Probes(hits, mix.hitEvery)
		ips := make([]net.IP, len(addrs))
		for i, a := range addrs {
			ips[i] = a.AsSlice()
		}
		// The three must agree on every probe.
		for i, a := range addrs {
			_, want := g.Check(a, "")
			got, _ := r.Contains(ips[i])
			if got != want || s.contains(a) != want {
				b.Fatalf("%s: secmon %v, cidranger %v, sorted %v", a, want, got, s.contains(a))
			}
		}
		b.Run(mix.name+"/secmon", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				g.Check(addrs[i&4095], "")
			}
		})
		b.Run(mix.name+"/cidranger", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_, _ = r.Contains(ips[i&4095])
			}
		})
		b.Run(mix.name+"/sorted-slice", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.contains(addrs[i&4095])
			}
		})
	}
}

// BenchmarkGuardListLoad: building the structure for a 100,000-line list
// (plus the 10,000 blocks) from its text; for secmon, parsing and swapping
// it into a running guard. B/prefix is the heap the built structure keeps
// per prefix.
func BenchmarkGuardListLoad(b *testing.B) {
	d := loadGuardData(b)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	n := float64(len(d.prefixes))
	b.Run("secmon", func(b *testing.B) {
		g := buildGuard(b, d)
		for b.Loop() {
			if _, err := g.LoadList(guard.ListConfig{Name: "bench"}, bytes.NewReader(d.list)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		with := heap()
		g.RemoveList("bench")
		b.ReportMetric(float64(int64(with)-int64(heap()))/n, "B/prefix")
	})
	b.Run("cidranger", func(b *testing.B) {
		var r cidranger.Ranger
		for b.Loop() {
			ps, _, err := guard.ParseList(bytes.NewReader(d.list), guard.ParseOptions{}) // the same text to read
			if err != nil {
				b.Fatal(err)
			}
			r = buildRanger(b, guardData{prefixes: ps, blocks: d.blocks})
		}
		b.StopTimer()
		before := heap()
		runtime.KeepAlive(r)
		r = nil
		b.ReportMetric(float64(int64(before)-int64(heap()))/n, "B/prefix")
	})
	b.Run("sorted-slice", func(b *testing.B) {
		var s *sortedRanges
		for b.Loop() {
			ps, _, err := guard.ParseList(bytes.NewReader(d.list), guard.ParseOptions{})
			if err != nil {
				b.Fatal(err)
			}
			s = buildSorted(guardData{prefixes: ps, blocks: d.blocks})
		}
		b.StopTimer()
		before := heap()
		runtime.KeepAlive(s)
		s = nil
		b.ReportMetric(float64(int64(before)-int64(heap()))/n, "B/prefix")
	})
}
