package secmon_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
)

var proxies = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

func request(remote string, header http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	r.Header = header
	return r
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	xff := func(lines ...string) http.Header { return http.Header{"X-Forwarded-For": lines} }
	tests := []struct {
		name   string
		remote string
		header http.Header
		want   string // "" = invalid
	}{
		{"direct", "203.0.113.7:5555", nil, "203.0.113.7"},
		{"direct ipv6", "[2001:db8::7]:443", nil, "2001:db8::7"},
		{"mapped peer", "[::ffff:203.0.113.7]:5555", nil, "203.0.113.7"},
		{"zoned peer", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"bare peer", "203.0.113.7", nil, "203.0.113.7"},
		{"unix socket", "@", nil, ""},
		{"empty remote", "", nil, ""},
		{"spoof from untrusted peer ignored", "203.0.113.7:1", xff("1.2.3.4"), "203.0.113.7"},
		{"spoof chain from untrusted peer ignored", "203.0.113.7:1", xff("1.2.3.4, 10.0.0.1"), "203.0.113.7"},
		{"one proxy", "10.0.0.1:1", xff("198.51.100.9"), "198.51.100.9"},
		{"client prepends a lie", "10.0.0.1:1", xff("1.2.3.4, 198.51.100.9"), "198.51.100.9"},
		{"two trusted hops", "10.0.0.1:1", xff("1.2.3.4, 198.51.100.9, 10.0.0.2"), "198.51.100.9"},
		{"several header lines", "10.0.0.1:1", xff("1.2.3.4, 198.51.100.9", "10.0.0.3, 10.0.0.2"), "198.51.100.9"},
		{"all trusted gives leftmost", "10.0.0.1:1", xff("10.9.9.9, 10.0.0.2"), "10.9.9.9"},
		{"no header behind proxy", "10.0.0.1:1", nil, "10.0.0.1"},
		{"empty header behind proxy", "10.0.0.1:1", xff(""), "10.0.0.1"},
		{"malformed stops at last good hop", "10.0.0.1:1", xff("198.51.100.9, garbage, 10.0.0.2"), "10.0.0.2"},
		{"malformed right after peer", "10.0.0.1:1", xff("198.51.100.9, not-an-ip"), "10.0.0.1"},
		{"empty entry skipped", "10.0.0.1:1", xff("198.51.100.9,,10.0.0.2"), "198.51.100.9"},
		{"blank entry skipped", "10.0.0.1:1", xff("198.51.100.9, ,10.0.0.2"), "198.51.100.9"},
		{"empty line skipped like an empty entry", "10.0.0.1:1", xff("198.51.100.9", "", "10.0.0.2"), "198.51.100.9"},
		{"entry with a bad port stops", "10.0.0.1:1", xff("198.51.100.9, 10.0.0.5:http"), "10.0.0.1"},
		{"bracketed entry with a bad port stops", "10.0.0.1:1", xff("[2001:db8::9]:99999"), "10.0.0.1"},
		{"unknown stops", "10.0.0.1:1", xff("198.51.100.9, unknown"), "10.0.0.1"},
		{"tab separated", "10.0.0.1:1", xff("198.51.100.9,\t10.0.0.2"), "198.51.100.9"},
		{"entry with port", "10.0.0.1:1", xff("198.51.100.9:4711"), "198.51.100.9"},
		{"bracketed ipv6 entry", "10.0.0.1:1", xff("[2001:db8::9]:4711"), "2001:db8::9"},
		{"mapped entry", "10.0.0.1:1", xff("::ffff:198.51.100.9"), "198.51.100.9"},
		{"ipv6 proxy", "[2001:db8:ffff::1]:1", xff("2001:db8::9, 2001:db8:ffff::2"), "2001:db8::9"},
		{"spaces around entries", "10.0.0.1:1", xff(" 198.51.100.9 ,  10.0.0.2 "), "198.51.100.9"},
		{"trailing empty entry skipped", "10.0.0.1:1", xff("198.51.100.9, "), "198.51.100.9"},
		{"trailing comma skipped", "10.0.0.1:1", xff("198.51.100.9,"), "198.51.100.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := secmon.ClientIP(request(tt.remote, tt.header), proxies)
			want := netip.Addr{}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("ClientIP = %v, want %v", got, want)
			}
		})
	}
	if got := secmon.ClientIP(nil, proxies); got.IsValid() {
		t.Errorf("ClientIP(nil) = %v", got)
	}
}

func TestClientIPBoundedWork(t *testing.T) {
	t.Parallel()
	// A megabyte of trusted hops: the walk stops after MaxForwardedHops.
	hops := strings.Repeat("10.1.1.1, ", 100_000) + "10.0.0.9"
	got := secmon.ClientIP(request("10.0.0.1:1", http.Header{"X-Forwarded-For": {"198.51.100.9, " + hops}}), proxies)
	if got != netip.MustParseAddr("10.1.1.1") {
		t.Errorf("long chain: %v, want the last hop examined", got)
	}
	// One huge entry is malformed, not parsed.
	huge := strings.Repeat("1", 1<<20)
	got = secmon.ClientIP(request("10.0.0.1:1", http.Header{"X-Forwarded-For": {huge}}), proxies)
	if got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("huge entry: %v, want the peer", got)
	}
	// Many header lines cost no more than MaxForwardedHops entries.
	lines := make([]string, 10_000)
	for i := range lines {
		lines[i] = "10.2.2.2"
	}
	lines[0] = "198.51.100.9"
	got = secmon.ClientIP(request("10.0.0.1:1", http.Header{"X-Forwarded-For": lines}), proxies)
	if got != netip.MustParseAddr("10.2.2.2") {
		t.Errorf("many lines: %v", got)
	}
	// Empty lines and entries count against the bound as well: the walk
	// gives up on them rather than reaching the first line.
	for i := 1; i < len(lines); i++ {
		lines[i] = ""
	}
	got = secmon.ClientIP(request("10.0.0.1:1", http.Header{"X-Forwarded-For": lines}), proxies)
	if got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("many empty lines: %v, want the peer", got)
	}
	commas := "198.51.100.9" + strings.Repeat(",", 100_000)
	got = secmon.ClientIP(request("10.0.0.1:1", http.Header{"X-Forwarded-For": {commas}}), proxies)
	if got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("many empty entries: %v, want the peer", got)
	}
}

// TestClientIPMappedPrefixes: trusted prefixes written in IPv4-mapped
// form match the IPv4 addresses ClientIP normalises hops to.
func TestClientIPMappedPrefixes(t *testing.T) {
	t.Parallel()
	mapped := []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}
	h := http.Header{"X-Forwarded-For": {"198.51.100.9, 10.0.0.2"}}
	for _, remote := range []string{"10.0.0.1:1", "[::ffff:10.0.0.1]:1"} {
		if got := secmon.ClientIP(request(remote, h), mapped); got != netip.MustParseAddr("198.51.100.9") {
			t.Errorf("peer %s: ClientIP = %v, want 198.51.100.9", remote, got)
		}
	}
	// A short mapped prefix (::ffff:0:0/95) reaches outside the mapped
	// range; it is used as written and matches no IPv4 address.
	wide := []netip.Prefix{netip.MustParsePrefix("::ffff:0:0/95")}
	if got := secmon.ClientIP(request("10.0.0.1:1", h), wide); got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("wide mapped prefix: ClientIP = %v, want the peer", got)
	}
	// A spoofed header from an untrusted peer still changes nothing.
	if got := secmon.ClientIP(request("203.0.113.7:1", h), mapped); got != netip.MustParseAddr("203.0.113.7") {
		t.Errorf("untrusted peer: ClientIP = %v", got)
	}
}

func TestClientIPForwarded(t *testing.T) {
	t.Parallel()
	fwd := func(v ...string) http.Header { return http.Header{"Forwarded": v} }
	tests := []struct {
		name   string
		remote string
		header http.Header
		want   string
	}{
		{"untrusted peer", "203.0.113.7:1", fwd("for=1.2.3.4"), "203.0.113.7"},
		{"simple", "10.0.0.1:1", fwd("for=198.51.100.9"), "198.51.100.9"},
		{"with params", "10.0.0.1:1", fwd("for=1.2.3.4;proto=https, for=198.51.100.9;proto=https;by=10.0.0.1"), "198.51.100.9"},
		{"quoted ipv6 with port", "10.0.0.1:1", fwd(`for="[2001:db8::9]:4711"`), "2001:db8::9"},
		{"case-insensitive name", "10.0.0.1:1", fwd("For=198.51.100.9"), "198.51.100.9"},
		{"trusted hop skipped", "10.0.0.1:1", fwd("for=198.51.100.9, for=10.0.0.2"), "198.51.100.9"},
		{"unknown stops", "10.0.0.1:1", fwd("for=198.51.100.9, for=unknown"), "10.0.0.1"},
		{"obfuscated stops", "10.0.0.1:1", fwd("for=198.51.100.9, for=_hidden, for=10.0.0.2"), "10.0.0.2"},
		{"no for stops", "10.0.0.1:1", fwd("proto=https"), "10.0.0.1"},
		{"empty element skipped", "10.0.0.1:1", fwd("for=198.51.100.9, , for=10.0.0.2"), "198.51.100.9"},
		{"unbalanced quote stops", "10.0.0.1:1", fwd(`for="198.51.100.9`), "10.0.0.1"},
		{"x-real-ip never read", "10.0.0.1:1", http.Header{"X-Real-Ip": {"198.51.100.9"}}, "10.0.0.1"},
		{"xff ignored", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"198.51.100.9"}}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := secmon.ClientIPForwarded(request(tt.remote, tt.header), proxies); got != netip.MustParseAddr(tt.want) {
				t.Errorf("ClientIPForwarded = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIPGroup(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7/32"},
		{"::ffff:203.0.113.7", "203.0.113.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		// A 6to4 site is one IPv4 address with a whole /48 to rotate in.
		{"2002:cb00:7107:1::1", "2002:cb00:7107::/48"},
		{"2002:cb00:7107:ffff::9", "2002:cb00:7107::/48"},
	}
	for _, tt := range tests {
		if got := secmon.IPGroup(netip.MustParseAddr(tt.in)); got != netip.MustParsePrefix(tt.want) {
			t.Errorf("IPGroup(%s) = %v, want %s", tt.in, got, tt.want)
		}
	}
	if got := secmon.IPGroup(netip.Addr{}); got != (netip.Prefix{}) {
		t.Errorf("IPGroup(invalid) = %v", got)
	}
}

func TestNewRequestInfo(t *testing.T) {
	t.Parallel()
	const chrome120 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	const chrome121 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36"
	const firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
	const macChrome = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	h := func(ua, lang string) http.Header {
		hd := http.Header{}
		if ua != "" {
			hd.Set("User-Agent", ua)
		}
		if lang != "" {
			hd.Set("Accept-Language", lang)
		}
		return hd
	}
	info := secmon.NewRequestInfo(request("10.0.0.1:1", http.Header{
		"User-Agent":      {chrome120},
		"X-Forwarded-For": {"198.51.100.9"},
	}), proxies)
	if info.IP != netip.MustParseAddr("198.51.100.9") || info.UserAgent != chrome120 {
		t.Errorf("RequestInfo = %+v", info)
	}
	if len(info.Fingerprint) != secmon.FingerprintLen || strings.Trim(info.Fingerprint, "0123456789abcdef") != "" {
		t.Errorf("Fingerprint %q is not %d hex digits", info.Fingerprint, secmon.FingerprintLen)
	}

	long := secmon.NewRequestInfo(request("1.2.3.4:1", http.Header{"User-Agent": {"x\x00y\r\n" + strings.Repeat("z", 4000)}}), nil)
	if len(long.UserAgent) != secmon.MaxUserAgentLen || !strings.HasPrefix(long.UserAgent, "xy  z") {
		t.Errorf("UserAgent = %q… (%d bytes)", long.UserAgent[:8], len(long.UserAgent))
	}

	f := &secmon.Fingerprinter{Key: []byte("shared key for the whole fleet")}
	fp := func(f *secmon.Fingerprinter, hd http.Header) string { return f.Fingerprint(request("1.2.3.4:1", hd)) }
	base := fp(f, h(chrome120, "en-GB,en;q=0.9"))
	if got := fp(f, h(chrome121, "en-GB,en;q=0.9")); got != base {
		t.Error("a browser update changed the fingerprint")
	}
	if got := fp(&secmon.Fingerprinter{Key: []byte("shared key for the whole fleet")}, h(chrome120, "en-GB,en;q=0.9")); got != base {
		t.Error("two fingerprinters with one key disagree")
	}
	for name, other := range map[string]string{
		"browser":  fp(f, h(firefox, "en-GB,en;q=0.9")),
		"os":       fp(f, h(macChrome, "en-GB,en;q=0.9")),
		"language": fp(f, h(chrome120, "de-DE")),
		"key":      fp(&secmon.Fingerprinter{Key: []byte("another key")}, h(chrome120, "en-GB,en;q=0.9")),
		"process":  fp(nil, h(chrome120, "en-GB,en;q=0.9")),
	} {
		if other == base {
			t.Errorf("changing the %s kept the fingerprint", name)
		}
	}
	if got := fp(nil, h(chrome120, "")); got != secmon.NewRequestInfo(request("1.2.3.4:1", h(chrome120, "")), nil).Fingerprint {
		t.Error("RequestInfo and a nil Fingerprinter disagree")
	}
	if got := fp(f, http.Header{}); got != "" {
		t.Errorf("no inputs: fingerprint %q, want empty", got)
	}
	if got := f.RequestInfo(nil, nil); got != (secmon.RequestInfo{}) {
		t.Errorf("nil request: %+v", got)
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "1.2.3.4, 198.51.100.9, 10.0.0.2", "for=198.51.100.9;proto=https")
	f.Add("203.0.113.7:1", "1.2.3.4", `for="[2001:db8::9]:4711"`)
	f.Add("[2001:db8:ffff::1]:1", "[::ffff:1.2.3.4]:80,,", "for=unknown, for=_x")
	f.Add("10.0.0.1:1", strings.Repeat("10.0.0.2,", 40), strings.Repeat(";", 100))
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		r := request(remote, http.Header{"X-Forwarded-For": {xff, xff}, "Forwarded": {fwd}})
		for _, got := range []netip.Addr{secmon.ClientIP(r, proxies), secmon.ClientIPForwarded(r, proxies)} {
			if got.IsValid() && (got.Is4In6() || got.Zone() != "") {
				t.Fatalf("not normalised: %v", got)
			}
		}
		peer := secmon.ClientIP(request(remote, nil), proxies)
		trustedPeer := false
		for _, p := range proxies {
			trustedPeer = trustedPeer || p.Contains(peer)
		}
		if !trustedPeer {
			if got := secmon.ClientIP(r, proxies); got != peer {
				t.Fatalf("untrusted peer %v: header changed the result to %v", peer, got)
			}
		}
		secmon.NewRequestInfo(r, proxies)
	})
}

func BenchmarkClientIP(b *testing.B) {
	r := request("10.0.0.1:4711", http.Header{"X-Forwarded-For": {"198.51.100.9, 10.0.0.3, 10.0.0.2"}})
	b.ReportAllocs()
	for b.Loop() {
		secmon.ClientIP(r, proxies)
	}
}

func BenchmarkIPGroup(b *testing.B) {
	addrs := []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8:1:2:3:4:5:6")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		secmon.IPGroup(addrs[i&1])
		i++
	}
}

func ExampleClientIP() {
	// The service runs behind a load balancer in 10.0.0.0/8.
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

	r := httptest.NewRequest(http.MethodGet, "/login", nil)
	r.RemoteAddr = "10.0.0.5:34567"
	// The client wrote "6.6.6.6" itself; the load balancer appended the
	// address it saw.
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.9")
	fmt.Println(secmon.ClientIP(r, trusted))

	// Straight from the internet, the header is not believed.
	r.RemoteAddr = "203.0.113.7:5555"
	fmt.Println(secmon.ClientIP(r, trusted))
	// Output:
	// 198.51.100.9
	// 203.0.113.7
}

func ExampleIPGroup() {
	fmt.Println(secmon.IPGroup(netip.MustParseAddr("::ffff:203.0.113.7")))
	fmt.Println(secmon.IPGroup(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")))
	// Output:
	// 203.0.113.7/32
	// 2001:db8:1:2::/64
}

func ExampleFingerprinter_RequestInfo() {
	// Every instance of the service shares the key, so fingerprints agree
	// across the fleet. (Load it from configuration in a real service.)
	fp := &secmon.Fingerprinter{Key: []byte("fleet-wide fingerprint key")}

	r := httptest.NewRequest(http.MethodGet, "/login", nil)
	r.RemoteAddr = "203.0.113.7:5555"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	r.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	info := fp.RequestInfo(r, nil)
	fmt.Println(info.IP, len(info.Fingerprint))

	// A browser update keeps the device's fingerprint.
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Gecko/20100101 Firefox/129.0")
	fmt.Println(fp.Fingerprint(r) == info.Fingerprint)
	// Output:
	// 203.0.113.7 32
	// true
}
