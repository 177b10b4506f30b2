// Package guardbench generates the data that the guard's benchmarks and the
// comparison benchmarks of the benchmarks module run on, so that both
// measure the same inputs. Every function is deterministic.
package guardbench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
)

// List returns an n-line list shaped like the published ones: 60% single
// IPv4 addresses, 30% /24s, 7% /16–/23 and 3% IPv6 /32–/64, drawn from
// seed.
func List(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for range n {
		v := rng.Uint32() | 1<<30 // away from 0.0.0.0/8 and other short prefixes' low end
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		switch r := rng.IntN(100); {
		case r < 60:
			fmt.Fprintf(&b, "%s\n", a)
		case r < 90:
			p, _ := a.Prefix(24)
			fmt.Fprintf(&b, "%s\n", p)
		case r < 97:
			p, _ := a.Prefix(16 + rng.IntN(8))
			fmt.Fprintf(&b, "%s\n", p)
		default:
			var a6 [16]byte
			a6[0], a6[1] = 0x2a, 0x0e
			for i := 2; i < 8; i++ {
				a6[i] = byte(rng.Uint32())
			}
			p, _ := netip.AddrFrom16(a6).Prefix(32 + rng.IntN(33))
			fmt.Fprintf(&b, "%s\n", p)
		}
	}
	return b.Bytes()
}

// Blocked returns the 10,000 addresses the benchmarks block: IPv4
// addresses in 11.0.0.0–110.255.255.255 (no loopback or multicast) and,
// one in ten, IPv6 addresses in 2400::/16.
func Blocked() []netip.Addr {
	rng := rand.New(rand.NewPCG(2, 2))
	out := make([]netip.Addr, 0, 10_000)
	for i := range 10_000 {
		if i%10 == 0 {
			var a6 [16]byte
			a6[0], a6[1] = 0x24, 0x00
			for k := 2; k < 16; k++ {
				a6[k] = byte(rng.Uint32())
			}
			out = append(out, netip.AddrFrom16(a6))
			continue
		}
		v := rng.Uint32()
		out = append(out, netip.AddrFrom4([4]byte{byte(11 + v>>24%100), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	return out
}

// Probes returns 4,096 client addresses to check: random IPv4 addresses
// and, one in eight, IPv6 ones in 2600::/16, with every hitEvery-th one
// taken from hits instead (none when hitEvery is 0).
func Probes(hits []netip.Addr, hitEvery int) []netip.Addr {
	rng := rand.New(rand.NewPCG(3, 3))
	out := make([]netip.Addr, 4096)
	for i := range out {
		switch {
		case hitEvery > 0 && i%hitEvery == 0:
			out[i] = hits[rng.IntN(len(hits))]
		case i%8 == 0:
			var a6 [16]byte
			a6[0], a6[1] = 0x26, 0x00
			for k := 2; k < 16; k++ {
				a6[k] = byte(rng.Uint32())
			}
			out[i] = netip.AddrFrom16(a6)
		default:
			v := rng.Uint32()
			out[i] = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		}
	}
	return out
}
