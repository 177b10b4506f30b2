package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secmon-go/secmon"
)

//go:embed templates/*.html static/*
var files embed.FS

// asset is one embedded static file, served under a name that carries a
// hash of its content so browsers may cache it for good.
type asset struct {
	name, ctype string
	body        []byte
}

type renderer struct {
	pages  map[string]*template.Template
	assets map[string]asset  // by served name
	urls   map[string]string // file name → served name
}

var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

func newRenderer() (*renderer, error) {
	r := &renderer{pages: map[string]*template.Template{}, assets: map[string]asset{}, urls: map[string]string{}}
	static, err := fs.ReadDir(files, "static")
	if err != nil {
		return nil, err
	}
	for _, e := range static {
		body, err := files.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, err
		}
		ext := path.Ext(e.Name())
		sum := sha256.Sum256(body)
		served := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:6]) + ext
		r.assets[served] = asset{name: served, ctype: assetTypes[ext], body: body}
		r.urls[e.Name()] = "static/" + served
	}
	funcs := template.FuncMap{
		"asset":   func(name string) string { return r.urls[name] },
		"utc":     formatUTC,
		"utcTime": func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"utcDay":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":     ago,
		"dur":     formatDuration,
		"num":     formatInt,
		"sev":     func(s secmon.Severity) string { return s.String() },
		"text":    inert,
		"trunc":   truncate,
		"pairs":   pairs,
		"until":   formatUntil,
		"span":    humanSpan,
		"group":   ipParam,
		"left":    left,
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	pages, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, p)
		if err != nil {
			return nil, err
		}
		r.pages[name] = t
	}
	return r, nil
}

// view is what every page template receives.
type view struct {
	Title    string // the page's title
	Site     string // Config.Title
	Page     string // the page's name, for the navigation
	Who      string
	Role     string
	CanAct   bool // admin and not read-only
	ReadOnly bool
	Guard    bool // the Blocks page exists
	CSRF     string
	Now      time.Time
	Flash    string
	FlashErr bool
	Live     bool // the page listens to the live stream
	Data     any
}

// page renders the page name with data and writes it with status. A
// rendering error is logged and answered 500 with no partial page.
func (h *handler) page(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	p := principalOf(r)
	now := h.cfg.Clock.Now()
	v := view{
		Title: title, Site: h.cfg.Title, Page: name, Who: p.who, Role: p.role.String(),
		CanAct: h.canAct(p), ReadOnly: h.cfg.ReadOnly, Guard: h.cfg.Guard != nil,
		Now: now, Data: data, Live: status == http.StatusOK,
	}
	if v.CanAct {
		v.CSRF = h.csrf.token(p.who, now)
	}
	if f, ok := flashes[r.URL.Query().Get("done")]; ok && r.Method == http.MethodGet {
		v.Flash, v.FlashErr = f.Msg, f.Err
	}
	t := h.render.pages[name]
	var b bytes.Buffer
	if t == nil {
		h.cfg.ErrorLog.Error("dashboard: no template", "page", name)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		h.cfg.ErrorLog.Error("dashboard: rendering failed", "page", name, "err", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// static serves an embedded asset by its hashed name.
func (h *handler) static(w http.ResponseWriter, r *http.Request) {
	a, ok := h.render.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.body)
}

// formatUTC renders a time with its date, in UTC: "2026-03-02 14:05:09 UTC".
func formatUTC(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// formatUntil renders a block's end.
func formatUntil(t time.Time) string {
	if t.IsZero() {
		return "until lifted"
	}
	return formatUTC(t)
}

// ago renders how long before now t was, roughly: "42 s ago", "3 min ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}

// humanSpan renders a block's length: "15 min", "6 h", "7 days".
func humanSpan(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d%(24*time.Hour) == 0:
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "24 h"
		}
		return strconv.Itoa(n) + " days"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return d.String()
}

// left renders how long remains until t: "3 h 20 min left".
func left(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "ended"
	case d < time.Minute:
		return "less than a minute left"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min left"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min left"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days left"
}

// formatDuration renders a duration for a table: "850 µs", "12.4 ms", "3.2 s".
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + " µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

// formatInt renders n with thousands separators: 1,234,567.
func formatInt(n any) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	case uint64:
		if x > 1<<63-1 {
			return strconv.FormatUint(x, 10)
		}
		v = int64(x)
	default:
		return fmt.Sprint(n)
	}
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// inert returns a stored value as the text it stood for. The Monitor's
// privacy policy HTML-escapes metadata values before they are stored;
// html/template escapes again on output, so unescaping first shows the
// characters an attacker sent, as text that cannot run.
func inert(s string) string { return html.UnescapeString(s) }

// truncate cuts s to n runes, marking the cut.
func truncate(n int, s string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for i = range s {
		if k == n {
			break
		}
		k++
	}
	return s[:i] + "…"
}

type pair struct{ K, V string }

// pairs returns m's entries sorted by key, values made inert text.
func pairs(m map[string]string) []pair {
	out := make([]pair, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, pair{k, inert(m[k])})
	}
	return out
}
