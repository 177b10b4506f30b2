package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secmon-go/secmon"
)

// reportStore is what the report reads.
type reportStore interface {
	secmon.ReportStore
	secmon.AlertStore
}

// report is everything the text and HTML renderings show.
type report struct {
	From, To time.Time
	Source   string
	Summary  secmon.Summary
	Hours    []secmon.HourBucket
	Alerts   []secmon.Alert // opened in [From, To), oldest first
	Types    []typeCount    // events by type, most first
	Sevs     []sevCount     // events by severity, highest first
}

type typeCount struct {
	Type  secmon.EventType
	Count int64
}

type sevCount struct {
	Severity secmon.Severity
	Count    int64
}

// build reads the summary, the hourly buckets and the alerts opened in
// [from, to).
func build(ctx context.Context, store reportStore, from, to time.Time, source string) (*report, error) {
	sum, err := store.Summary(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	hours, err := store.Hourly(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("hourly breakdown: %w", err)
	}
	alerts, err := store.Alerts(ctx, secmon.AlertQuery{Since: from, Limit: secmon.MaxQueryLimit})
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	alerts = slices.DeleteFunc(alerts, func(a secmon.Alert) bool {
		return a.FirstSeen.Before(from) || !a.FirstSeen.Before(to)
	})
	slices.SortFunc(alerts, func(a, b secmon.Alert) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Subject, b.Subject))
	})

	r := &report{From: from, To: to, Source: source, Summary: sum, Hours: hours, Alerts: alerts}
	for t, n := range sum.ByType {
		r.Types = append(r.Types, typeCount{t, n})
	}
	slices.SortFunc(r.Types, func(a, b typeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Type, b.Type))
	})
	for s, n := range sum.BySeverity {
		r.Sevs = append(r.Sevs, sevCount{s, n})
	}
	slices.SortFunc(r.Sevs, func(a, b sevCount) int { return cmp.Compare(b.Severity, a.Severity) })
	return r, nil
}

// blockedRate is the share of uploads blocked, in percent.
func (r *report) blockedRate() float64 {
	if r.Summary.Uploads == 0 {
		return 0
	}
	return 100 * float64(r.Summary.ThreatsBlocked) / float64(r.Summary.Uploads)
}

// Title is the report's heading.
func (r *report) Title() string {
	return "secmon daily security report: " + r.period()
}

func (r *report) period() string {
	if r.From.Hour() == 0 && r.To.Sub(r.From) == 24*time.Hour {
		return r.From.Format(time.DateOnly) + " (UTC)"
	}
	return r.From.Format("2006-01-02 15:04") + " to " + r.To.Format("2006-01-02 15:04") + " UTC"
}

// ms renders a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// writeText renders r as plain text.
func writeText(w io.Writer, r *report) error {
	var b strings.Builder
	s := r.Summary
	fmt.Fprintf(&b, "%s\nsource: %s\n\n", r.Title(), r.Source)

	b.WriteString("Summary\n")
	for _, row := range [...]struct{ k, v, note string }{
		{"events", fmt.Sprint(s.Events), ""},
		{"uploads", fmt.Sprint(s.Uploads), ""},
		{"threats blocked", fmt.Sprint(s.ThreatsBlocked), fmt.Sprintf("(%.1f%% of uploads)", r.blockedRate())},
		{"average validation time", ms(s.AvgValidation), ""},
		{"failed logins", fmt.Sprint(s.LoginFailures), ""},
		{"alerts opened", fmt.Sprint(s.AlertsOpened), ""},
	} {
		fmt.Fprintf(&b, "%s\n", strings.TrimRight(fmt.Sprintf("  %-24s %10s  %s", row.k, row.v, row.note), " "))
	}

	b.WriteString("\nEvents by type\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, t := range r.Types {
		fmt.Fprintf(tw, "  %s\t%d\n", t.Type, t.Count)
	}
	tw.Flush()

	b.WriteString("\nEvents by severity\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, v := range r.Sevs {
		fmt.Fprintf(tw, "  %s\t%d\n", v.Severity, v.Count)
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nAlerts opened (%d)\n", len(r.Alerts))
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, a := range r.Alerts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\tcount %d\t%s\n", a.FirstSeen.UTC().Format("15:04"), a.Severity, a.Rule, a.Subject, a.Count, a.Status)
	}
	tw.Flush()

	b.WriteString("\nHourly breakdown (UTC)\n")
	peak := int64(0)
	for _, h := range r.Hours {
		peak = max(peak, h.Events)
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  hour\tevents\tfailed logins\tuploads blocked\thigh+\t\n")
	for _, h := range r.Hours {
		bar := ""
		if peak > 0 && h.Events > 0 {
			bar = " " + strings.Repeat("#", int((h.Events*30+peak-1)/peak))
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%s\n", h.Start.UTC().Format("15:04"), h.Events, h.LoginFailures, h.UploadsBlocked, h.HighSeverity, bar)
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}
