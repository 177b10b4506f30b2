package memstore

import (
	"context"
	"time"

	"github.com/secmon-go/secmon"
)

// Summary aggregates the events in [from, to) and counts the alerts whose
// FirstSeen is in that range. A zero from or to, or to before from, is an
// error matching secmon.ErrInvalid. It reads only the events in the range.
func (s *Store) Summary(ctx context.Context, from, to time.Time) (secmon.Summary, error) {
	if err := ctx.Err(); err != nil {
		return secmon.Summary{}, err
	}
	if err := checkBounds(from, to); err != nil {
		return secmon.Summary{}, err
	}
	sum := secmon.Summary{From: from, To: to}
	var uploadTime time.Duration
	s.evMu.RLock()
	lo, hi := s.eventRange(from, to)
	if hi > lo {
		sum.ByType = make(map[secmon.EventType]int64)
		sum.BySeverity = make(map[secmon.Severity]int64)
	}
	for i := lo; i < hi; i++ {
		e := s.events.at(i)
		sum.Events++
		sum.ByType[e.Type]++
		sum.BySeverity[e.Severity]++
		switch e.Type {
		case secmon.EventUploadBlocked:
			sum.ThreatsBlocked++
			fallthrough
		case secmon.EventUploadAccepted:
			sum.Uploads++
			uploadTime += e.Duration
		case secmon.EventLoginFailure:
			sum.LoginFailures++
		}
	}
	s.evMu.RUnlock()
	if sum.Uploads > 0 {
		sum.AvgValidation = uploadTime / time.Duration(sum.Uploads)
	}

	s.alertMu.RLock()
	for _, a := range s.alertByID {
		if !a.FirstSeen.Before(from) && a.FirstSeen.Before(to) {
			sum.AlertsOpened++
		}
	}
	s.alertMu.RUnlock()
	return sum, nil
}

// Hourly returns one bucket per hour from from truncated to the hour (UTC)
// while the bucket starts before to, oldest first, empty hours included.
// Only events in [from, to) are counted, so with bounds inside an hour the
// first and last buckets are partial and the totals equal Summary's. A range
// of more than secmon.MaxQueryLimit buckets, a zero from or to, or to before
// from, is an error matching secmon.ErrInvalid.
func (s *Store) Hourly(ctx context.Context, from, to time.Time) ([]secmon.HourBucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkBounds(from, to); err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, nil
	}
	start := from.Truncate(time.Hour).UTC()
	span := to.Sub(start) // saturates for absurd ranges, which then fail the check below
	n := int64(span / time.Hour)
	if span%time.Hour != 0 {
		n++
	}
	if n > secmon.MaxQueryLimit {
		return nil, invalid("hourly range spans %d hours, more than %d", n, secmon.MaxQueryLimit)
	}
	out := make([]secmon.HourBucket, n)
	for i := range out {
		out[i].Start = start.Add(time.Duration(i) * time.Hour)
	}
	s.evMu.RLock()
	lo, hi := s.eventRange(from, to)
	for i := lo; i < hi; i++ {
		e := s.events.at(i)
		b := &out[e.Time.Sub(start)/time.Hour]
		b.Events++
		switch e.Type {
		case secmon.EventLoginFailure:
			b.LoginFailures++
		case secmon.EventUploadBlocked:
			b.UploadsBlocked++
		}
		if e.Severity >= secmon.SeverityHigh {
			b.HighSeverity++
		}
	}
	s.evMu.RUnlock()
	return out, nil
}

// checkBounds requires a complete range that does not end before it starts.
func checkBounds(from, to time.Time) error {
	if from.IsZero() || to.IsZero() {
		return invalid("range needs both from and to")
	}
	return checkRange(from, to)
}
