package storetest

import (
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

var reportTests = []test{
	{"Summary", testSummary},
	{"SummaryEmpty", testSummaryEmpty},
	{"HourlyAligned", testHourlyAligned},
	{"HourlyUnaligned", testHourlyUnaligned},
	{"HourlyMatchesSummary", testHourlyMatchesSummary},
	{"HourlyBounds", testHourlyBounds},
}

// reportFixture stores events and alerts around [base, base+3h).
func reportFixture(t *testing.T, s secmon.Store) {
	t.Helper()
	ev := func(min int, typ secmon.EventType, sev secmon.Severity, d time.Duration) secmon.Event {
		return secmon.Event{ID: secmon.NewID(), Time: base.Add(time.Duration(min) * time.Minute), Type: typ, Severity: sev, Duration: d}
	}
	ms := time.Millisecond
	insertEvents(t, s,
		ev(-1, secmon.EventLoginFailure, secmon.SeverityCritical, 0), // before the range
		ev(10, secmon.EventLoginFailure, secmon.SeverityHigh, 0),
		ev(20, secmon.EventLoginFailure, secmon.SeverityMedium, 0),
		ev(30, secmon.EventUploadAccepted, secmon.SeverityInfo, 10*ms),
		ev(70, secmon.EventUploadBlocked, secmon.SeverityHigh, 30*ms),
		ev(80, secmon.EventUploadBlocked, secmon.SeverityCritical, 20*ms),
		ev(90, secmon.EventPageView, secmon.SeverityInfo, 5*time.Second), // not an upload: not in AvgValidation
		ev(150, secmon.EventLoginSuccess, secmon.SeverityLow, 0),
		ev(180, secmon.EventUploadBlocked, secmon.SeverityHigh, 90*ms), // at To: excluded
		ev(300, secmon.EventLoginFailure, secmon.SeverityHigh, 0),
	)
	in := alert("r", "in", secmon.SeverityHigh, 1, base.Add(5*time.Minute), base.Add(6*time.Minute), "in")
	inResolved := alert("r", "in-resolved", secmon.SeverityHigh, 1, base, base.Add(time.Minute), "in")
	before := alert("r", "before", secmon.SeverityHigh, 1, base.Add(-time.Hour), base.Add(time.Hour), "before")
	atEnd := alert("r", "end", secmon.SeverityHigh, 1, base.Add(3*time.Hour), base.Add(3*time.Hour), "end")
	upsertAlerts(t, s, in, inResolved, before, atEnd)
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), inResolved.ID, secmon.AlertResolved))
}

func testSummary(t *testing.T, s secmon.Store) {
	reportFixture(t, s)
	from, to := base, base.Add(3*time.Hour)
	got, err := s.Summary(ctx(t), from, to)
	noErr(t, "Summary", err)
	want := secmon.Summary{
		From: from, To: to, Events: 7,
		ByType: map[secmon.EventType]int64{
			secmon.EventLoginFailure: 2, secmon.EventUploadAccepted: 1, secmon.EventUploadBlocked: 2,
			secmon.EventPageView: 1, secmon.EventLoginSuccess: 1,
		},
		BySeverity: map[secmon.Severity]int64{
			secmon.SeverityInfo: 2, secmon.SeverityLow: 1, secmon.SeverityMedium: 1,
			secmon.SeverityHigh: 2, secmon.SeverityCritical: 1,
		},
		Uploads: 3, ThreatsBlocked: 2, AvgValidation: 20 * time.Millisecond,
		LoginFailures: 2, AlertsOpened: 2,
	}
	diff(t, "Summary", want, got)

	_, err = s.Summary(ctx(t), to, from)
	wantErrIs(t, "Summary with to before from", err, secmon.ErrInvalid)
}

func testSummaryEmpty(t *testing.T, s secmon.Store) {
	reportFixture(t, s)
	from, to := base.Add(24*time.Hour), base.Add(48*time.Hour)
	got, err := s.Summary(ctx(t), from, to)
	noErr(t, "Summary", err)
	diff(t, "Summary of an empty range", secmon.Summary{From: from, To: to}, got)
}

func checkBuckets(t *testing.T, what string, got, want []secmon.HourBucket) {
	t.Helper()
	diff(t, what, want, got)
	for _, b := range got {
		if b.Start.Location() != time.UTC {
			t.Errorf("%s: bucket Start %v is not in UTC", what, b.Start)
			break
		}
	}
}

func bucket(h int, events, lf, blocked, high int64) secmon.HourBucket {
	return secmon.HourBucket{Start: base.Add(time.Duration(h) * time.Hour), Events: events, LoginFailures: lf, UploadsBlocked: blocked, HighSeverity: high}
}

func testHourlyAligned(t *testing.T, s secmon.Store) {
	reportFixture(t, s)
	got, err := s.Hourly(ctx(t), base.Add(-time.Hour), base.Add(5*time.Hour))
	noErr(t, "Hourly", err)
	checkBuckets(t, "Hourly", got, []secmon.HourBucket{
		bucket(-1, 1, 1, 0, 1),
		bucket(0, 3, 2, 0, 1),
		bucket(1, 3, 0, 2, 2),
		bucket(2, 1, 0, 0, 0),
		bucket(3, 1, 0, 1, 1),
		bucket(4, 0, 0, 0, 0), // empty hours are present
	})

	// A from in another time zone still yields UTC buckets.
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	got, err = s.Hourly(ctx(t), base.In(zone), base.Add(2*time.Hour).In(zone))
	noErr(t, "Hourly", err)
	checkBuckets(t, "Hourly with zoned bounds", got, []secmon.HourBucket{bucket(0, 3, 2, 0, 1), bucket(1, 3, 0, 2, 2)})
}

// testHourlyUnaligned shows the rule for bounds inside an hour: buckets start
// at from truncated to the hour and run while Start < to, but only events in
// [from, to) are counted, exactly as Summary counts them.
func testHourlyUnaligned(t *testing.T, s secmon.Store) {
	reportFixture(t, s)
	got, err := s.Hourly(ctx(t), base.Add(30*time.Minute), base.Add(2*time.Hour+15*time.Minute))
	noErr(t, "Hourly", err)
	checkBuckets(t, "Hourly with unaligned bounds", got, []secmon.HourBucket{
		bucket(0, 1, 0, 0, 0), // the events at :10 and :20 are before from
		bucket(1, 3, 0, 2, 2),
		bucket(2, 0, 0, 0, 0), // the event at 2:30 is after to
	})
}

func testHourlyMatchesSummary(t *testing.T, s secmon.Store) {
	reportFixture(t, s)
	from, to := base.Add(-17*time.Minute), base.Add(2*time.Hour+41*time.Minute)
	sum, err := s.Summary(ctx(t), from, to)
	noErr(t, "Summary", err)
	hours, err := s.Hourly(ctx(t), from, to)
	noErr(t, "Hourly", err)
	var events, lf, blocked, high int64
	for _, b := range hours {
		events += b.Events
		lf += b.LoginFailures
		blocked += b.UploadsBlocked
		high += b.HighSeverity
	}
	if events != sum.Events || lf != sum.LoginFailures || blocked != sum.ThreatsBlocked ||
		high != sum.BySeverity[secmon.SeverityHigh]+sum.BySeverity[secmon.SeverityCritical] {
		t.Errorf("hourly totals (events %d, login failures %d, blocked %d, high %d) disagree with Summary %+v",
			events, lf, blocked, high, sum)
	}
	if events != 8 {
		t.Errorf("hourly events total = %d, want 8", events)
	}
}

func testHourlyBounds(t *testing.T, s secmon.Store) {
	reportFixture(t, s)
	got, err := s.Hourly(ctx(t), base, base)
	noErr(t, "Hourly over an empty range", err)
	if len(got) != 0 {
		t.Errorf("Hourly(from, from) = %d buckets, want 0", len(got))
	}
	_, err = s.Hourly(ctx(t), base, base.Add(-time.Hour))
	wantErrIs(t, "Hourly with to before from", err, secmon.ErrInvalid)

	got, err = s.Hourly(ctx(t), base, base.Add(secmon.MaxQueryLimit*time.Hour))
	noErr(t, "Hourly over MaxQueryLimit hours", err)
	if len(got) != secmon.MaxQueryLimit {
		t.Errorf("Hourly over MaxQueryLimit hours = %d buckets, want %d", len(got), secmon.MaxQueryLimit)
	} else if !got[len(got)-1].Start.Equal(base.Add((secmon.MaxQueryLimit - 1) * time.Hour)) {
		t.Errorf("last bucket starts at %v", got[len(got)-1].Start)
	}
	_, err = s.Hourly(ctx(t), base, base.Add((secmon.MaxQueryLimit+1)*time.Hour))
	wantErrIs(t, "Hourly over more than MaxQueryLimit hours", err, secmon.ErrInvalid)
}
