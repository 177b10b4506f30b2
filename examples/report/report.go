package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/netip"
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
	secmon.EventStore
}

// report is everything the text and HTML renderings show.
type report struct {
	From, To time.Time
	Source   string
	Summary  secmon.Summary
	Hours    []secmon.HourBucket
	Attacks  []attack       // one per hour of Hours
	Alerts   []secmon.Alert // opened in [From, To), oldest first
	Types    []typeCount    // events by type, most first
	Sevs     []sevCount     // events by severity, highest first
	Sources  []sourceRow    // IP groups with the most hostile events, most first
	Accounts []accountRow   // accounts with the most hostile events, most first
	Actions  []actionRow    // what the alerts suggest, most severe first
	// Hostile is the number of hostile events Sources and Accounts were
	// counted from; HostileCapped says the window held more than the
	// newest MaxQueryLimit of them, which alone were read.
	Hostile       int
	HostileCapped bool
	// FailureSpike is the number of failed logins from which an hour
	// counts as an attack hour.
	FailureSpike int64
}

// hostileTypes are the events counted against a source or an account:
// attempts refused by a check, a limit or a block, and sessions that
// changed hands.
var hostileTypes = []secmon.EventType{
	secmon.EventLoginFailure, secmon.EventMFAFailure, secmon.EventRateLimited, secmon.EventAccessDenied,
	secmon.EventUploadBlocked, secmon.EventSessionAnomaly, secmon.EventAccessBlocked,
}

// topN is the length of the source and account lists.
const topN = 10

// minFailureSpike is the fewest failed logins that make an hour an attack
// hour on their own; a window whose typical hour sees many failed logins
// needs three times its median.
const minFailureSpike = 10

// attack says why an hour is an attack hour; the zero value is a quiet
// hour.
type attack struct {
	Alerts   int   // alerts first seen in the hour
	Failures int64 // failed logins, when they reached the spike threshold
	High     int64 // events of high or critical severity
}

// Marked reports whether the hour is an attack hour.
func (a attack) Marked() bool { return a.Alerts > 0 || a.Failures > 0 || a.High > 0 }

// Codes is the short form of the reasons, for the text table:
// "alerts,logins,high" or a subset.
func (a attack) Codes() string {
	var c []string
	if a.Alerts > 0 {
		c = append(c, "alerts")
	}
	if a.Failures > 0 {
		c = append(c, "logins")
	}
	if a.High > 0 {
		c = append(c, "high")
	}
	return strings.Join(c, ",")
}

// String is the long form of the reasons, for tooltips and the HTML table.
func (a attack) String() string {
	var c []string
	if a.Alerts > 0 {
		c = append(c, plural(int64(a.Alerts), "alert", "alerts")+" opened")
	}
	if a.Failures > 0 {
		c = append(c, plural(a.Failures, "failed login", "failed logins"))
	}
	if a.High > 0 {
		c = append(c, plural(a.High, "high or critical event", "high or critical events"))
	}
	return strings.Join(c, ", ")
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// sourceRow is one IP group of the top sources.
type sourceRow struct {
	Group        netip.Prefix
	Events       int64 // hostile events from the group
	FailedLogins int64
	Accounts     int64 // distinct accounts those events named
	LastSeen     time.Time
}

// accountRow is one account of the targeted accounts.
type accountRow struct {
	UserID       string
	Events       int64 // hostile events about the account
	FailedLogins int64
	Sources      int64 // distinct IP groups those events came from
	LastSeen     time.Time
}

// actionRow is one suggested response: an action on a subject, with the
// rules whose alerts suggest it.
type actionRow struct {
	Kind     secmon.ActionKind
	Subject  string
	Duration time.Duration // for ActionBlock: the longest suggested
	Severity secmon.Severity
	Rules    []secmon.RuleName
}

// Text is the action in words.
func (a actionRow) Text() string {
	switch a.Kind {
	case secmon.ActionBlock:
		if a.Duration > 0 {
			return "block " + a.Subject + " for " + shortDuration(a.Duration)
		}
		return "block " + a.Subject
	case secmon.ActionStepUp:
		return "require re-authentication (step-up) for " + a.Subject
	default:
		return "review " + a.Subject
	}
}

// RuleList is the rules, comma-separated.
func (a actionRow) RuleList() string {
	s := make([]string, len(a.Rules))
	for i, r := range a.Rules {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// shortDuration renders d without zero units: 1h, 15m, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
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

	hostile, err := store.QueryEvents(ctx, secmon.EventQuery{From: from, To: to, Types: hostileTypes, Limit: secmon.MaxQueryLimit})
	if err != nil {
		return nil, fmt.Errorf("hostile events: %w", err)
	}

	r := &report{From: from, To: to, Source: source, Summary: sum, Hours: hours, Alerts: alerts,
		Hostile: len(hostile), HostileCapped: len(hostile) == secmon.MaxQueryLimit}
	r.markAttacks()
	r.rank(hostile)
	r.suggest()
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

// markAttacks finds the attack hours: an alert was first seen in the hour,
// its failed logins reached FailureSpike (the larger of minFailureSpike and
// three times the window's median hour), or it held a high or critical
// event.
func (r *report) markAttacks() {
	failures := make([]int64, len(r.Hours))
	for i, h := range r.Hours {
		failures[i] = h.LoginFailures
	}
	slices.Sort(failures)
	var median int64
	if n := len(failures); n > 0 {
		median = failures[n/2]
		if n%2 == 0 {
			median = (failures[n/2-1] + failures[n/2]) / 2
		}
	}
	r.FailureSpike = max(minFailureSpike, 3*median)
	r.Attacks = make([]attack, len(r.Hours))
	for i, h := range r.Hours {
		a := &r.Attacks[i]
		if h.LoginFailures >= r.FailureSpike {
			a.Failures = h.LoginFailures
		}
		a.High = h.HighSeverity
		for _, al := range r.Alerts {
			if !al.FirstSeen.Before(h.Start) && al.FirstSeen.Before(h.Start.Add(time.Hour)) {
				a.Alerts++
			}
		}
	}
}

// rank counts the hostile events by source IP group and by account and
// keeps the topN of each.
func (r *report) rank(events []secmon.Event) {
	type src struct {
		row      sourceRow
		accounts map[string]struct{}
	}
	type acct struct {
		row     accountRow
		sources map[netip.Prefix]struct{}
	}
	sources := map[netip.Prefix]*src{}
	accounts := map[string]*acct{}
	for i := range events {
		e := &events[i]
		failed := int64(0)
		if e.Type == secmon.EventLoginFailure {
			failed = 1
		}
		g := secmon.IPGroup(e.IP)
		if g.IsValid() {
			s := sources[g]
			if s == nil {
				s = &src{row: sourceRow{Group: g}, accounts: map[string]struct{}{}}
				sources[g] = s
			}
			s.row.Events++
			s.row.FailedLogins += failed
			if e.Time.After(s.row.LastSeen) {
				s.row.LastSeen = e.Time
			}
			if e.UserID != "" {
				s.accounts[e.UserID] = struct{}{}
			}
		}
		if e.UserID != "" {
			a := accounts[e.UserID]
			if a == nil {
				a = &acct{row: accountRow{UserID: e.UserID}, sources: map[netip.Prefix]struct{}{}}
				accounts[e.UserID] = a
			}
			a.row.Events++
			a.row.FailedLogins += failed
			if e.Time.After(a.row.LastSeen) {
				a.row.LastSeen = e.Time
			}
			if g.IsValid() {
				a.sources[g] = struct{}{}
			}
		}
	}
	for _, s := range sources {
		s.row.Accounts = int64(len(s.accounts))
		r.Sources = append(r.Sources, s.row)
	}
	slices.SortFunc(r.Sources, func(a, b sourceRow) int {
		return cmp.Or(cmp.Compare(b.Events, a.Events), b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Group.String(), b.Group.String()))
	})
	r.Sources = r.Sources[:min(len(r.Sources), topN)]
	for _, a := range accounts {
		a.row.Sources = int64(len(a.sources))
		r.Accounts = append(r.Accounts, a.row)
	}
	slices.SortFunc(r.Accounts, func(a, b accountRow) int {
		return cmp.Or(cmp.Compare(b.Events, a.Events), b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.UserID, b.UserID))
	})
	r.Accounts = r.Accounts[:min(len(r.Accounts), topN)]
}

// suggest gathers the alerts' suggested actions, one row per action and
// subject, most severe first.
func (r *report) suggest() {
	type key struct {
		kind    secmon.ActionKind
		subject string
	}
	rows := map[key]*actionRow{}
	var order []key
	for _, a := range r.Alerts {
		if a.Action.Kind == "" || a.Status != secmon.AlertOpen {
			continue
		}
		k := key{a.Action.Kind, a.Subject}
		row := rows[k]
		if row == nil {
			row = &actionRow{Kind: a.Action.Kind, Subject: a.Subject}
			rows[k] = row
			order = append(order, k)
		}
		row.Duration = max(row.Duration, a.Action.Duration)
		row.Severity = max(row.Severity, a.Severity)
		if !slices.Contains(row.Rules, a.Rule) {
			row.Rules = append(row.Rules, a.Rule)
		}
	}
	for _, k := range order {
		r.Actions = append(r.Actions, *rows[k])
	}
	weight := map[secmon.ActionKind]int{secmon.ActionBlock: 2, secmon.ActionStepUp: 1}
	slices.SortStableFunc(r.Actions, func(a, b actionRow) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(weight[b.Kind], weight[a.Kind]))
	})
}

// TwoDays reports whether the window spans two calendar days (UTC), in
// which case times carry their date.
func (r *report) TwoDays() bool {
	return r.From.UTC().Format(time.DateOnly) != r.To.Add(-time.Nanosecond).UTC().Format(time.DateOnly)
}

// When renders a time of the window: "15:04", or "2006-01-02 15:04" when
// the window spans two days.
func (r *report) When(t time.Time) string {
	if r.TwoDays() {
		return t.UTC().Format("2006-01-02 15:04")
	}
	return t.UTC().Format("15:04")
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

// HostileNote says what the source and account lists count.
func (r *report) HostileNote() string { return r.hostileNote() }

// hostileNote says what the source and account lists count.
func (r *report) hostileNote() string {
	if r.HostileCapped {
		return fmt.Sprintf("the newest %d hostile events of the window: failed logins, refused, limited and blocked requests, blocked uploads, session anomalies", r.Hostile)
	}
	return plural(int64(r.Hostile), "hostile event", "hostile events") + ": failed logins, refused, limited and blocked requests, blocked uploads, session anomalies"
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

	fmt.Fprintf(&b, "\nTop source IP groups (%s)\n", r.hostileNote())
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  ip group\tevents\tfailed logins\taccounts\tlast seen\n")
	for _, s := range r.Sources {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", s.Group, s.Events, s.FailedLogins, s.Accounts, r.When(s.LastSeen))
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nTargeted accounts (the same events)\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  account\tevents\tfailed logins\tsources\tlast seen\n")
	for _, a := range r.Accounts {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", a.UserID, a.Events, a.FailedLogins, a.Sources, r.When(a.LastSeen))
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nSuggested actions (%d, from the open alerts)\n", len(r.Actions))
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, a := range r.Actions {
		dur := ""
		if a.Kind == secmon.ActionBlock && a.Duration > 0 {
			dur = "for " + shortDuration(a.Duration)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", a.Kind, a.Subject, dur, a.Severity, a.RuleList())
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nAlerts opened (%d)\n", len(r.Alerts))
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, a := range r.Alerts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\tcount %d\t%s\n", r.When(a.FirstSeen), a.Severity, a.Rule, a.Subject, a.Count, a.Status)
	}
	tw.Flush()

	b.WriteString("\nHourly breakdown (UTC)\n")
	peak := int64(0)
	for _, h := range r.Hours {
		peak = max(peak, h.Events)
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  hour\tevents\tfailed logins\tuploads blocked\thigh+\tattack\t\n")
	for i, h := range r.Hours {
		bar := ""
		if peak > 0 && h.Events > 0 {
			mark := "#"
			if r.attackAt(i).Marked() {
				mark = "!"
			}
			bar = " " + strings.Repeat(mark, int((h.Events*30+peak-1)/peak))
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%s\t%s\n", h.Start.UTC().Format("15:04"), h.Events, h.LoginFailures, h.UploadsBlocked, h.HighSeverity, r.attackAt(i).Codes(), bar)
	}
	tw.Flush()
	fmt.Fprintf(&b, "  attack: alerts = an alert opened; logins = at least %d failed logins; high = a high or critical event\n", r.FailureSpike)
	var out strings.Builder
	for line := range strings.Lines(b.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}
