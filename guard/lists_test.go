package guard_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/guard"
)

// Samples in the formats the lists are published in (entries are from the
// documentation and private ranges).
const (
	fireholNetset = `#
# firehol_level1
#
# ipv4 hash:net ipset
#
# A firewall blacklist composed from IP lists, providing
# maximum protection with minimum false positives.
#
# Maintainer      : FireHOL
# List source URL : https://iplists.firehol.org/?ipset=firehol_level1
#
# Entries         : 4 subnets, 1 unique IPs
#
192.0.2.0/24
198.51.100.0/25
203.0.113.7
224.0.0.0/3
`
	spamhausDrop = `; Spamhaus DROP List 2026/03/02 - (c) 2026 The Spamhaus Project SLU
; https://www.spamhaus.org/drop/drop.txt
; Last-Modified: Mon, 02 Mar 2026 10:00:00 GMT
; Expires: Mon, 02 Mar 2026 11:00:00 GMT
192.0.2.0/24 ; SBL000001
198.51.100.0/24 ; SBL000002
2001:db8:dead::/48 ; SBL000003
`
	spamhausJSON = `{"cidr":"192.0.2.0/24","sblid":"SBL000001","rir":"arin"}
{"cidr":"2001:db8:beef::/48","sblid":"SBL000004","rir":"ripencc"}
{"type":"metadata","timestamp":1772445600,"size":123,"records":2,"copyright":"(c) 2026 The Spamhaus Project SLU","terms":"https://www.spamhaus.org/drop/terms/"}
`
	plainList = "\ufeff# my list\r\n\r\n  10.9.8.7  \r\n10.9.0.0/16\t# office VPN exit, abused\r\n::ffff:192.0.2.200\r\n2001:db8::1\r\n" +
		"not-an-ip\r\n10.0.0.0/33\r\n1.2.3.4-1.2.3.9\r\nfe80::1%eth0\r\n0.0.0.0/0\r\n::/0\r\n198.51.100.7/24\r\n"
)

func parse(t *testing.T, s string) ([]netip.Prefix, guard.ListStats) {
	t.Helper()
	ps, st, err := guard.ParseList(strings.NewReader(s), guard.ParseOptions{})
	if err != nil {
		t.Fatalf("ParseList: %v", err)
	}
	return ps, st
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = prefix(s)
	}
	return out
}

var prefixCmp = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func TestParseListFormats(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		in       string
		want     []netip.Prefix
		invalid  int
		tooBroad int
		errLines []int
	}{
		{"firehol", fireholNetset, prefixes("192.0.2.0/24", "198.51.100.0/25", "203.0.113.7/32"), 0, 1, []int{17}},
		{"spamhaus drop", spamhausDrop, prefixes("192.0.2.0/24", "198.51.100.0/24", "2001:db8:dead::/48"), 0, 0, nil},
		{"spamhaus json", spamhausJSON, prefixes("192.0.2.0/24", "2001:db8:beef::/48"), 0, 0, nil},
		{"plain", plainList, prefixes("10.9.0.0/16", "10.9.8.7/32", "192.0.2.200/32", "198.51.100.0/24", "2001:db8::1/128"), 4, 2, []int{7, 8, 9, 10, 11, 12}},
		{"empty", "", nil, 0, 0, nil},
		{"only comments", "# a\n; b\n\n", nil, 0, 0, nil},
		{"duplicates", "192.0.2.1\n192.0.2.1/32\n192.0.2.1\n", prefixes("192.0.2.1/32"), 0, 0, nil},
		{"bad json", "{\"cidr\": 5}\n{\"nothing\": 1}\n{broken\n", nil, 3, 0, []int{1, 2, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps, st := parse(t, c.in)
			if d := cmp.Diff(c.want, ps, prefixCmp); d != "" {
				t.Errorf("prefixes (-want +got):\n%s", d)
			}
			if st.Invalid != c.invalid || st.TooBroad != c.tooBroad || st.Prefixes != len(c.want) {
				t.Errorf("stats %+v: want %d invalid, %d too broad", st, c.invalid, c.tooBroad)
			}
			var lines []int
			for _, e := range st.Errors {
				lines = append(lines, e.Line)
				if e.Reason == "" {
					t.Errorf("line %d error without a reason", e.Line)
				}
			}
			if d := cmp.Diff(c.errLines, lines); d != "" {
				t.Errorf("error lines (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseListBounds(t *testing.T) {
	t.Parallel()
	// A line longer than MaxListLineLen is one invalid line; the next one
	// is read.
	long := strings.Repeat("9", guard.MaxListLineLen+10) + "\n192.0.2.1\n"
	ps, st := parse(t, long)
	if len(ps) != 1 || st.Invalid != 1 || st.Errors[0].Line != 1 || len(st.Errors[0].Reason) > 120 {
		t.Errorf("long line: %v %+v", ps, st)
	}
	// Errors are kept up to MaxListErrors, counted beyond.
	ps, st = parse(t, strings.Repeat("junk\n", 100)+"192.0.2.9\n")
	if len(ps) != 1 || st.Invalid != 100 || len(st.Errors) != guard.MaxListErrors || st.Lines != 101 {
		t.Errorf("many bad lines: %+v", st)
	}
	// More prefixes than allowed: refused whole.
	var b strings.Builder
	for i := range 300 {
		b.WriteString(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String() + "\n")
	}
	if _, _, err := guard.ParseList(strings.NewReader(b.String()), guard.ParseOptions{MaxPrefixes: 200}); !errors.Is(err, guard.ErrListTooLarge) {
		t.Errorf("over the cap: %v", err)
	}
	// Reader errors are returned.
	if _, _, err := guard.ParseList(iotest.ErrReader(errors.New("disk")), guard.ParseOptions{}); err == nil {
		t.Error("a failing reader gave no error")
	}
	// Custom minimum lengths.
	ps, st, _ = guard.ParseList(strings.NewReader("10.0.0.0/12\n2001:db8::/40\n"), guard.ParseOptions{MinBits4: 16, MinBits6: 48})
	if len(ps) != 0 || st.TooBroad != 2 {
		t.Errorf("MinBits: %v %+v", ps, st)
	}
}

// FuzzParseList checks that no input makes ParseList panic, return a
// prefix that is not valid and masked, or lose count of its lines.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{fireholNetset, spamhausDrop, spamhausJSON, plainList, "", "\n", "\x00\xff\xfe", "{", "{\"cidr\":\"::ffff:0.0.0.0/95\"}",
		"::ffff:10.0.0.0/104", "1.2.3.4/", "/24", strings.Repeat("a", 5000), "1.2.3.4 5.6.7.8", "#;\n;#\n", "2001:db8::/129"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, st, err := guard.ParseList(bytes.NewReader(data), guard.ParseOptions{MaxPrefixes: 1000})
		if err != nil {
			if !errors.Is(err, guard.ErrListTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("bad prefix %v", p)
			}
			if p.Addr().Is4() && p.Bits() < guard.DefaultMinBits4 || p.Addr().Is6() && p.Bits() < guard.DefaultMinBits6 {
				t.Fatalf("too broad a prefix %v was kept", p)
			}
		}
		if st.Prefixes != len(ps) || st.IPv4+st.IPv6 != len(ps) || len(st.Errors) > guard.MaxListErrors ||
			st.Lines > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("stats %+v for %d prefixes, %d bytes", st, len(ps), len(data))
		}
	})
}

// A blocking list refuses its addresses at once; an observe list only
// feeds the known_bad_source rule; a reload swaps the list whole.
func TestListsBlockAndObserve(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	st, err := f.g.LoadList(guard.ListConfig{Name: "spamhaus-drop"}, strings.NewReader(spamhausDrop))
	if err != nil || st.Prefixes != 3 || st.Name != "spamhaus-drop" {
		t.Fatalf("LoadList: %+v, %v", st, err)
	}
	b, ok := f.g.Check(addr("198.51.100.77"), "")
	if !ok || b.Origin != secmon.OriginList || b.Subject != "list:spamhaus-drop" || b.Prefix != prefix("198.51.100.0/24") ||
		b.Reason != "on reputation list spamhaus-drop" {
		t.Errorf("list match = %+v, %v", b, ok)
	}
	if !blocked(f.g, "2001:db8:dead:1::5") || blocked(f.g, "203.0.113.1") {
		t.Error("IPv6 list entry not enforced, or an address outside the list refused")
	}
	// A block and a list on the same prefix: the block's details win; when
	// the block is lifted, the list still holds.
	mb, err := f.g.Block(t.Context(), secmon.Block{Prefix: prefix("198.51.100.0/24"), Reason: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := f.g.Check(addr("198.51.100.77"), ""); b.ID != mb.ID {
		t.Errorf("with a block on the same prefix Check gave %+v", b)
	}
	if err := f.g.Lift(t.Context(), mb.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.g.Check(addr("198.51.100.77"), ""); b.Origin != secmon.OriginList {
		t.Errorf("after the lift Check gave %+v, want the list", b)
	}
	// Reload: the new version replaces the old whole.
	if _, err := f.g.LoadList(guard.ListConfig{Name: "spamhaus-drop"}, strings.NewReader("203.0.113.0/24\n")); err != nil {
		t.Fatal(err)
	}
	if blocked(f.g, "198.51.100.77") || !blocked(f.g, "203.0.113.1") {
		t.Error("the reload did not replace the list")
	}
	// Observe-only: Check ignores it; the rule reports it.
	if _, err := f.g.LoadList(guard.ListConfig{Name: "tor-exits", Mode: guard.ListObserve}, strings.NewReader("192.0.2.0/24\n")); err != nil {
		t.Fatal(err)
	}
	if blocked(f.g, "192.0.2.5") {
		t.Error("an observe list refused a request")
	}
	engine, err := detect.New(detect.Config{Rules: []detect.Rule{f.g.KnownBadSource()}})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := engine.Observe(context.Background(), secmon.Event{Time: t0, Type: secmon.EventLoginSuccess, IP: addr("192.0.2.5"), UserID: "u"})
	if err != nil || len(fs) != 1 || fs[0].Rule != guard.RuleKnownBadSource || fs[0].Subject != "ip:192.0.2.5/32" ||
		fs[0].Evidence["list"] != "tor-exits" || fs[0].Evidence["prefix"] != "192.0.2.0/24" {
		t.Fatalf("known_bad_source findings %+v, %v", fs, err)
	}
	if fs, _ := engine.Observe(context.Background(), secmon.Event{Time: t0, Type: secmon.EventLoginSuccess, IP: addr("198.51.100.1")}); len(fs) != 0 {
		t.Errorf("an address on no observe list: %+v", fs)
	}
	if !f.g.RemoveList("tor-exits") || f.g.RemoveList("tor-exits") {
		t.Error("RemoveList")
	}
	if _, _, ok := f.g.Observed(addr("192.0.2.5")); ok {
		t.Error("a removed list still observes")
	}
	s := f.g.Stats()
	if s.ListPrefixes != 1 || len(s.Lists) != 1 || s.Lists[0].Name != "spamhaus-drop" {
		t.Errorf("stats %+v", s)
	}
}

// A list file is loaded at New and reloaded when it changes; a broken or
// vanished file keeps the previous version in force.
func TestListFileHotReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "firehol_level1.netset")
	write := func(s string, mod time.Time) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, mod, mod); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(fireholNetset, time.Now().Add(-time.Hour))
	f := setup(t, func(c *guard.Config) {
		c.Lists = []guard.ListConfig{{Name: "firehol_level1", Path: path}}
		c.ListPoll = time.Millisecond
	})
	if !blocked(f.g, "192.0.2.1") {
		t.Fatal("the list file was not loaded at New")
	}
	write("203.0.113.0/24\n", time.Now())
	f.clock.Advance(time.Second) // the poll interval is measured on the guard's clock
	eventually(t, "the new version of the file", func() bool { return blocked(f.g, "203.0.113.9") && !blocked(f.g, "192.0.2.1") })
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	eventually(t, "the failed reload counted", func() bool { return f.g.Stats().ListErrors > 0 })
	if !blocked(f.g, "203.0.113.9") {
		t.Error("a vanished file took its list out of force")
	}
	s := f.g.Stats().Lists
	if len(s) != 1 || s[0].ReloadErrors == 0 || s[0].LastError == "" || s[0].Source != path {
		t.Errorf("list stats %+v", s)
	}
}

// The prefixes of all lists together are bounded.
func TestListsBounded(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *guard.Config) { c.MaxListPrefixes = 3 })
	if _, err := f.g.LoadList(guard.ListConfig{Name: "a"}, strings.NewReader("192.0.2.1\n192.0.2.2\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.LoadList(guard.ListConfig{Name: "b"}, strings.NewReader("198.51.100.1\n198.51.100.2\n")); !errors.Is(err, guard.ErrListTooLarge) {
		t.Errorf("second list over the total: %v", err)
	}
	// Replacing a list counts its own prefixes free.
	if _, err := f.g.LoadList(guard.ListConfig{Name: "a"}, strings.NewReader("192.0.2.1\n192.0.2.2\n192.0.2.3\n")); err != nil {
		t.Errorf("replacing within the total: %v", err)
	}
	if s := f.g.Stats(); s.ListPrefixes != 3 || s.ListErrors != 1 {
		t.Errorf("stats %+v", s)
	}
}
