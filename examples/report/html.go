package main

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"strings"
)

//go:embed report.html.tmpl
var pageSource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":  ms,
	"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
}).Parse(pageSource))

// Chart geometry, in SVG user units.
const (
	chartW      = 960
	chartH      = 320
	chartLeft   = 56 // room for the y-axis labels
	chartRight  = 16
	chartTop    = 16
	chartBottom = 40 // room for the hour labels
)

// Bar colours: attack hours (an alert opened, a failed-login spike, a high
// or critical event; see report.markAttacks) stand out. The legend's CSS in
// report.html.tmpl uses the same values.
const (
	colourBar  = "#3b82c4"
	colourHigh = "#d9480f"
	colourLine = "#f59f00"
)

// chart is the SVG bar chart of the hourly events, precomputed so the
// template only places numbers.
type chart struct {
	Width, Height int
	Bars          []bar
	XLabels       []label
	YTicks        []tick
	Failures      string // polyline points of failed logins per hour
	PlotLeft      int
	PlotRight     int
	PlotBottom    int
	LineColour    string
}

type bar struct {
	X, Y, W, H float64
	Fill       string
	Title      string
}

type label struct {
	X    float64
	Y    int
	Text string
}

type tick struct {
	Y    float64
	Text string
}

// niceMax rounds n up to 1, 2 or 5 times a power of ten, so the axis has
// round ticks.
func niceMax(n int64) int64 {
	if n <= 5 {
		return 5
	}
	p := int64(1)
	for p*10 < n {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

func buildChart(r *report) chart {
	c := chart{Width: chartW, Height: chartH, PlotLeft: chartLeft, PlotRight: chartW - chartRight,
		PlotBottom: chartH - chartBottom, LineColour: colourLine}
	peak := int64(0)
	for _, h := range r.Hours {
		peak = max(peak, h.Events, h.LoginFailures)
	}
	top := niceMax(peak)
	plotH := float64(chartH - chartTop - chartBottom)
	n := max(len(r.Hours), 1)
	slot := float64(chartW-chartLeft-chartRight) / float64(n)
	y := func(v int64) float64 { return float64(chartH-chartBottom) - plotH*float64(v)/float64(top) }
	var pts []string
	for i, h := range r.Hours {
		x := float64(chartLeft) + slot*float64(i)
		fill := colourBar
		title := fmt.Sprintf("%s UTC: %d events, %d failed logins, %d uploads blocked, %d high or critical",
			h.Start.UTC().Format("15:04"), h.Events, h.LoginFailures, h.UploadsBlocked, h.HighSeverity)
		if a := r.attackAt(i); a.Marked() {
			fill = colourHigh
			title += ". Attack hour: " + a.String()
		}
		bh := plotH * float64(h.Events) / float64(top)
		c.Bars = append(c.Bars, bar{
			X: x + slot*0.15, Y: float64(chartH-chartBottom) - bh, W: slot * 0.7, H: bh, Fill: fill, Title: title,
		})
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x+slot/2, y(h.LoginFailures)))
		if i%3 == 0 {
			c.XLabels = append(c.XLabels, label{X: x + slot/2, Y: chartH - chartBottom + 18, Text: h.Start.UTC().Format("15h")})
		}
	}
	c.Failures = strings.Join(pts, " ")
	for i := int64(0); i <= 4; i++ {
		v := top * i / 4
		c.YTicks = append(c.YTicks, tick{Y: y(v), Text: fmt.Sprint(v)})
	}
	return c
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
	Chart       chart
	BlockedRate float64
}

// writeHTML renders r as a self-contained HTML page.
func writeHTML(w io.Writer, r *report) error {
	return page.Execute(w, pageData{report: r, Chart: buildChart(r), BlockedRate: r.blockedRate()})
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
