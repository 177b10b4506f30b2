package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon/internal/browsertest"
)

// chromium returns the path of Chromium, or skips t; under
// SECMON_TEST_REQUIRE_SERVICES (CI, where .ci/run installs it) a missing
// browser fails t instead (see internal/browsertest).
func chromium(t *testing.T) string {
	t.Helper()
	return browsertest.Chromium(t)
}

// headless runs chromium on the file page with extra flags and returns its
// standard output. The profile lives in a directory of its own and network
// features are off, so the run touches nothing outside the test.
func headless(t *testing.T, bin, page string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(browsertest.Args(t, extra...), "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return stdout.Bytes()
}

// near reports whether c is within tol of the colour #rrggbb in each channel.
func near(c [3]uint8, hex string, tol int) bool {
	var want [3]int
	for i := range want {
		v := 0
		for _, ch := range hex[1+2*i : 3+2*i] {
			v *= 16
			switch {
			case ch >= '0' && ch <= '9':
				v += int(ch - '0')
			default:
				v += int(ch-'a') + 10
			}
		}
		want[i] = v
	}
	for i := range want {
		if d := int(c[i]) - want[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}

// TestChromiumRendersPage opens the HTML report in headless Chromium: the
// screenshot shows the bars in their colours, and the rendered DOM holds the
// summary figures.
func TestChromiumRendersPage(t *testing.T) {
	bin := chromium(t)
	page, _, text := writePage(t)

	shot := filepath.Join(t.TempDir(), "shot.png")
	headless(t, bin, page, "--screenshot="+shot, "--window-size=1200,900", "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("screenshot is %v, want 1200×900", b)
	}
	colours := map[[3]uint8]int{}
	var bars, high, line int
	forEachPixel(img, func(c [3]uint8) {
		colours[c]++
		switch {
		case near(c, colourBar, 6):
			bars++
		case near(c, colourHigh, 6):
			high++
		case near(c, colourLine, 6):
			line++
		}
	})
	t.Logf("screenshot: %d colours; %d bar, %d high-severity bar, %d line pixels", len(colours), bars, high, line)
	if len(colours) < 8 {
		t.Errorf("screenshot has %d colours: blank page?", len(colours))
	}
	// Bars are at least a few hundred pixels each; the demo day has hours of
	// both kinds and a failed-login line.
	if bars < 2000 || high < 500 || line < 200 {
		t.Errorf("screenshot has %d bar, %d high-severity bar and %d line pixels; the chart did not render", bars, high, line)
	}

	dom := string(headless(t, bin, page, "--dump-dom"))
	if !strings.Contains(dom, "<svg") || strings.Count(dom, "<rect") != 24 {
		t.Errorf("rendered DOM lacks the chart (%d rects)", strings.Count(dom, "<rect"))
	}
	for id, label := range map[string]string{
		"events": "events", "uploads": "uploads", "threats-blocked": "threats blocked",
		"avg-validation": "average validation time", "login-failures": "failed logins", "alerts-opened": "alerts opened",
	} {
		want := `id="` + id + `">` + field(t, text, label) + `<`
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
}

func forEachPixel(img image.Image, fn func([3]uint8)) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			fn([3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)})
		}
	}
}

// layout is what the measuring script reports of a rendered page.
type layout struct {
	Scroll int      `json:"scroll"` // document scroll width, CSS pixels
	Client int      `json:"client"` // viewport width
	Wide   []string `json:"wide"`   // elements reaching past the viewport's right edge
}

// measure renders page in a viewport width CSS pixels wide and returns
// its layout. Chromium's windows are at least 500 px wide, so the page is
// shown in an iframe of that width inside a wrapper page. The page forbids
// scripts; a copy with a measuring script (and a CSP that admits it) is
// rendered instead, and the script posts what it measured to the wrapper,
// whose DOM Chromium dumps.
func measure(t *testing.T, bin, page string, width int) layout {
	t.Helper()
	src, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	const script = `<script>(function () {
  var d = document.documentElement, vw = d.clientWidth, wide = [];
  document.querySelectorAll("body *").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.right > vw + 0.5 && wide.length < 20) wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " to " + Math.round(r.right));
  });
  parent.postMessage(JSON.stringify({scroll: d.scrollWidth, client: vw, wide: wide}), "*");
})();</script>`
	copyPage := strings.Replace(string(src), "style-src 'unsafe-inline'", "style-src 'unsafe-inline'; script-src 'unsafe-inline'", 1)
	copyPage = strings.Replace(copyPage, "</body>", script+"</body>", 1)
	if !strings.Contains(copyPage, "script-src") || !strings.Contains(copyPage, "postMessage") {
		t.Fatal("could not add the measuring script to the page")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "measured.html"), []byte(copyPage), 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := `<!DOCTYPE html><html><body style="margin:0">` +
		`<script>window.addEventListener("message", function (e) { document.body.setAttribute("data-layout", e.data); });</script>` +
		`<iframe src="measured.html" width="` + strconv.Itoa(width) + `" height="900" style="border:0;display:block"></iframe></body></html>`
	outer := filepath.Join(dir, "wrapper.html")
	if err := os.WriteFile(outer, []byte(wrapper), 0o600); err != nil {
		t.Fatal(err)
	}
	dom := headless(t, bin, outer, "--dump-dom", "--hide-scrollbars", "--virtual-time-budget=10000",
		"--window-size="+strconv.Itoa(max(width+100, 1280))+",1000")
	m := regexp.MustCompile(`data-layout="([^"]*)"`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the measuring script did not report; DOM starts %.300s", dom)
	}
	var l layout
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &l); err != nil {
		t.Fatalf("layout %s: %v", m[1], err)
	}
	return l
}

// TestChromiumNarrowViewport renders the report in a 400 px wide viewport,
// a phone's: the page scrolls down but never sideways, every element fits
// the viewport. The desktop width is checked the same way. Screenshots of
// both are written to the directory SECMON_REPORT_SHOTS names, if set, for
// a person to look at.
func TestChromiumNarrowViewport(t *testing.T) {
	bin := chromium(t)
	page, _, _ := writePage(t)
	for _, width := range []int{400, 1200} {
		l := measure(t, bin, page, width)
		t.Logf("%d px window: viewport %d, document %d", width, l.Client, l.Scroll)
		if l.Client <= 0 || l.Client > width || l.Client < width-20 {
			t.Errorf("%d px window: viewport %d px", width, l.Client)
		}
		if l.Scroll > l.Client || len(l.Wide) > 0 {
			t.Errorf("%d px window: the page is %d px wide in a %d px viewport; too wide: %v", width, l.Scroll, l.Client, l.Wide)
		}
	}
	if dir := os.Getenv("SECMON_REPORT_SHOTS"); dir != "" {
		headless(t, bin, page, "--screenshot="+filepath.Join(dir, "report-1200.png"), "--window-size=1200,2600", "--hide-scrollbars")
		wrapper := filepath.Join(filepath.Dir(page), "phone.html")
		frame := `<!DOCTYPE html><html><body style="margin:0;background:#888"><iframe src="` + filepath.Base(page) +
			`" width="400" height="7000" style="border:0;display:block;background:#fff"></iframe></body></html>`
		if err := os.WriteFile(wrapper, []byte(frame), 0o600); err != nil {
			t.Fatal(err)
		}
		headless(t, bin, wrapper, "--screenshot="+filepath.Join(dir, "report-400.png"), "--window-size=500,7000", "--hide-scrollbars")
	}
}
