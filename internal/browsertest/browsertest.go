// Package browsertest finds the headless Chromium that secmon's browser
// tests drive, and starts it for chromedp with the flags those tests need.
//
// A test that needs the browser calls Chromium(t) (for its path) or New(t)
// (for a chromedp context). Without a Chromium the test skips with a
// one-line reason, unless SECMON_TEST_REQUIRE_SERVICES is set (as .ci/run
// does under CI, where it also installs Debian's chromium), in which case
// it fails: a browser check that silently skips in CI proves nothing.
//
// SECMON_TEST_CHROMIUM names the binary when it is not chromium,
// chromium-browser or google-chrome on PATH.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/secmon-go/secmon/internal/testenv"
)

// ChromiumVar names the Chromium binary to use, overriding the search on
// PATH.
const ChromiumVar = "SECMON_TEST_CHROMIUM"

// candidates are the names Chromium goes by on PATH, Debian's first.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Chromium returns the path of a Chromium binary, or skips t (fails it when
// services are required).
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ChromiumVar); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("%s=%q: %v", ChromiumVar, p, err)
		}
		return path
	}
	for _, name := range candidates {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv(testenv.RequireServicesVar) != "" {
		t.Fatal("chromium is not on PATH (required by " + testenv.RequireServicesVar + "; install Debian's chromium package)")
	}
	t.Skip("chromium is not on PATH; skipping the browser test (apt-get install chromium)")
	return ""
}

// Flags are the command-line flags every test browser runs with: headless,
// no sandbox (tests often run as root in containers), no GPU, and none of
// the background traffic (updates, sync, metrics) a test must not make.
// The profile directory is added by New and Headless.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--no-first-run", "--no-default-browser-check", "--disable-component-update", "--disable-sync",
	"--disable-extensions", "--disable-default-apps", "--metrics-recording-only", "--mute-audio",
	"--disable-quic", "--hide-scrollbars",
}

// Options adjusts New.
type Options struct {
	Width, Height int           // window size; default 1280×900
	Timeout       time.Duration // bounds the whole browser session; default 2 minutes
}

// New starts a headless Chromium with a fresh profile in t's temporary
// directory and returns a chromedp context for its first tab. The browser
// is closed when t ends.
func New(t testing.TB, o Options) context.Context {
	t.Helper()
	bin := Chromium(t)
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 1280, 900
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(o.Width, o.Height),
	}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f[2:], true))
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), o.Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	// Starting the browser now makes a broken install fail here. The
	// viewport is emulated as well as the window sized: a headless window
	// is never narrower than 500 pixels, and pages are checked at 400.
	if err := chromedp.Do(tab, chromedp.EmulateViewport(int64(o.Width), int64(o.Height))); err != nil {
		t.Fatalf("starting chromium (%s): %v", bin, err)
	}
	return tab
}

// Args returns the flags for running bin directly (chromium --screenshot,
// --dump-dom) with a fresh profile in t's temporary directory.
func Args(t testing.TB, extra ...string) []string {
	t.Helper()
	args := append([]string{"--user-data-dir=" + filepath.Join(t.TempDir(), "profile")}, Flags...)
	return append(args, extra...)
}
