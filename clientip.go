package secmon

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// Header names ClientIP and ClientIPForwarded read.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// MaxForwardedHops is how many proxy hops ClientIP walks at most. A longer
// chain stops the walk at the last hop examined.
const MaxForwardedHops = 32

// maxHopLen is the longest hop entry accepted: "[ipv6%zone]:port" with room
// to spare. Longer entries are malformed.
const maxHopLen = 96

// ClientIP returns the address of the client that sent r.
//
// The peer address comes from r.RemoteAddr. Only when the peer is inside one
// of the trusted prefixes (the host's own reverse proxies) is
// X-Forwarded-For consulted: its entries, across all header lines and comma
// lists, are walked from the right, skipping hops that are themselves
// trusted, and the first untrusted hop is the client. The leftmost entry,
// which the client can write freely, is never believed unless every hop
// after it is trusted. Empty entries (a trailing comma, "a,,b") and empty
// header lines name no hop and are skipped. A malformed entry ("unknown",
// an obfuscated name, a bad port, text) stops the walk and the last good
// hop is returned (the trusted peer itself when the header is missing or
// its last entry is bad); at most MaxForwardedHops entries, empty ones
// included, are examined, and each is read from the right without
// scanning the whole header, so a huge header costs bounded work.
//
// Entries may be "ip", "ip:port", "[ipv6]" or "[ipv6]:port". X-Real-IP and
// other single-value headers are never read: they carry no chain to walk,
// so a proxy that passes a client's X-Real-IP through would let the client
// choose its address.
//
// Addresses are normalised: ::ffff:a.b.c.d becomes IPv4 and IPv6 zones are
// removed; trusted prefixes written in IPv4-mapped form are matched as the
// IPv4 prefixes they denote. The zero Addr is returned when r.RemoteAddr
// holds no address (for example a Unix socket); check IsValid. A proxy
// that reaches the service over a Unix socket is therefore never trusted
// and its headers are never read; such hosts take the address from the
// proxy's header themselves.
//
// ClientIP never trusts a header from an untrusted peer, so a client
// connecting directly cannot spoof its address.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return clientIP(r, trusted, false)
}

// ClientIPForwarded is ClientIP reading the standard Forwarded header (RFC
// 7239, its for= parameters) instead of X-Forwarded-For. Use it only when
// the trusted proxies append to Forwarded: a proxy that maintains
// X-Forwarded-For but passes a client's Forwarded header through would let
// the client choose its address. A hop given as "unknown" or an obfuscated
// identifier ("_hidden") is malformed and stops the walk.
func ClientIPForwarded(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return clientIP(r, trusted, true)
}

func clientIP(r *http.Request, trusted []netip.Prefix, forwarded bool) netip.Addr {
	if r == nil {
		return netip.Addr{}
	}
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !inPrefixes(trusted, peer) {
		return peer
	}
	name := HeaderXForwardedFor
	if forwarded {
		name = HeaderForwarded
	}
	lines := r.Header[http.CanonicalHeaderKey(name)]
	last := peer
	hops := 0
	for li := len(lines) - 1; li >= 0; li-- {
		rest := lines[li]
		for {
			// Every entry looked at counts, empty ones and empty lines
			// included, so no header shape costs more than
			// MaxForwardedHops steps.
			if hops == MaxForwardedHops {
				return last
			}
			hops++
			rest = trimRightSpace(rest)
			if rest == "" {
				break
			}
			// Find the start of the rightmost entry, looking back no further
			// than an entry may be long.
			start := -1
			lo := len(rest) - maxHopLen - 1
			if lo < 0 {
				lo = 0
			}
			for k := len(rest) - 1; k >= lo; k-- {
				if rest[k] == ',' {
					start = k
					break
				}
			}
			var entry string
			if start < 0 {
				if len(rest) > maxHopLen {
					return last
				}
				entry, rest = rest, ""
			} else {
				entry, rest = rest[start+1:], rest[:start]
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				// An empty entry ("a,,b", a trailing comma) names no hop:
				// skip it as an empty header line is skipped. Only the
				// trusted hops to its right have been read, so this reads
				// no further into client-written entries than the header
				// without it would.
				continue
			}
			if forwarded {
				var ok bool
				if entry, ok = forwardedFor(entry); !ok {
					return last
				}
			}
			addr, ok := parseHop(entry)
			if !ok {
				return last
			}
			if !inPrefixes(trusted, addr) {
				return addr
			}
			last = addr
		}
	}
	return last
}

func trimRightSpace(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// forwardedFor extracts the for= node of one Forwarded element
// ("for=192.0.2.60;proto=http;by=203.0.113.43").
func forwardedFor(elem string) (string, bool) {
	for elem != "" {
		var pair string
		if i := strings.IndexByte(elem, ';'); i >= 0 {
			pair, elem = elem[:i], elem[i+1:]
		} else {
			pair, elem = elem, ""
		}
		pair = strings.TrimSpace(pair)
		eq := strings.IndexByte(pair, '=')
		if eq < 0 || !strings.EqualFold(strings.TrimSpace(pair[:eq]), "for") {
			continue
		}
		v := strings.TrimSpace(pair[eq+1:])
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, v != ""
	}
	return "", false
}

// parseHop parses "ip", "ip:port", "[ipv6]:port" or "[ipv6]" and
// normalises the address.
func parseHop(s string) (netip.Addr, bool) {
	if s == "" || len(s) > maxHopLen {
		return netip.Addr{}, false
	}
	// Pick the form first: a failed parse allocates its error.
	host := s
	switch colons := strings.Count(s, ":"); {
	case s[0] == '[' && s[len(s)-1] == ']':
		host = s[1 : len(s)-1]
	case s[0] == '[' || colons == 1:
		h, port, err := net.SplitHostPort(s)
		if err != nil || !validPort(port) {
			return netip.Addr{}, false
		}
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// validPort accepts a decimal port number 0–65535.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// inPrefixes reports whether a, an unmapped address, is in one of ps. A
// prefix written in IPv4-mapped form (::ffff:10.0.0.0/104) is read as the
// IPv4 prefix it denotes, since hops are compared unmapped.
func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
		if pa := p.Addr(); a.Is4() && pa.Is4In6() && p.Bits() >= 96 {
			if q, err := pa.Unmap().Prefix(p.Bits() - 96); err == nil && q.Contains(a) {
				return true
			}
		}
	}
	return false
}

// IPGroup returns the network an address is counted under by detection
// rules and rate limiters: the address itself (/32) for IPv4 and its /64 for
// IPv6, since one IPv6 subscriber usually holds a whole /64 and can rotate
// through it at will. A 6to4 address (2002::/16) gives its /48: that whole
// network belongs to the one IPv4 address embedded in it. IPv4-mapped
// addresses are unmapped first and zones removed. An invalid address gives
// the zero Prefix.
func IPGroup(addr netip.Addr) netip.Prefix {
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	bits := 64
	switch {
	case addr.Is4():
		bits = 32
	case sixToFour.Contains(addr):
		bits = 48
	}
	p, _ := addr.Prefix(bits)
	return p
}

// RequestInfo is what an Event needs from an HTTP request.
type RequestInfo struct {
	IP          netip.Addr // see ClientIP
	UserAgent   string     // control characters removed, at most MaxUserAgentLen bytes
	Fingerprint string     // see Fingerprinter
}

// NewRequestInfo returns the client address (ClientIP), the cleaned and
// capped user agent and a device fingerprint of r. The fingerprint uses a key
// generated at random when the process first needs it, so fingerprints are
// comparable only within one process; hosts running several instances use a
// Fingerprinter with a shared key and its RequestInfo method instead.
func NewRequestInfo(r *http.Request, trusted []netip.Prefix) RequestInfo {
	return (*Fingerprinter)(nil).RequestInfo(r, trusted)
}

// FingerprintLen is the length of a fingerprint in hexadecimal characters
// (16 bytes of HMAC-SHA256).
const FingerprintLen = 32

// Fingerprinter computes device fingerprints: a keyed hash of the browser
// family, the operating system family and headers that stay stable for one
// device (Accept-Language, Sec-CH-UA-Platform, Sec-CH-UA-Mobile). Version
// numbers are left out, so a browser update does not make a known device
// look new; raw header values never leave the Fingerprinter.
//
// The key makes fingerprints meaningless outside the deployment: nobody
// holding a stored fingerprint can test guesses without it. The inputs are
// few and guessable, so the key is all that protects them: use at least
// MinIPHashKeyLen random bytes. Instances that must agree on fingerprints
// share one Key. A nil Fingerprinter, or one with
// an empty Key, uses a random per-process key (as RequestInfo does). The
// fingerprint is a convenience signal for "new device" rules, not an
// identity: two users of the same browser, OS and language share one.
//
// A Fingerprinter is safe for concurrent use; Key must not change once in
// use.
type Fingerprinter struct {
	Key []byte
}

var processKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails on supported platforms (Go 1.24+)
	return k
})

// Fingerprint returns the hexadecimal fingerprint of r's client, or "" when
// r carries none of the inputs (no user agent and no stable headers).
func (f *Fingerprinter) Fingerprint(r *http.Request) string {
	if r == nil {
		return ""
	}
	ua := r.Header.Get("User-Agent")
	lang := r.Header.Get("Accept-Language")
	platform := r.Header.Get("Sec-CH-UA-Platform")
	mobile := r.Header.Get("Sec-CH-UA-Mobile")
	if ua == "" && lang == "" && platform == "" && mobile == "" {
		return ""
	}
	var buf [256]byte
	msg := append(buf[:0], "fp1"...)
	msg = appendField(msg, browserFamily(ua), 24)
	msg = appendField(msg, osFamily(ua), 24)
	msg = appendField(msg, lang, 64)
	msg = appendField(msg, platform, 32)
	msg = appendField(msg, mobile, 8)
	key := processKey()
	if f != nil && len(f.Key) > 0 {
		key = f.Key
	}
	sum := hmacSHA256(key, msg)
	return hex.EncodeToString(sum[:FingerprintLen/2])
}

// appendField appends a separator and v, lower-cased, quotes and spaces
// removed and cut to max bytes, so trivial differences between requests of
// one device do not change the fingerprint.
func appendField(b []byte, v string, max int) []byte {
	b = append(b, 0)
	n := 0
	for i := 0; i < len(v) && n < max; i++ {
		c := v[i]
		switch {
		case c == '"' || c == ' ' || c == '\t':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c < 0x20 || c >= 0x7f:
			c = '?'
		}
		b = append(b, c)
		n++
	}
	return b
}

// RequestInfo is NewRequestInfo with f's key.
func (f *Fingerprinter) RequestInfo(r *http.Request, trusted []netip.Prefix) RequestInfo {
	if r == nil {
		return RequestInfo{}
	}
	return RequestInfo{
		IP:          ClientIP(r, trusted),
		UserAgent:   cleanText(r.Header.Get("User-Agent"), MaxUserAgentLen),
		Fingerprint: f.Fingerprint(r),
	}
}

// browserFamily names the browser in a User-Agent string, ignoring its
// version. Order matters: Edge and Opera also claim Chrome and Safari.
func browserFamily(ua string) string {
	switch {
	case ua == "":
		return ""
	case strings.Contains(ua, "Edg/") || strings.Contains(ua, "Edge/"):
		return "edge"
	case strings.Contains(ua, "OPR/") || strings.Contains(ua, "Opera"):
		return "opera"
	case strings.Contains(ua, "SamsungBrowser/"):
		return "samsung"
	case strings.Contains(ua, "Firefox/") || strings.Contains(ua, "FxiOS/"):
		return "firefox"
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "CriOS/") || strings.Contains(ua, "Chromium/"):
		return "chrome"
	case strings.Contains(ua, "Safari/"):
		return "safari"
	case strings.HasPrefix(ua, "curl/"):
		return "curl"
	case strings.HasPrefix(ua, "Go-http-client/"):
		return "go"
	case strings.HasPrefix(ua, "python-requests/") || strings.HasPrefix(ua, "Python-urllib/"):
		return "python"
	}
	return "other"
}

// osFamily names the operating system in a User-Agent string.
func osFamily(ua string) string {
	switch {
	case ua == "":
		return ""
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad") || strings.Contains(ua, "iPod"):
		return "ios"
	case strings.Contains(ua, "Android"):
		return "android"
	case strings.Contains(ua, "CrOS"):
		return "chromeos"
	case strings.Contains(ua, "Windows"):
		return "windows"
	case strings.Contains(ua, "Macintosh") || strings.Contains(ua, "Mac OS X"):
		return "macos"
	case strings.Contains(ua, "Linux"):
		return "linux"
	}
	return "other"
}
