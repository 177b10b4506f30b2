package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestNewDrivesChromium(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!DOCTYPE html><title>browsertest</title><p id="p">rendered</p>`))
	}))
	defer srv.Close()
	ctx := New(t, Options{Width: 400, Height: 300})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("p").textContent + " " + window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if got != "rendered 400" {
		t.Errorf("page reads %q, want \"rendered 400\"", got)
	}
}

func TestArgsFreshProfile(t *testing.T) {
	a, b := Args(t), Args(t)
	if a[0] == b[0] || a[0][:len("--user-data-dir=")] != "--user-data-dir=" {
		t.Errorf("profiles %q and %q", a[0], b[0])
	}
}
