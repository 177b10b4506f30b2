// Package hourchart draws the hourly event chart that secmon's HTML pages
// share (the report example and the dashboard): one bar per hour of
// events, bars of attack hours (or of hours with high-severity events) in
// a second colour, a line of failed logins, and optional marks on hours an
// operator should look at first.
//
// The chart is inline SVG sized by attributes only (no style attribute,
// no script), so it renders under a Content-Security-Policy that forbids
// inline styles, and every text in it goes through html/template.
package hourchart

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
)

// Colours of the chart, as SVG fill and stroke attributes. Pages that
// style the chart with CSS address the classes instead (hc-bar, hc-high,
// hc-line, hc-mark).
const (
	ColourBar  = "#3b82c4" // events in an hour
	ColourHigh = "#d9480f" // events in an hour with high or critical events
	ColourLine = "#f59f00" // failed logins
	ColourMark = "#c92a2a" // a marked hour
)

// Options shapes a chart. Zero fields mean the defaults.
type Options struct {
	// Width and Height are the SVG viewBox size; defaults 960 and 320.
	Width, Height int
	// LabelEvery labels every nth hour on the time axis; default 3.
	LabelEvery int
	// FontSize of the axis labels, in viewBox units; default 12.
	FontSize int
	// Label is the chart's accessible name; default "Events per hour (UTC)".
	Label string
	// Marks flags hours, matched by the start of the hour, with a band
	// behind the bar and a marker above the plot.
	Marks []Mark
	// Attack, when set, names the attack hours by index: their bars take
	// ColourHigh (class hc-attack) and their titles end with
	// ". Attack hour: " and the note. Without it, the bars of the hours
	// that held high or critical events take ColourHigh (class hc-high).
	Attack func(i int) (note string, ok bool)
	// ID, when set, is the svg element's id attribute.
	ID string
}

// Mark flags one hour: a band behind its bar and a marker above the plot,
// with Note as their tooltip.
type Mark struct {
	Start time.Time // the hour, truncated
	Note  string    // why, e.g. "2 alerts opened; 340 failed logins"
}

// Chart is a laid-out chart: numbers only, placed by Render.
type Chart struct {
	ID, Label          string
	Width, Height      int
	FontSize           int
	PlotLeft           int
	PlotRight          int
	PlotTop            int
	PlotBottom         int
	Bars               []Bar
	Bands              []Band
	XLabels            []Label
	YTicks             []Tick
	Failures           string // polyline points of failed logins per hour
	ColourLine, Marker string
}

// Bar is one hour's bar.
type Bar struct {
	X, Y, W, H float64
	Fill       string
	Class      string
	Title      string
}

// Band marks an hour: a rectangle over the plot's height and a triangle
// above it.
type Band struct {
	X, Y, W, H float64
	Marker     string // polygon points of the triangle
	Title      string
}

// Label is one time-axis label; Sub, when set, is a second line (the date).
type Label struct {
	X       float64
	Y, SubY int
	Text    string
	Sub     string
}

// Tick is one value-axis line and label.
type Tick struct {
	Y    float64
	Text string
}

// NiceMax rounds n up to 1, 2 or 5 times a power of ten (at least 5), so
// the value axis has round ticks.
func NiceMax(n int64) int64 {
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

// Build lays out hours (oldest first, as ReportStore.Hourly returns them).
func Build(hours []secmon.HourBucket, o Options) Chart {
	if o.Width <= 0 {
		o.Width = 960
	}
	if o.Height <= 0 {
		o.Height = 320
	}
	if o.LabelEvery <= 0 {
		o.LabelEvery = 3
	}
	if o.FontSize <= 0 {
		o.FontSize = 12
	}
	if o.Label == "" {
		o.Label = "Events per hour (UTC)"
	}
	left := 4 * o.FontSize // room for the value labels
	bottom := 3*o.FontSize + 6
	top := 16
	if len(o.Marks) > 0 {
		top = o.FontSize + 12 // room for the markers
	}
	c := Chart{
		ID: o.ID, Label: o.Label, Width: o.Width, Height: o.Height, FontSize: o.FontSize,
		PlotLeft: left, PlotRight: o.Width - 12, PlotTop: top, PlotBottom: o.Height - bottom,
		ColourLine: ColourLine, Marker: ColourMark,
	}
	peak := int64(0)
	for _, h := range hours {
		peak = max(peak, h.Events, h.LoginFailures)
	}
	maxV := NiceMax(peak)
	plotH := float64(c.PlotBottom - c.PlotTop)
	n := max(len(hours), 1)
	slot := float64(c.PlotRight-c.PlotLeft) / float64(n)
	y := func(v int64) float64 { return float64(c.PlotBottom) - plotH*float64(v)/float64(maxV) }
	marks := make(map[int64]string, len(o.Marks))
	for _, m := range o.Marks {
		marks[m.Start.UTC().Truncate(time.Hour).Unix()] = m.Note
	}
	pts := make([]string, 0, len(hours))
	for i, h := range hours {
		start := h.Start.UTC()
		x := float64(c.PlotLeft) + slot*float64(i)
		if note, ok := marks[start.Unix()]; ok {
			mid := x + slot/2
			c.Bands = append(c.Bands, Band{
				X: x, Y: float64(c.PlotTop), W: slot, H: plotH,
				Marker: fmt.Sprintf("%.1f,%.1f %.1f,%.1f %.1f,%.1f", mid-5, float64(c.PlotTop)-10, mid+5, float64(c.PlotTop)-10, mid, float64(c.PlotTop)-2),
				Title:  hourRange(start) + ": " + note,
			})
		}
		fill, class := ColourBar, "hc-bar"
		title := fmt.Sprintf("%s: %d events, %d failed logins, %d uploads blocked, %d high or critical",
			hourRange(start), h.Events, h.LoginFailures, h.UploadsBlocked, h.HighSeverity)
		if o.Attack != nil {
			if note, ok := o.Attack(i); ok {
				fill, class = ColourHigh, "hc-bar hc-attack"
				title += ". Attack hour: " + note
			}
		} else if h.HighSeverity > 0 {
			fill, class = ColourHigh, "hc-bar hc-high"
		}
		bh := plotH * float64(h.Events) / float64(maxV)
		c.Bars = append(c.Bars, Bar{
			X: x + slot*0.15, Y: float64(c.PlotBottom) - bh, W: slot * 0.7, H: bh, Fill: fill, Class: class, Title: title,
		})
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x+slot/2, y(h.LoginFailures)))
		if i%o.LabelEvery == 0 {
			l := Label{X: x + slot/2, Y: c.PlotBottom + o.FontSize + 6, Text: start.Format("15:04")}
			if i == 0 || start.Hour() < o.LabelEvery {
				l.Sub, l.SubY = start.Format("Jan 2"), l.Y+o.FontSize+4
			}
			c.XLabels = append(c.XLabels, l)
		}
	}
	c.Failures = strings.Join(pts, " ")
	for i := int64(0); i <= 4; i++ {
		v := maxV * i / 4
		c.YTicks = append(c.YTicks, Tick{Y: y(v), Text: strconv.FormatInt(v, 10)})
	}
	return c
}

// hourRange renders an hour with its date: "2026-03-02 14:00–15:00 UTC".
func hourRange(start time.Time) string {
	return start.Format("2006-01-02 15:04") + "–" + start.Add(time.Hour).Format("15:04") + " UTC"
}

var svg = template.Must(template.New("hourchart").Funcs(template.FuncMap{
	"f": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
}).Parse(`<svg class="hc"{{with .ID}} id="{{.}}"{{end}} viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}" role="img" aria-label="{{.Label}}" font-size="{{.FontSize}}">
<g class="hc-grid">
{{- range .YTicks}}
<line x1="{{$.PlotLeft}}" x2="{{$.PlotRight}}" y1="{{f .Y}}" y2="{{f .Y}}" stroke="#e4e7eb" stroke-width="1"/>
<text x="{{$.PlotLeft}}" dx="-8" y="{{f .Y}}" dy="4" text-anchor="end" fill="#52606d">{{.Text}}</text>
{{- end}}
</g>
{{- if .Bands}}
<g class="hc-marks">
{{- range .Bands}}
<rect class="hc-mark" x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="{{$.Marker}}" fill-opacity="0.12"><title>{{.Title}}</title></rect>
<polygon class="hc-marker" points="{{.Marker}}" fill="{{$.Marker}}"><title>{{.Title}}</title></polygon>
{{- end}}
</g>
{{- end}}
<g class="hc-bars">
{{- range .Bars}}
<rect class="{{.Class}}" x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="{{.Fill}}"><title>{{.Title}}</title></rect>
{{- end}}
</g>
<polyline class="hc-line" points="{{.Failures}}" fill="none" stroke="{{.ColourLine}}" stroke-width="2.5"/>
<line x1="{{.PlotLeft}}" x2="{{.PlotRight}}" y1="{{.PlotBottom}}" y2="{{.PlotBottom}}" stroke="#9aa5b1" stroke-width="1"/>
<g class="hc-axis">
{{- range .XLabels}}
<text x="{{f .X}}" y="{{.Y}}" text-anchor="middle" fill="#52606d">{{.Text}}</text>
{{- if .Sub}}
<text x="{{f .X}}" y="{{.SubY}}" text-anchor="middle" fill="#52606d">{{.Sub}}</text>
{{- end}}
{{- end}}
</g>
</svg>`))

// Render returns c as an inline SVG element.
func (c Chart) Render() (template.HTML, error) {
	var b bytes.Buffer
	if err := svg.Execute(&b, c); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}
