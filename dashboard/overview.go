package dashboard

import (
	"cmp"
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/hourchart"
)

// failureTypes are the events the Overview ranks sources and accounts by:
// what an attacker leaves behind.
var failureTypes = []secmon.EventType{
	secmon.EventLoginFailure, secmon.EventMFAFailure, secmon.EventAccessDenied,
	secmon.EventRateLimited, secmon.EventUploadBlocked, secmon.EventAccessBlocked,
}

// Failed-login spikes: an hour is marked when its failed logins reach
// spikeMin and spikeFactor times the median hour of the chart.
const (
	spikeMin    = 20
	spikeFactor = 3
	topLimit    = 10
	// openAlertLimit bounds the open alerts read for the counts, and
	// recentAlertLimit the alerts of the last 24 hours read for the attack
	// hours and today's count; beyond them the page says "at least".
	openAlertLimit   = secmon.MaxQueryLimit
	recentAlertLimit = 1000
)

// severities, most severe first, as the pages list them.
var severities = []secmon.Severity{secmon.SeverityCritical, secmon.SeverityHigh, secmon.SeverityMedium, secmon.SeverityLow, secmon.SeverityInfo}

type sevCount struct {
	Severity secmon.Severity
	Count    int
	Link     string
}

type attackHour struct {
	Start    time.Time
	Alerts   int
	Rules    []string
	Failures int64
	Spike    bool
}

type topSource struct {
	secmon.TopSource
	Link string
}

type topAccount struct {
	secmon.TopAccount
	Link string
}

type healthView struct {
	secmon.Stats
	Status   string // "ok" or "degraded"
	Failures uint64 // writes failed, refused or dropped, all kinds
	Recent   bool   // LastError within the last 15 minutes
}

// today is the day's figures, summed from the hourly buckets of the chart
// (the day's hours are among its 24), so the Overview reads the event log
// once for both.
type today struct {
	Events, LoginFailures, UploadsBlocked, High int64
	AlertsOpened                                int
	AlertsCapped                                bool // more alerts were opened than read
}

type overviewView struct {
	DayStart, DayEnd time.Time
	Today            today

	Open       int
	OpenCapped bool
	BySeverity []sevCount
	Urgent     []secmon.Alert // the most severe open alerts
	OpenErr    bool

	Chart, ChartNarrow template.HTML
	ChartFrom, ChartTo time.Time
	Attacks            []attackHour
	ChartErr           bool
	RecentErr          bool // the attack hours lack the alerts

	Sources  []topSource
	Accounts []topAccount
	TopErr   bool

	Health *healthView

	Blocks    int
	BlocksErr bool
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	v := h.overviewData(r.Context())
	h.page(w, r, http.StatusOK, "overview", "Overview", v)
}

// overviewData reads the Overview's figures. The store reads run
// concurrently, each bounded by QueryTimeout; a failed read leaves its
// section marked unavailable and the rest of the page intact.
func (h *handler) overviewData(parent context.Context) *overviewView {
	ctx, cancel := context.WithTimeout(parent, h.cfg.QueryTimeout)
	defer cancel()
	now := h.cfg.Clock.Now().UTC()
	v := &overviewView{DayStart: now.Truncate(24 * time.Hour)}
	v.DayEnd = v.DayStart.Add(24 * time.Hour)
	v.ChartTo = now.Truncate(time.Hour).Add(time.Hour)
	v.ChartFrom = v.ChartTo.Add(-24 * time.Hour)

	var (
		wg     sync.WaitGroup
		hours  []secmon.HourBucket
		recent []secmon.Alert
		open   []secmon.Alert
		top    secmon.TopReport
		blocks []secmon.Block
		errs   [6]error
		record = func(i int, what string, err error) {
			errs[i] = err
			if err != nil {
				h.cfg.ErrorLog.Warn("dashboard: overview read failed", "what", what, "err", err)
			}
		}
	)
	run := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	run(func() {
		var err error
		hours, err = h.cfg.Store.Hourly(ctx, v.ChartFrom, v.ChartTo)
		record(0, "hourly", err)
	})
	run(func() {
		var err error
		recent, err = h.cfg.Store.Alerts(ctx, secmon.AlertQuery{Since: v.ChartFrom, Limit: recentAlertLimit})
		record(1, "recent alerts", err)
	})
	run(func() {
		var err error
		open, err = h.cfg.Store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen, Limit: openAlertLimit})
		record(2, "open alerts", err)
	})
	run(func() {
		var err error
		top, err = h.cfg.Store.Top(ctx, secmon.TopQuery{From: v.ChartFrom, To: v.ChartTo, Types: failureTypes, Limit: topLimit})
		record(3, "top", err)
	})
	if h.cfg.Guard != nil {
		run(func() {
			var err error
			blocks, err = h.cfg.Guard.List(ctx, secmon.BlockQuery{ActiveAt: now, Limit: secmon.MaxQueryLimit})
			record(4, "blocks", err)
		})
	}
	wg.Wait()

	for _, b := range hours {
		if !b.Start.Before(v.DayStart) {
			v.Today.Events += b.Events
			v.Today.LoginFailures += b.LoginFailures
			v.Today.UploadsBlocked += b.UploadsBlocked
			v.Today.High += b.HighSeverity
		}
	}
	for _, a := range recent {
		if !a.FirstSeen.Before(v.DayStart) {
			v.Today.AlertsOpened++
		}
	}
	v.Today.AlertsCapped = len(recent) >= recentAlertLimit

	v.OpenErr = errs[2] != nil
	v.Open, v.OpenCapped = len(open), len(open) >= openAlertLimit
	counts := map[secmon.Severity]int{}
	for _, a := range open {
		counts[a.Severity]++
	}
	for _, s := range severities {
		v.BySeverity = append(v.BySeverity, sevCount{Severity: s, Count: counts[s],
			Link: "alerts?" + url.Values{"severity": {s.String()}}.Encode()})
	}
	slices.SortStableFunc(open, func(a, b secmon.Alert) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), b.LastSeen.Compare(a.LastSeen))
	})
	v.Urgent = open[:min(len(open), 8)]

	v.ChartErr = errs[0] != nil
	v.RecentErr = errs[1] != nil
	if errs[0] == nil {
		v.Attacks = attackHours(hours, recent)
		marks := make([]hourchart.Mark, len(v.Attacks))
		for i, a := range v.Attacks {
			marks[i] = hourchart.Mark{Start: a.Start, Note: a.note()}
		}
		label := "Events and failed logins per hour, last 24 hours (UTC); marked hours had alerts or a failed-login spike"
		// Two layouts of one chart, the page's CSS shows one: SVG text
		// scales with the chart, so a phone needs fewer, larger labels.
		wide, err1 := hourchart.Build(hours, hourchart.Options{
			Width: 960, Height: 280, LabelEvery: 3, FontSize: 12, ID: "chart", Marks: marks, Label: label,
		}).Render()
		narrow, err2 := hourchart.Build(hours, hourchart.Options{
			Width: 400, Height: 240, LabelEvery: 6, FontSize: 13, ID: "chart-narrow", Marks: marks, Label: label,
		}).Render()
		if err := errors.Join(err1, err2); err != nil {
			h.cfg.ErrorLog.Error("dashboard: chart rendering failed", "err", err)
			v.ChartErr = true
		}
		v.Chart, v.ChartNarrow = wide, narrow
	}

	v.TopErr = errs[3] != nil
	from := formatTimeInput(v.ChartFrom)
	for _, s := range top.Sources {
		v.Sources = append(v.Sources, topSource{s, "events?" + url.Values{"ip": {ipParam(s.Group)}, "from": {from}}.Encode()})
	}
	for _, a := range top.Accounts {
		v.Accounts = append(v.Accounts, topAccount{a, "events?" + url.Values{"user": {a.UserID}, "from": {from}}.Encode()})
	}

	if h.cfg.Stats != nil {
		v.Health = health(h.cfg.Stats.Stats(), now)
	}
	v.BlocksErr = errs[4] != nil
	v.Blocks = len(blocks)
	return v
}

// attackHours finds the hours an operator should look at first: those in
// which alerts were opened, and those whose failed logins spiked.
func attackHours(hours []secmon.HourBucket, alerts []secmon.Alert) []attackHour {
	if len(hours) == 0 {
		return nil
	}
	fails := make([]int64, len(hours))
	for i, b := range hours {
		fails[i] = b.LoginFailures
	}
	slices.Sort(fails)
	median := fails[len(fails)/2]
	threshold := max(int64(spikeMin), spikeFactor*median)

	start := hours[0].Start
	byHour := make([]attackHour, len(hours))
	for i, b := range hours {
		byHour[i] = attackHour{Start: b.Start.UTC(), Failures: b.LoginFailures, Spike: b.LoginFailures >= threshold}
	}
	for _, a := range alerts {
		i := int(a.FirstSeen.Sub(start) / time.Hour)
		if a.FirstSeen.Before(start) || i >= len(byHour) {
			continue
		}
		byHour[i].Alerts++
		if !slices.Contains(byHour[i].Rules, string(a.Rule)) {
			byHour[i].Rules = append(byHour[i].Rules, string(a.Rule))
		}
	}
	var out []attackHour
	for _, a := range byHour {
		if a.Alerts > 0 || a.Spike {
			slices.Sort(a.Rules)
			out = append(out, a)
		}
	}
	return out
}

// note says why an hour is marked.
func (a attackHour) note() string {
	var parts []string
	if a.Alerts > 0 {
		s := strconv.Itoa(a.Alerts) + " alert"
		if a.Alerts > 1 {
			s += "s"
		}
		parts = append(parts, s+" opened ("+strings.Join(a.Rules, ", ")+")")
	}
	if a.Spike {
		parts = append(parts, formatInt(a.Failures)+" failed logins (spike)")
	}
	return strings.Join(parts, "; ")
}

// Note is note for templates.
func (a attackHour) Note() string { return a.note() }

// End is the end of the hour.
func (a attackHour) End() time.Time { return a.Start.Add(time.Hour) }

func health(s secmon.Stats, now time.Time) *healthView {
	v := &healthView{Stats: s}
	v.Failures = s.EventsFailed + s.EventsRejected + s.QueueFull + s.AlertsFailed + s.AlertsRejected + s.AlertsDropped +
		s.SessionsFailed + s.SessionsRejected + s.ActivitiesFailed + s.ActivitiesRejected + s.DetectDropped +
		s.NotifyFailures + s.NotifyDropped
	v.Recent = s.LastError != "" && now.Sub(s.LastErrorTime) < 15*time.Minute
	v.Status = "ok"
	if v.Recent {
		v.Status = "degraded"
	}
	return v
}
