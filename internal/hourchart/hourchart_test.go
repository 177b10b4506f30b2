package hourchart

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

func day(start time.Time) []secmon.HourBucket {
	hours := make([]secmon.HourBucket, 24)
	for i := range hours {
		hours[i] = secmon.HourBucket{Start: start.Add(time.Duration(i) * time.Hour), Events: int64(i * 10), LoginFailures: int64(i)}
	}
	hours[5].HighSeverity = 2
	return hours
}

func TestNiceMax(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]int64{0: 5, 5: 5, 6: 10, 10: 10, 11: 20, 199: 200, 201: 500, 501: 1000, 1_000_001: 2_000_000} {
		if got := NiceMax(in); got != want {
			t.Errorf("NiceMax(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestBuildGeometry(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	c := Build(day(start), Options{})
	if len(c.Bars) != 24 {
		t.Fatalf("%d bars", len(c.Bars))
	}
	for i, b := range c.Bars {
		if i > 0 && b.X <= c.Bars[i-1].X {
			t.Errorf("bar %d is not right of bar %d", i, i-1)
		}
		if i > 0 && b.H <= c.Bars[i-1].H {
			t.Errorf("bar %d (%d events) is not taller than bar %d", i, i*10, i-1)
		}
		if b.Y+b.H != float64(c.PlotBottom) {
			t.Errorf("bar %d does not stand on the axis", i)
		}
	}
	if c.Bars[5].Fill != ColourHigh || c.Bars[4].Fill != ColourBar {
		t.Errorf("high-severity hour not coloured: %s %s", c.Bars[5].Fill, c.Bars[4].Fill)
	}
	if got, want := c.Bars[0].Title, "2026-03-01 13:00–14:00 UTC: 0 events, 0 failed logins, 0 uploads blocked, 0 high or critical"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
	// The peak (230 events) sits under the nice maximum (500) and the top tick is that maximum.
	if top := c.YTicks[len(c.YTicks)-1]; top.Text != "500" || top.Y != float64(c.PlotTop) {
		t.Errorf("top tick %+v", top)
	}
	// Labels every third hour; the first and the one after midnight carry the date.
	if len(c.XLabels) != 8 {
		t.Fatalf("%d labels", len(c.XLabels))
	}
	var dated []string
	for _, l := range c.XLabels {
		if l.Sub != "" {
			dated = append(dated, l.Text+" "+l.Sub)
		}
	}
	if strings.Join(dated, ",") != "13:00 Mar 1,01:00 Mar 2" {
		t.Errorf("dated labels %v", dated)
	}
	if len(c.Bands) != 0 {
		t.Errorf("bands without marks: %v", c.Bands)
	}
}

func TestMarksAndEscaping(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	hostile := `<script>alert(1)</script>"'&`
	c := Build(day(start), Options{ID: `x"y`, Label: hostile, Marks: []Mark{
		{Start: start.Add(2*time.Hour + 17*time.Minute), Note: hostile}, // not truncated by the caller
		{Start: start.Add(-time.Hour), Note: "outside the chart"},
	}})
	if len(c.Bands) != 1 || c.Bands[0].X != slotLeft(c, 2) {
		t.Fatalf("bands %+v", c.Bands)
	}
	html, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	s := string(html)
	if strings.Contains(s, "<script") || strings.Contains(s, `"'&`) || strings.Contains(s, "style=") {
		t.Errorf("render is not inert:\n%s", s)
	}
	// Well-formed XML with the expected elements.
	d := xml.NewDecoder(strings.NewReader(s))
	counts := map[string]int{}
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
	if counts["svg"] != 1 || counts["rect"] != 25 || counts["polygon"] != 1 || counts["polyline"] != 1 {
		t.Errorf("elements %v", counts)
	}
	if !strings.Contains(s, "2026-03-01 15:00–16:00 UTC: &lt;script&gt;") {
		t.Errorf("mark title missing or unescaped")
	}
}

// slotLeft returns the left edge of hour i's slot.
func slotLeft(c Chart, i int) float64 {
	return float64(c.PlotLeft) + float64(c.PlotRight-c.PlotLeft)/float64(len(c.Bars))*float64(i)
}

func TestAttackHighlight(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	c := Build(day(start), Options{Attack: func(i int) (string, bool) { return "2 alerts opened", i == 7 }})
	for i, b := range c.Bars {
		attack := i == 7
		if (b.Fill == ColourHigh) != attack || strings.HasSuffix(b.Title, ". Attack hour: 2 alerts opened") != attack {
			t.Errorf("bar %d: fill %s title %q", i, b.Fill, b.Title)
		}
	}
}
