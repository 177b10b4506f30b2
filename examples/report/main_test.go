package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/store/pgstore"
)

var (
	testDay  = time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	testNow  = func() time.Time { return time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC) }
	noEnv    = func(string) string { return "" }
	dayArgs  = []string{"-date", "2026-01-15", "-seed", "7"}
	dayFrom  = testDay
	dayUntil = testDay.Add(24 * time.Hour)
)

// runReport runs the command and returns its stdout, failing t unless it
// exits 0.
func runReport(t *testing.T, env func(string) string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr, env, testNow); code != 0 {
		t.Fatalf("exit status %d; stderr: %s", code, stderr.String())
	}
	return stdout.String()
}

// demoStore generates the demo day of seed into a fresh memstore.
func demoStore(t *testing.T, seed uint64) *memstore.Store {
	t.Helper()
	store := memstore.New()
	if err := generateDemo(context.Background(), store, seed, dayFrom, dayUntil); err != nil {
		t.Fatal(err)
	}
	return store
}

// field returns the number printed after label on a line of the Summary.
func field(t *testing.T, out, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` +(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in:\n%s", label, out)
	}
	return m[1]
}

func TestTextReportMatchesStore(t *testing.T) {
	t.Parallel()
	out := runReport(t, noEnv, dayArgs...)

	ctx := context.Background()
	store := demoStore(t, 7)
	sum, err := store.Summary(ctx, dayFrom, dayUntil)
	if err != nil {
		t.Fatal(err)
	}
	for label, want := range map[string]int64{
		"events": sum.Events, "uploads": sum.Uploads, "threats blocked": sum.ThreatsBlocked,
		"failed logins": sum.LoginFailures, "alerts opened": sum.AlertsOpened,
	} {
		if got := field(t, out, label); got != strconv.FormatInt(want, 10) {
			t.Errorf("%s = %s, want %d", label, got, want)
		}
	}
	if got, want := field(t, out, "average validation time"), ms(sum.AvgValidation); got != want {
		t.Errorf("average validation time = %s, want %s", got, want)
	}
	for typ, n := range sum.ByType {
		if !regexp.MustCompile(`(?m)^  ` + string(typ) + ` +` + strconv.FormatInt(n, 10) + `$`).MatchString(out) {
			t.Errorf("events by type: no line %q %d", typ, n)
		}
	}
	for sev, n := range sum.BySeverity {
		if !regexp.MustCompile(`(?m)^  ` + sev.String() + ` +` + strconv.FormatInt(n, 10) + `$`).MatchString(out) {
			t.Errorf("events by severity: no line %q %d", sev, n)
		}
	}

	hours, err := store.Hourly(ctx, dayFrom, dayUntil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 24 {
		t.Fatalf("%d hourly buckets", len(hours))
	}
	for _, h := range hours {
		line := fmt.Sprintf(`(?m)^ +%s +%d +%d +%d +%d( +[a-z,]+)?( +(#+|!+))?$`, h.Start.Format("15:04"), h.Events, h.LoginFailures, h.UploadsBlocked, h.HighSeverity)
		if !regexp.MustCompile(line).MatchString(out) {
			t.Errorf("no hourly line matching %s", line)
		}
	}

	// The demo day is worth reporting on: the attacks opened their alerts.
	if sum.ThreatsBlocked == 0 || sum.LoginFailures < 100 || sum.AvgValidation <= 0 || sum.Uploads < 50 {
		t.Errorf("thin demo day: %+v", sum)
	}
	if !strings.Contains(out, fmt.Sprintf("Alerts opened (%d)", sum.AlertsOpened)) {
		t.Errorf("alert list length differs from the summary's %d", sum.AlertsOpened)
	}
	for _, want := range []string{
		string(detect.RuleBruteForceIP) + " +ip:203.0.113.66/32",
		string(detect.RuleCredentialStuffing) + " +ip:203.0.113.66/32",
		string(detect.RuleRateLimitAbuse) + " +ip:203.0.113.66/32",
		string(detect.RuleBruteForceIP) + " +ip:2001:db8:bad:1::/64",
		string(detect.RuleUploadAttack) + " +user:user29",
		string(detect.RuleImpossibleTravel) + " +user:user07",
		string(detect.RulePrivilegeEscalation) + " +user:user03",
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("no alert %q in:\n%s", want, out)
		}
	}
	// Deduplicated: the burst of hundreds of events is one alert per rule.
	if n := strings.Count(out, "brute_force_ip        ip:203.0.113.66/32"); n != 1 {
		t.Errorf("%d brute_force_ip alerts for the burst, want 1", n)
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a := runReport(t, noEnv, dayArgs...)
	b := runReport(t, noEnv, dayArgs...)
	if a != b {
		t.Error("two runs with one seed differ")
	}
	c := runReport(t, noEnv, "-date", "2026-01-15", "-seed", "8")
	if a == c {
		t.Error("seeds 7 and 8 gave the same report")
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		day      string
		from, to string
	}{
		{"2026-01-15", "2026-01-15T00:00:00Z", "2026-01-16T00:00:00Z"},
		{"2026-03-01", "2026-02-28T13:00:00Z", "2026-03-01T13:00:00Z"}, // today: the 24 hours up to this one
		{"2026-03-02", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"},
	} {
		day, _ := time.Parse(time.DateOnly, tc.day)
		from, to := window(day, now)
		if from.Format(time.RFC3339) != tc.from || to.Format(time.RFC3339) != tc.to {
			t.Errorf("window(%s) = %v, %v; want %s, %s", tc.day, from, to, tc.from, tc.to)
		}
	}
	// Today's report covers 24 buckets ending with the current hour.
	out := runReport(t, noEnv, "-date", "2026-03-01")
	if !strings.Contains(out, "2026-02-28 13:00 to 2026-03-01 13:00 UTC") || !strings.Contains(out, "\n    12:00 ") {
		t.Errorf("today's report:\n%s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-date", "15/01/2026"}, {"-date", "2026-02-30"}, {"extra"}, {"-nope"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr, noEnv, testNow); code != 2 {
			t.Errorf("%q: exit status %d, want 2", args, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: wrote a report", args)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr, noEnv, testNow); code != 0 || !strings.Contains(stderr.String(), "usage: report") {
		t.Errorf("-h: exit status %d, stderr %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"-html", filepath.Join(t.TempDir(), "missing", "r.html")}, &stdout, &stderr, noEnv, testNow); code != 1 {
		t.Errorf("unwritable -html: exit status %d, want 1", code)
	}
}

// writePage runs the report with -html and returns the page.
func writePage(t *testing.T) (path, page, text string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "report.html")
	text = runReport(t, noEnv, append(dayArgs, "-html", path)...)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, string(b), text
}

// svgRect is what the test reads of each bar.
type svgRect struct {
	X, Y, W, H float64
	Fill       string
	Title      string
}

// parseSVG checks that the page's <svg> element is well-formed XML and
// returns its rect elements.
func parseSVG(t *testing.T, page string) []svgRect {
	t.Helper()
	start, end := strings.Index(page, "<svg"), strings.Index(page, "</svg>")
	if start < 0 || end < start || strings.Count(page, "<svg") != 1 {
		t.Fatal("page has no single <svg> element")
	}
	dec := xml.NewDecoder(strings.NewReader(page[start : end+len("</svg>")]))
	dec.Strict = true
	var rects []svgRect
	var cur *svgRect
	inTitle := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch tok.Name.Local {
			case "rect":
				r := svgRect{}
				for _, a := range tok.Attr {
					f, _ := strconv.ParseFloat(a.Value, 64)
					switch a.Name.Local {
					case "x":
						r.X = f
					case "y":
						r.Y = f
					case "width":
						r.W = f
					case "height":
						r.H = f
					case "fill":
						r.Fill = a.Value
					}
				}
				rects = append(rects, r)
				cur = &rects[len(rects)-1]
			case "title":
				inTitle = cur != nil
			case "script", "image", "use", "foreignObject", "a":
				t.Errorf("the SVG holds a <%s> element", tok.Name.Local)
			}
		case xml.CharData:
			if inTitle {
				cur.Title += string(tok)
			}
		case xml.EndElement:
			switch tok.Name.Local {
			case "title":
				inTitle = false
			case "rect":
				cur = nil
			}
		}
	}
	return rects
}

func TestHTMLPage(t *testing.T) {
	t.Parallel()
	_, page, text := writePage(t)
	lower := strings.ToLower(page)
	for _, banned := range []string{"<script", "javascript:", "http://", "https://", "<link", "@import", "url(", "src=", "<iframe", "<object", "<embed", "@font-face"} {
		if strings.Contains(lower, banned) {
			t.Errorf("page contains %q", banned)
		}
	}
	if n := strings.Count(page, "<rect"); n != 24 {
		t.Errorf("%d <rect elements, want 24 bars", n)
	}
	rects := parseSVG(t, page)
	if len(rects) != 24 {
		t.Fatalf("%d rect elements parsed, want 24", len(rects))
	}

	store := demoStore(t, 7)
	hours, err := store.Hourly(context.Background(), dayFrom, dayUntil)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := store.Alerts(context.Background(), secmon.AlertQuery{Since: dayFrom})
	if err != nil {
		t.Fatal(err)
	}
	peak := 0
	for i, r := range rects {
		h := hours[i]
		if !strings.HasPrefix(r.Title, h.Start.Format("2006-01-02 15:04")+"–"+h.Start.Add(time.Hour).Format("15:04")+" UTC: "+strconv.FormatInt(h.Events, 10)+" events") {
			t.Errorf("bar %d title %q, want hour %s with %d events", i, r.Title, h.Start.Format("15:04"), h.Events)
		}
		if r.W <= 0 || r.H < 0 || (h.Events > 0) != (r.H > 0) {
			t.Errorf("bar %d: width %v height %v for %d events", i, r.W, r.H, h.Events)
		}
		if i > 0 && r.X <= rects[i-1].X {
			t.Errorf("bar %d is not right of bar %d", i, i-1)
		}
		alerted := false
		for _, a := range alerts {
			alerted = alerted || !a.FirstSeen.Before(h.Start) && a.FirstSeen.Before(h.Start.Add(time.Hour))
		}
		attack := h.HighSeverity > 0 || h.LoginFailures >= minFailureSpike || alerted
		if want := map[bool]string{true: colourHigh, false: colourBar}[attack]; r.Fill != want {
			t.Errorf("bar %d fill %s, want %s", i, r.Fill, want)
		}
		if r.H > rects[peak].H {
			peak = i
		}
	}
	// Heights are proportional: the tallest bar is the busiest hour.
	for _, h := range hours {
		if h.Events > hours[peak].Events {
			t.Errorf("tallest bar is hour %d with %d events, but hour %s has %d", peak, hours[peak].Events, h.Start.Format("15:04"), h.Events)
		}
	}

	for _, id := range []string{"events", "uploads", "threats-blocked", "avg-validation", "login-failures", "alerts-opened"} {
		label := map[string]string{
			"events": "events", "uploads": "uploads", "threats-blocked": "threats blocked",
			"avg-validation": "average validation time", "login-failures": "failed logins", "alerts-opened": "alerts opened",
		}[id]
		want := `id="` + id + `">` + field(t, text, label) + `<`
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestHTMLEscapesStoredText(t *testing.T) {
	t.Parallel()
	hostile := `<script>alert(1)</script>`
	r := &report{
		From: dayFrom, To: dayUntil, Source: `schema "x"><img src=x onerror=alert(2)>`,
		Hours: make([]secmon.HourBucket, 24),
		Alerts: []secmon.Alert{{
			Rule: "brute_force_account", Subject: "user:" + hostile, Severity: secmon.SeverityHigh,
			Status: secmon.AlertOpen, Count: 1, FirstSeen: dayFrom, Summary: `</td></tr></table><svg onload=alert(3)>`,
		}},
		Types: []typeCount{{Type: secmon.EventType(`<b>x</b>`), Count: 1}},
	}
	for i := range r.Hours {
		r.Hours[i].Start = dayFrom.Add(time.Duration(i) * time.Hour)
	}
	var b bytes.Buffer
	if err := writeHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, raw := range []string{hostile, "<img", "<svg onload", "<b>x"} {
		if strings.Contains(page, raw) {
			t.Errorf("page contains %q unescaped", raw)
		}
	}
	if !strings.Contains(page, "user:&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the subject is not shown escaped")
	}
	if n := strings.Count(page, "<svg"); n != 1 {
		t.Errorf("%d <svg elements", n)
	}
	parseSVG(t, page)
}

func TestReportFromPostgres(t *testing.T) {
	t.Parallel()
	url := testenv.DatabaseURL(t)
	pool := sqlschematest.Pool(t)
	schema := sqlschematest.NewSchema(t, pool)
	store, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := generateDemo(ctx, store, 7, dayFrom, dayUntil); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == DatabaseURLVar {
			return url
		}
		return ""
	}
	out := runReport(t, env, "-date", "2026-01-15", "-schema", schema)

	// Read through PostgreSQL, the report is the same as the one the
	// in-memory store gives for the same day.
	want := runReport(t, noEnv, dayArgs...)
	want = strings.Replace(want, "source: generated demo day (seed 7)", "source: PostgreSQL schema "+schema, 1)
	if out != want {
		t.Errorf("PostgreSQL report differs from the in-memory one:\n--- postgres\n%s\n--- memory\n%s", out, want)
	}
	sum, err := store.Summary(ctx, dayFrom, dayUntil)
	if err != nil {
		t.Fatal(err)
	}
	if got := field(t, out, "uploads"); got != strconv.FormatInt(sum.Uploads, 10) || sum.Uploads == 0 {
		t.Errorf("uploads = %s, store says %d", got, sum.Uploads)
	}

	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-schema", "no_such_schema_here"}, &stdout, &stderr, env, testNow); code != 1 {
		t.Errorf("missing schema: exit status %d, want 1", code)
	}
	if strings.Contains(stderr.String(), url) && strings.Contains(url, "@") {
		t.Error("the connection string was printed")
	}
}

// TestEmptyDay renders a day without events: zeros everywhere, no division
// by zero, flat bars, and no trailing blanks.
func TestEmptyDay(t *testing.T) {
	t.Parallel()
	r, err := build(context.Background(), memstore.New(), dayFrom, dayUntil, "empty store")
	if err != nil {
		t.Fatal(err)
	}
	var text, page bytes.Buffer
	if err := writeText(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := writeHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  events                            0", "(0.0% of uploads)", "0.0ms", "Alerts opened (0)", "\n    23:00       0              0                0      0\n"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	for i, l := range strings.Split(text.String(), "\n") {
		if strings.TrimRight(l, " ") != l {
			t.Errorf("line %d has trailing blanks: %q", i+1, l)
		}
	}
	if s := page.String(); strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Error("page holds NaN or Inf")
	}
	rects := parseSVG(t, page.String())
	if len(rects) != 24 {
		t.Fatalf("%d bars", len(rects))
	}
	for i, b := range rects {
		if b.H != 0 {
			t.Errorf("bar %d has height %v on an empty day", i, b.H)
		}
	}
}

// TestAttackHoursMarked checks that an hour is drawn as an attack hour when
// an alert opened in it or its failed logins spiked, not only when it held
// a high-severity event: the demo day's IPv6 rotation at 21:00 has no
// high-severity event but opened two alerts and 28 failed logins.
func TestAttackHoursMarked(t *testing.T) {
	t.Parallel()
	path, page, text := writePage(t)
	_ = path
	rects := parseSVG(t, page)
	store := demoStore(t, 7)
	hours, err := store.Hourly(context.Background(), dayFrom, dayUntil)
	if err != nil {
		t.Fatal(err)
	}
	if hours[3].LoginFailures < 100 || hours[21].LoginFailures < 20 {
		t.Fatalf("the demo day changed: 03:00 is %+v, 21:00 %+v", hours[3], hours[21])
	}
	// The IPv6 rotation's hour is marked for its alerts and failed logins
	// alone: it holds no high-severity event.
	if hours[21].HighSeverity != 0 {
		t.Fatalf("the demo day changed: 21:00 is %+v", hours[21])
	}
	for _, i := range []int{3, 21} { // the brute-force burst and the IPv6 rotation
		if rects[i].Fill != colourHigh {
			t.Errorf("bar %02d:00 fill %s, want the attack colour %s", i, rects[i].Fill, colourHigh)
		}
		if !strings.Contains(rects[i].Title, "alert") || !strings.Contains(rects[i].Title, "failed logins") {
			t.Errorf("bar %02d:00 title %q does not say why it is marked", i, rects[i].Title)
		}
	}
	for i, h := range hours {
		if h.LoginFailures == 0 && h.HighSeverity == 0 && rects[i].Fill != colourBar {
			t.Errorf("quiet hour %02d:00 drawn as an attack hour", i)
		}
	}
	if !regexp.MustCompile(`(?m)^ +03:00 .*alerts.*logins`).MatchString(text) {
		t.Errorf("the text report does not mark 03:00:\n%s", text)
	}
}

// TestAlertTimesCarryDates checks that when the window spans two days the
// alert times carry their date, and that a single day's report keeps the
// plain time.
func TestAlertTimesCarryDates(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.html")
	out := runReport(t, noEnv, "-date", "2026-03-01", "-html", path) // today: 2026-02-28 13:00 to 2026-03-01 13:00
	alerts := out[strings.Index(out, "Alerts opened"):strings.Index(out, "Hourly breakdown")]
	dated := regexp.MustCompile(`(?m)^  2026-0(2-28|3-01) \d\d:\d\d  `).FindAllString(alerts, -1)
	if len(dated) == 0 || regexp.MustCompile(`(?m)^  \d\d:\d\d  `).MatchString(alerts) {
		t.Errorf("alert times without dates in a two-day window:\n%s", alerts)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`<td data-label="first seen">2026-0(2-28|3-01) \d\d:\d\d</td>`).Match(page) {
		t.Error("the HTML alert table has no dated times")
	}
	single := runReport(t, noEnv, dayArgs...)
	if regexp.MustCompile(`(?m)^  2026-01-15 \d\d:\d\d  `).MatchString(single) {
		t.Error("a one-day report repeats the date on every alert")
	}
}

// TestTopSourcesAccountsAndActions checks the sections an operator reads
// first: which IP groups attacked, which accounts they went for, and what
// the alerts suggest doing about it.
func TestTopSourcesAccountsAndActions(t *testing.T) {
	t.Parallel()
	_, page, text := writePage(t)
	section := func(title string) string {
		i := strings.Index(text, title)
		if i < 0 {
			t.Fatalf("no %q section in:\n%s", title, text)
		}
		rest := text[i:]
		if j := strings.Index(rest, "\n\n"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	sources := strings.Split(section("Top source IP groups"), "\n")
	if len(sources) < 4 || !strings.HasPrefix(strings.TrimSpace(sources[2]), "203.0.113.66/32") {
		t.Errorf("the brute-force address is not the top source:\n%s", strings.Join(sources, "\n"))
	}
	if !strings.Contains(section("Top source IP groups"), "2001:db8:bad:1::/64") {
		t.Error("the rotating IPv6 attacker is not listed as one /64")
	}
	if accounts := section("Targeted accounts"); !regexp.MustCompile(`(?m)^  admin +\d+`).MatchString(accounts) {
		t.Errorf("admin is not among the targeted accounts:\n%s", accounts)
	}
	actions := section("Suggested actions")
	for _, want := range []string{
		`block +ip:203\.0\.113\.66/32 +for \d+h +high +brute_force_ip`,
		`step_up +user:admin`,
	} {
		if !regexp.MustCompile(want).MatchString(actions) {
			t.Errorf("no action matching %q in:\n%s", want, actions)
		}
	}
	for _, id := range []string{`id="sources"`, `id="accounts"`, `id="actions"`} {
		if !strings.Contains(page, id) {
			t.Errorf("page lacks the %s table", id)
		}
	}
}
