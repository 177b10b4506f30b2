package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium returns the path of Debian's chromium, or skips t.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not on PATH; skipping the browser check")
	}
	return path
}

// headless runs chromium on the file page with extra flags and returns its
// standard output. The profile lives in a directory of its own and network
// features are off, so the run touches nothing outside the test.
func headless(t *testing.T, bin, page string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(t.TempDir(), "profile"),
	}, extra...)
	args = append(args, "file://"+page)
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
