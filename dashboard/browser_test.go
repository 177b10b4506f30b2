package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/secmon-go/secmon/internal/browsertest"
)

// Environment variables of the browser test.
const (
	// artefactsVar names a directory for the screenshots; without it they
	// go to the test's temporary directory.
	artefactsVar = "SECMON_TEST_ARTEFACTS"
	// readmeShotVar names a PNG file to write the README's screenshot to
	// (the Overview, desktop width).
	readmeShotVar = "SECMON_DASHBOARD_SCREENSHOT"
)

// probe is installed in every document before its own scripts run (a
// DevTools script, which the page's CSP does not govern): it records CSP
// violations and uncaught errors where the test can read them.
const probe = `(function () {
  window.__csp = [];
  window.__errors = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    window.__csp.push(e.violatedDirective + " " + e.blockedURI);
  });
  window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
})();`

// browser is a headless Chromium tab signed in as one person, collecting
// every console error, exception, browser log error and dialog.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
	dialogs  []string
}

func newBrowser(t *testing.T, width, height int, role string) *browser {
	t.Helper()
	b := &browser{t: t, ctx: browsertest.New(t, browsertest.Options{Width: width, Height: height})}
	err := chromedp.Listen(b.ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.problems = append(b.problems, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			b.problems = append(b.problems, "exception: "+ev.ExceptionDetails.Text+" "+exceptionDescription(ev.ExceptionDetails))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				b.problems = append(b.problems, "log "+string(ev.Entry.Level)+" ("+string(ev.Entry.Source)+"): "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			go func() { // a command may not run inside the listener
				_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: probe}); err != nil {
		t.Fatal(err)
	}
	if role != "" {
		b.signIn(role)
	}
	return b
}

func exceptionDescription(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// signIn makes every later request carry the test principal of role, as
// a browser carries its session cookie (cross-site requests included).
func (b *browser) signIn(role string) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{hdrUser: role + "-person", hdrRole: role},
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) navigate(url string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("navigate %s: %v", url, err)
	}
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// takeProblems returns and clears what went wrong so far: console errors
// and warnings, exceptions, browser log errors, CSP violations and
// uncaught errors the probe saw on the current page.
func (b *browser) takeProblems() []string {
	b.t.Helper()
	csp := eval[[]string](b, `window.__csp || []`)
	errs := eval[[]string](b, `window.__errors || []`)
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append(append(b.problems, prefixed("CSP violation: ", csp)...), prefixed("uncaught: ", errs)...)
	b.problems = nil
	return out
}

func prefixed(p string, s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = p + x
	}
	return out
}

func (b *browser) takeDialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.dialogs
	b.dialogs = nil
	return d
}

// waitFor polls the JavaScript condition cond until it is true or d passes.
func (b *browser) waitFor(cond string, d time.Duration) bool {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if eval[bool](b, "!!("+cond+")") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// screenshot writes a PNG of the viewport (full page when full) to dir.
func (b *browser) screenshot(dir, name string, full bool) string {
	b.t.Helper()
	var png []byte
	var err error
	if full {
		png, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	} else {
		png, err = chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// artefacts returns the directory screenshots are written to.
func artefacts(t *testing.T) string {
	dir := os.Getenv(artefactsVar)
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func describe(v any) string { return fmt.Sprint(v) }
