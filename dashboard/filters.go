package dashboard

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

// Inputs come from the address bar and forms: every one is bounded,
// checked and, where it is shown again, re-encoded from its parsed value.

// fieldError is a filter input the dashboard cannot use; the page shows
// Msg beside the form.
type fieldError struct {
	Field, Msg string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Msg }

// maxInputLen bounds any single input value.
const maxInputLen = 512

// timeLayouts are the accepted forms of a time input, read as UTC unless
// they carry a zone: "2026-03-02 14:05" with or without seconds, the same
// with a T (what a datetime-local input sends), a date alone, and RFC 3339.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02", time.RFC3339Nano}

func parseTime(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) > 64 {
		return time.Time{}, &fieldError{field, "is too long"}
	}
	s = strings.TrimSuffix(s, " UTC")
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if t.Year() < 1970 || t.Year() > 9999 {
				break
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, &fieldError{field, "is not a time such as 2026-03-02 14:05 (UTC)"}
}

// formatTimeInput renders t for a time input: "2026-03-02 14:05", with
// seconds when it has some.
func formatTimeInput(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if t.Second() == 0 && t.Nanosecond() == 0 {
		return t.UTC().Format("2006-01-02 15:04")
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func parseSeverity(field, s string) (secmon.Severity, error) {
	if s == "" || s == "any" {
		return 0, nil
	}
	if len(s) > 16 {
		return 0, &fieldError{field, "is not a severity"}
	}
	sev, err := secmon.ParseSeverity(s)
	if err != nil {
		return 0, &fieldError{field, "is not a severity (info, low, medium, high, critical)"}
	}
	return sev, nil
}

// parseIdentifier accepts an identifier as stored (user ID, session ID,
// rule name): at most secmon.MaxIDLen bytes of valid UTF-8 without control
// characters, surrounding spaces removed.
func parseIdentifier(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > secmon.MaxIDLen {
		return "", &fieldError{field, "is longer than " + strconv.Itoa(secmon.MaxIDLen) + " bytes"}
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &fieldError{field, "holds characters that cannot be in an identifier"}
	}
	return s, nil
}

// parseAddrOrPrefix accepts an address (matched exactly), a prefix, or an
// alert subject of the form ip:<prefix>.
func parseAddrOrPrefix(field, s string) (netip.Prefix, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "ip:")
	if s == "" {
		return netip.Prefix{}, nil
	}
	if len(s) > 64 {
		return netip.Prefix{}, &fieldError{field, "is not an IP address or prefix"}
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, &fieldError{field, "is not an IP prefix such as 203.0.113.0/24"}
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, &fieldError{field, "is not an IP address or prefix"}
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ipParam renders a prefix for the ip input: an address alone when the
// prefix holds one address.
func ipParam(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Event cursors travel in links as "<unix nanoseconds>_<uuid>".

func formatCursor(c secmon.EventCursor) string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.Time.UnixNano(), 10) + "_" + c.ID.String()
}

func parseCursor(s string) (secmon.EventCursor, error) {
	if s == "" {
		return secmon.EventCursor{}, nil
	}
	bad := &fieldError{"before", "is not a page position; go back to the newest events"}
	ns, id, ok := strings.Cut(s, "_")
	if !ok || len(ns) == 0 || len(ns) > 19 || len(id) != 36 {
		return secmon.EventCursor{}, bad
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n <= 0 {
		return secmon.EventCursor{}, bad
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return secmon.EventCursor{}, bad
	}
	return secmon.EventCursor{Time: time.Unix(0, n).UTC(), ID: u}, nil
}

// eventFilter is the Events page's search.
type eventFilter struct {
	Type        secmon.EventType
	User        string
	IP          netip.Prefix
	From, To    time.Time
	MinSeverity secmon.Severity
	Before      secmon.EventCursor
}

func parseEventFilter(v url.Values) (eventFilter, error) {
	var f eventFilter
	var err error
	get := func(k string) string {
		s := v.Get(k)
		if len(s) > maxInputLen {
			err = errors.Join(err, &fieldError{k, "is too long"})
			return ""
		}
		return s
	}
	var errs []error
	if t := strings.TrimSpace(get("type")); t != "" && t != "any" {
		if !secmon.EventType(t).Valid() {
			errs = append(errs, &fieldError{"type", "is not an event type (lower-case snake_case)"})
		} else {
			f.Type = secmon.EventType(t)
		}
	}
	var e error
	if f.User, e = parseIdentifier("user", get("user")); e != nil {
		errs = append(errs, e)
	}
	if f.IP, e = parseAddrOrPrefix("ip", get("ip")); e != nil {
		errs = append(errs, e)
	}
	if f.From, e = parseTime("from", get("from")); e != nil {
		errs = append(errs, e)
	}
	if f.To, e = parseTime("to", get("to")); e != nil {
		errs = append(errs, e)
	}
	if f.MinSeverity, e = parseSeverity("severity", get("severity")); e != nil {
		errs = append(errs, e)
	}
	if f.Before, e = parseCursor(get("before")); e != nil {
		errs = append(errs, e)
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		errs = append(errs, &fieldError{"to", "is before from"})
	}
	return f, errors.Join(append(errs, err)...)
}

func (f eventFilter) query(limit int) secmon.EventQuery {
	q := secmon.EventQuery{
		From: f.From, To: f.To, UserID: f.User, IP: f.IP, MinSeverity: f.MinSeverity,
		Before: f.Before, Limit: limit,
	}
	if f.Type != "" {
		q.Types = []secmon.EventType{f.Type}
	}
	return q
}

// values returns the filter without its cursor, canonically encoded.
func (f eventFilter) values() url.Values {
	v := url.Values{}
	if f.Type != "" {
		v.Set("type", string(f.Type))
	}
	if f.User != "" {
		v.Set("user", f.User)
	}
	if f.IP.IsValid() {
		v.Set("ip", ipParam(f.IP))
	}
	if !f.From.IsZero() {
		v.Set("from", formatTimeInput(f.From))
	}
	if !f.To.IsZero() {
		v.Set("to", formatTimeInput(f.To))
	}
	if f.MinSeverity > 0 {
		v.Set("severity", f.MinSeverity.String())
	}
	return v
}

// alertFilter is the Alerts page's filter.
type alertFilter struct {
	Status      secmon.AlertStatus // empty: every status
	All         bool               // "all" was asked for explicitly
	MinSeverity secmon.Severity
	Rule        secmon.RuleName
	Subject     string
}

func parseAlertFilter(v url.Values) (alertFilter, error) {
	var f alertFilter
	var errs []error
	switch s := v.Get("status"); s {
	case "", "open":
		f.Status = secmon.AlertOpen
	case "all":
		f.All = true
	case string(secmon.AlertAcknowledged), string(secmon.AlertResolved):
		f.Status = secmon.AlertStatus(s)
	default:
		f.Status = secmon.AlertOpen
		errs = append(errs, &fieldError{"status", "is not open, acknowledged, resolved or all"})
	}
	var e error
	if f.MinSeverity, e = parseSeverity("severity", trimLong(v.Get("severity"))); e != nil {
		errs = append(errs, e)
	}
	rule, e := parseIdentifier("rule", trimLong(v.Get("rule")))
	if e != nil {
		errs = append(errs, e)
	}
	f.Rule = secmon.RuleName(rule)
	if f.Subject, e = parseIdentifier("subject", trimLong(v.Get("subject"))); e != nil {
		errs = append(errs, e)
	}
	return f, errors.Join(errs...)
}

// trimLong cuts an input to maxInputLen bytes so that a huge value is
// refused by its parser without being copied around.
func trimLong(s string) string {
	if len(s) > maxInputLen {
		return s[:maxInputLen]
	}
	return s
}

func (f alertFilter) query(limit int) secmon.AlertQuery {
	return secmon.AlertQuery{Status: f.Status, Rule: f.Rule, Subject: f.Subject, MinSeverity: f.MinSeverity, Limit: limit}
}

func (f alertFilter) values() url.Values {
	v := url.Values{}
	switch {
	case f.All:
		v.Set("status", "all")
	case f.Status != secmon.AlertOpen:
		v.Set("status", string(f.Status))
	}
	if f.MinSeverity > 0 {
		v.Set("severity", f.MinSeverity.String())
	}
	if f.Rule != "" {
		v.Set("rule", string(f.Rule))
	}
	if f.Subject != "" {
		v.Set("subject", f.Subject)
	}
	return v
}

// pages a form may return to after an action.
var returnPages = map[string]bool{"": true, "alerts": true, "events": true, "sessions": true, "blocks": true, "uploads": true}

// parseBack validates a form's "back" field: one of the dashboard's pages
// with a query, given relative to the dashboard ("alerts?status=all").
// Anything else (another site, another path, a scheme) gives the fallback.
func parseBack(s, fallback string) string {
	if s == "" || len(s) > 2048 {
		return fallback
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" ||
		strings.Contains(s, "\\") || !returnPages[u.Path] {
		return fallback
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fallback
	}
	q.Del("done")
	path := u.Path
	if path == "" {
		path = "./"
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// withDone appends the outcome code of an action to a return address.
func withDone(back, code string) string {
	if strings.Contains(back, "?") {
		return back + "&done=" + code
	}
	return back + "?done=" + code
}

// flashes are the outcome messages an action may leave; the address
// carries only their code, so no text reaches a page from the address bar.
var flashes = map[string]struct {
	Msg string
	Err bool
}{
	"acknowledged": {"Alert acknowledged.", false},
	"resolved":     {"Alert resolved.", false},
	"reopened":     {"Alert reopened.", false},
	"revoked":      {"Session revoked.", false},
	"blocked":      {"Block added.", false},
	"lifted":       {"Block lifted.", false},
	"notfound":     {"Nothing was changed: it no longer exists.", true},
	"invalid":      {"Nothing was changed: the request was not valid.", true},
	"conflict":     {"Nothing was changed: another alert for this rule and subject is open.", true},
	"unaudited":    {"Nothing was changed: the action could not be recorded in the security log.", true},
	"failed":       {"The change failed; see the server log. Try again.", true},
	"refused":      {"Nothing was changed: the guard refused the block (an allowlisted address or account, or the guard is full); see the server log.", true},
	"self":         {"Nothing was changed: that block would lock you out (your own account or address).", true},
	"hostfailed":   {"The session is revoked in the store, but the host could not end it; see the server log.", true},
}
