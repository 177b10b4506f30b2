package main

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"strings"

	"github.com/secmon-go/secmon/internal/hourchart"
)

//go:embed report.html.tmpl
var pageSource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":  ms,
	"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
}).Parse(pageSource))

// Bar colours: attack hours (an alert opened, a failed-login spike, a high
// or critical event; see report.markAttacks) stand out. The legend's CSS in
// report.html.tmpl uses the same values.
const (
	colourBar  = hourchart.ColourBar
	colourHigh = hourchart.ColourHigh
	colourLine = hourchart.ColourLine
)

// buildChart lays out the report's hours as the dashboard does, with the
// report's attack hours in the second colour.
func buildChart(r *report) (template.HTML, error) {
	return hourchart.Build(r.Hours, hourchart.Options{
		ID: "chart", Label: "Events per hour",
		Attack: func(i int) (string, bool) {
			a := r.attackAt(i)
			return a.String(), a.Marked()
		},
	}).Render()
}

// attackAt is hour i's attack marks; zero when the report has none.
func (r *report) attackAt(i int) attack { return r.AttackAt(i) }

// AttackAt is attackAt for the template.
func (r *report) AttackAt(i int) attack {
	if i < len(r.Attacks) {
		return r.Attacks[i]
	}
	return attack{}
}

// pageData is what the template renders.
type pageData struct {
	*report
	Chart       template.HTML
	BlockedRate float64
}

// writeHTML renders r as a self-contained HTML page.
func writeHTML(w io.Writer, r *report) error {
	chart, err := buildChart(r)
	if err != nil {
		return err
	}
	return page.Execute(w, pageData{report: r, Chart: chart, BlockedRate: r.blockedRate()})
}

// writeHTMLFile renders the page and writes it to name; a rendering error
// leaves name untouched.
func writeHTMLFile(name string, r *report) error {
	var b strings.Builder
	if err := writeHTML(&b, r); err != nil {
		return err
	}
	return os.WriteFile(name, []byte(b.String()), 0o644)
}
