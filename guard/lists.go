package guard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// ListMode says what the guard does with addresses on a reputation list.
type ListMode uint8

// List modes.
const (
	// ListBlock refuses requests from the list's addresses (Check reports
	// a match as a Block of origin list).
	ListBlock ListMode = iota
	// ListObserve only observes: Check ignores the list, and the
	// KnownBadSource detection rule reports events from its addresses as
	// known_bad_source findings.
	ListObserve
)

// String returns "block" or "observe".
func (m ListMode) String() string {
	switch m {
	case ListBlock:
		return "block"
	case ListObserve:
		return "observe"
	}
	return "listmode(" + strconv.Itoa(int(m)) + ")"
}

// List limits and defaults.
const (
	DefaultMaxListPrefixes = 1_000_000 // prefixes across all lists
	DefaultListPoll        = 10 * time.Second
	DefaultMinBits4        = 8  // IPv4 prefixes shorter than this are refused
	DefaultMinBits6        = 16 // IPv6 prefixes shorter than this are refused
	MaxListLineLen         = 4096
	MaxListErrors          = 20 // line errors kept in ListStats
	maxListNameLen         = 64
)

// ListConfig names a reputation list and where it comes from.
type ListConfig struct {
	// Name identifies the list: 1 to 64 of a-z, 0-9, '_', '-' and '.'.
	// Check reports a match as subject "list:<name>".
	Name string
	// Path, for a list loaded from a file: read at New and read again
	// whenever its size or modification time changes (checked every
	// Config.ListPoll). Replace the file atomically (write a new file,
	// then rename it over the old one). The guard downloads nothing: the
	// host fetches lists on its own schedule.
	Path string
	// Mode: ListBlock (the default) or ListObserve.
	Mode ListMode
	// Reason is the Block.Reason of a match; default "on reputation list
	// <name>".
	Reason string
}

var listName = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

func (c ListConfig) validate() error {
	if !listName.MatchString(c.Name) {
		return fmt.Errorf("guard: list name %.70q must be 1 to %d of a-z, 0-9, '_', '-' and '.'", c.Name, maxListNameLen)
	}
	if c.Mode != ListBlock && c.Mode != ListObserve {
		return fmt.Errorf("guard: list %s: unknown Mode %d", c.Name, c.Mode)
	}
	if len(c.Reason) > 256 {
		return fmt.Errorf("guard: list %s: Reason is longer than 256 bytes", c.Name)
	}
	return nil
}

// LineError is a line of a list that could not be used.
type LineError struct {
	Line   int    // 1-based
	Reason string // what is wrong, with at most 40 bytes of the line, quoted
}

// String renders e as "line N: reason".
func (e LineError) String() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Reason }

// ListStats describes a list as last loaded (or parsed).
type ListStats struct {
	Name     string
	Mode     ListMode
	Source   string      // the file path, or "reader"
	Lines    int         // lines read
	Prefixes int         // distinct prefixes loaded
	IPv4     int         // of which IPv4
	IPv6     int         // of which IPv6
	Invalid  int         // lines that are neither blank, a comment, an address nor a prefix
	TooBroad int         // prefixes refused for being shorter than MinBits4 or MinBits6
	Errors   []LineError // the first MaxListErrors invalid or too broad lines
	LoadedAt time.Time   // when this version was swapped in
	// ReloadErrors counts failed reloads of a file (unreadable, too many
	// prefixes); the previous version stays in force. LastError describes
	// the latest.
	ReloadErrors uint64
	LastError    string
}

// ParseOptions bound ParseList. Zero fields mean the defaults.
type ParseOptions struct {
	MaxPrefixes int // refuse a list with more distinct prefixes; default DefaultMaxListPrefixes
	MinBits4    int // shortest IPv4 prefix accepted; default DefaultMinBits4
	MinBits6    int // shortest IPv6 prefix accepted; default DefaultMinBits6
}

func (o ParseOptions) withDefaults() ParseOptions {
	if o.MaxPrefixes <= 0 {
		o.MaxPrefixes = DefaultMaxListPrefixes
	}
	if o.MinBits4 <= 0 {
		o.MinBits4 = DefaultMinBits4
	}
	if o.MinBits6 <= 0 {
		o.MinBits6 = DefaultMinBits6
	}
	return o
}

// ErrListTooLarge is returned (wrapped) by ParseList for a list with more
// prefixes than ParseOptions.MaxPrefixes, and by the guard for a list that
// would take all lists past Config.MaxListPrefixes.
var ErrListTooLarge = errors.New("guard: list too large")

// ParseList reads a reputation list: one address or CIDR prefix per line,
// IPv4 or IPv6. It reads FireHOL netsets and ipsets, Spamhaus DROP and
// EDROP (text, "prefix ; SBL…", and the JSON-lines drop_v4.json and
// drop_v6.json, whose metadata line it skips), and plain files of addresses
// and prefixes. Blank lines are skipped, and so is everything from '#' or
// ';' to the end of a line; only the first field of a line is read, so
// trailing columns do not matter. A prefix with host bits set is masked
// (198.51.100.7/24 is 198.51.100.0/24); IPv4-mapped IPv6 addresses and
// prefixes are read as IPv4; an address is a /32 or /128.
//
// Lines that are none of these (a zone, a range, text, a line longer than
// MaxListLineLen) are counted as Invalid, and prefixes shorter than
// MinBits4 or MinBits6 as TooBroad (a list holding 0.0.0.0/0 must not block
// the internet); the first MaxListErrors of them are reported with their
// line numbers, and the rest of the list is still read. ParseList never
// panics on any input; it fails only when r fails or the list holds more
// than MaxPrefixes distinct prefixes (ErrListTooLarge). The prefixes come
// back in address order, each once.
func ParseList(r io.Reader, opts ParseOptions) ([]netip.Prefix, ListStats, error) {
	opts = opts.withDefaults()
	var st ListStats
	var out []netip.Prefix
	br := bufio.NewReaderSize(r, 64<<10)
	bad := func(line int, reason string, text []byte) {
		if len(st.Errors) < MaxListErrors {
			st.Errors = append(st.Errors, LineError{Line: line, Reason: reason + " " + excerpt(text)})
		}
	}
	for {
		raw, err := readLine(br)
		if len(raw) > 0 || (err == nil) {
			st.Lines++
		}
		if errors.Is(err, errLineTooLong) {
			st.Invalid++
			bad(st.Lines, "line longer than "+strconv.Itoa(MaxListLineLen)+" bytes:", raw)
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, st, fmt.Errorf("guard: reading list: %w", err)
		}
		if p, ok, why := parseListLine(raw, st.Lines == 1); why != "" {
			st.Invalid++
			bad(st.Lines, why, raw)
		} else if ok {
			if min := opts.MinBits4; p.Addr().Is6() {
				min = opts.MinBits6
				if p.Bits() < min {
					st.TooBroad++
					bad(st.Lines, "prefix shorter than /"+strconv.Itoa(min)+":", raw)
					goto next
				}
			} else if p.Bits() < min {
				st.TooBroad++
				bad(st.Lines, "prefix shorter than /"+strconv.Itoa(min)+":", raw)
				goto next
			}
			out = append(out, p)
			if len(out) > opts.MaxPrefixes {
				// Duplicates may bring it back under: sort them out
				// before refusing, at most once per MaxPrefixes lines.
				out = dedupe(out)
				if len(out) > opts.MaxPrefixes {
					return nil, st, fmt.Errorf("%w: more than %d prefixes", ErrListTooLarge, opts.MaxPrefixes)
				}
				out = slices.Grow(out, opts.MaxPrefixes-len(out)+1)
			}
		}
	next:
		if err != nil { // io.EOF
			break
		}
	}
	out = dedupe(out)
	for _, p := range out {
		if p.Addr().Is4() {
			st.IPv4++
		} else {
			st.IPv6++
		}
	}
	st.Prefixes = len(out)
	return out, st, nil
}

// dedupe sorts ps (by address, then length) and removes duplicates.
func dedupe(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(ps)
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its end of line. A line longer
// than MaxListLineLen is skipped to its end and reported as errLineTooLong
// with its first bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if line == nil && !errors.Is(err, bufio.ErrBufferFull) && len(chunk) <= MaxListLineLen+1 {
			// The common case: the whole line in the reader's buffer,
			// valid until the next read, which comes after parsing.
			return bytes.TrimRight(chunk, "\r\n"), err
		}
		if len(line)+len(chunk) > MaxListLineLen+1 {
			head := append(line, chunk...)[:40]
			// Skip the rest of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return head, errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}

// parseListLine reads one line: ok with a prefix, not ok and no reason for
// a line that holds nothing (blank, comment, metadata), or a reason why the
// line is invalid.
func parseListLine(line []byte, first bool) (p netip.Prefix, ok bool, why string) {
	if first {
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a byte-order mark
	}
	if i := bytes.IndexAny(line, "#;"); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return p, false, ""
	}
	if line[0] == '{' {
		return parseJSONLine(line)
	}
	if i := bytes.IndexAny(line, " \t,"); i >= 0 {
		line = line[:i]
	}
	if !utf8.Valid(line) {
		return p, false, "not an address or prefix:"
	}
	return parseToken(string(line))
}

// parseJSONLine reads a Spamhaus JSON-lines entry: {"cidr":"…", …}; the
// closing {"type":"metadata", …} line holds nothing.
func parseJSONLine(line []byte) (netip.Prefix, bool, string) {
	var v struct {
		CIDR string `json:"cidr"`
		Type string `json:"type"`
	}
	// A ';' or '#' inside the JSON cut the line above; parse what is
	// left, which for the Spamhaus files is the whole line.
	if err := json.Unmarshal(line, &v); err != nil {
		return netip.Prefix{}, false, "not valid JSON:"
	}
	if v.CIDR == "" {
		if v.Type != "" {
			return netip.Prefix{}, false, "" // metadata
		}
		return netip.Prefix{}, false, "JSON without a cidr:"
	}
	return parseToken(v.CIDR)
}

func parseToken(s string) (netip.Prefix, bool, string) {
	var p netip.Prefix
	if bytes.IndexByte([]byte(s), '/') >= 0 {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, false, "not a prefix:"
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, false, "not an address or prefix:"
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return p, false, "IPv4-mapped prefix shorter than /96:"
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true, ""
}

// excerpt quotes at most 40 bytes of a line for an error message.
func excerpt(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "…"
	}
	return strconv.Quote(string(b))
}

// fileVersion identifies a version of a list file.
type fileVersion struct {
	size int64
	mod  time.Time
}

func statFile(path string) (fileVersion, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileVersion{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileVersion{}, fmt.Errorf("guard: list %s is not a regular file", path)
	}
	return fileVersion{size: fi.Size(), mod: fi.ModTime()}, nil
}
