package pgstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/querylimit"
)

func validateAlert(i int, a *secmon.Alert) error {
	field := func(name string) string { return fmt.Sprintf("alerts[%d].%s", i, name) }
	switch {
	case a.Rule == "":
		return invalid(field("Rule"), "is required")
	case a.Subject == "":
		return invalid(field("Subject"), "is required")
	case a.LastSeen.IsZero():
		return invalid(field("LastSeen"), "is zero")
	case !a.FirstSeen.IsZero() && a.FirstSeen.After(a.LastSeen):
		return invalid(field("FirstSeen"), "is after LastSeen")
	case !a.Severity.Valid():
		return invalid(field("Severity"), "is out of range")
	case a.Count < 0:
		return invalid(field("Count"), "is negative")
	}
	return nil
}

// mergeAlerts merges alerts for the same (Rule, Subject) the way the store
// merges them into an open alert, and fills defaults: a zero Count counts as
// one, a zero ID gets a fresh one, a zero FirstSeen is LastSeen. The result
// is ordered by (Rule, Subject), the order rows are locked in.
func mergeAlerts(alerts []secmon.Alert) []secmon.Alert {
	type key struct {
		rule    secmon.RuleName
		subject string
	}
	byKey := make(map[key]int, len(alerts))
	out := make([]secmon.Alert, 0, len(alerts))
	for _, a := range alerts {
		if a.Count == 0 {
			a.Count = 1
		}
		k := key{a.Rule, a.Subject}
		j, ok := byKey[k]
		if !ok {
			if a.ID == (uuid.UUID{}) {
				a.ID = secmon.NewID()
			}
			if a.FirstSeen.IsZero() {
				a.FirstSeen = a.LastSeen
			}
			a.Status = secmon.AlertOpen
			byKey[k] = len(out)
			out = append(out, a)
			continue
		}
		m := &out[j]
		m.Count += a.Count
		m.Severity = max(m.Severity, a.Severity)
		if !a.LastSeen.Before(m.LastSeen) {
			m.LastSeen = a.LastSeen
			m.Summary, m.Evidence, m.Action = a.Summary, a.Evidence, a.Action
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		return out[i].Subject < out[j].Subject
	})
	return out
}

// UpsertAlerts merges each alert into the open alert with the same (Rule,
// Subject) with one INSERT ... ON CONFLICT (rule, subject) WHERE status =
// 'open' statement built from column arrays, so deduplication holds across
// every instance sharing the database. Alerts for the same pair within the
// batch are merged first. A new alert keeps its ID unless the ID is zero or
// already belongs to a stored alert (a writer still holding the ID of an
// alert resolved meanwhile); then it gets a fresh one. The schema announces each inserted or changed
// alert on AlertChannel.
func (s *Store) UpsertAlerts(ctx context.Context, alerts []secmon.Alert) error {
	const op = "upsert alerts"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	for i := range alerts {
		if err := validateAlert(i, &alerts[i]); err != nil {
			return err
		}
	}
	if len(alerts) == 0 {
		return nil
	}
	merged := mergeAlerts(alerts)
	n := len(merged)
	var (
		ids, fresh                        = make([][16]byte, n), make([][16]byte, n)
		rules, subjects, summaries, kinds = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		evidence                          = make([]string, n)
		sevs                              = make([]int16, n)
		counts, actionMS                  = make([]int64, n), make([]int64, n)
		firsts, lasts                     = make([]time.Time, n), make([]time.Time, n)
	)
	for i, a := range merged {
		ev, err := encodeMap(a.Evidence)
		if err != nil {
			return invalid(fmt.Sprintf("alert %q/%q Evidence", truncate(string(a.Rule), 64), truncate(a.Subject, 64)), "cannot be encoded: "+err.Error())
		}
		ids[i], fresh[i], rules[i], subjects[i], sevs[i] = a.ID, secmon.NewID(), string(a.Rule), a.Subject, int16(a.Severity)
		counts[i], firsts[i], lasts[i] = a.Count, a.FirstSeen, a.LastSeen
		summaries[i], evidence[i], kinds[i], actionMS[i] = a.Summary, string(ev), string(a.Action.Kind), a.Action.Duration.Milliseconds()
	}
	newer := func(col string) string {
		return col + " = CASE WHEN EXCLUDED.last_seen >= t.last_seen THEN EXCLUDED." + col + " ELSE t." + col + " END"
	}
	sql := `INSERT INTO ` + s.alerts + ` AS t (id, rule, subject, severity, status, count, first_seen, last_seen,
 summary, evidence, action_kind, action_duration_ms, updated_at)
SELECT CASE WHEN EXISTS (SELECT 1 FROM ` + s.alerts + ` x WHERE x.id = u.id) THEN u.fresh_id ELSE u.id END,
 u.rule, u.subject, u.severity, 'open', u.count, u.first_seen, u.last_seen, u.summary, u.evidence,
 u.action_kind, u.action_ms, $12
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int2[], $5::int8[], $6::timestamptz[], $7::timestamptz[],
 $8::text[], $9::jsonb[], $10::text[], $11::int8[], $13::uuid[]) AS u(id, rule, subject, severity, count, first_seen,
 last_seen, summary, evidence, action_kind, action_ms, fresh_id)
ON CONFLICT (rule, subject) WHERE status = 'open' DO UPDATE SET
 count = t.count + EXCLUDED.count,
 severity = greatest(t.severity, EXCLUDED.severity),
 ` + newer("summary") + `, ` + newer("evidence") + `, ` + newer("action_kind") + `, ` + newer("action_duration_ms") + `,
 last_seen = greatest(t.last_seen, EXCLUDED.last_seen),
 updated_at = EXCLUDED.updated_at`
	return s.run(ctx, op, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, sql, ids, rules, subjects, sevs, counts, firsts, lasts, summaries, evidence, kinds, actionMS,
			s.opts.Clock.Now(), fresh)
		return err
	})
}

const alertSelect = `SELECT id, rule, subject, severity, status, count, first_seen, last_seen, summary, evidence,
 action_kind, action_duration_ms FROM `

func scanAlert(row pgx.Row) (secmon.Alert, error) {
	var (
		a        secmon.Alert
		sev      int16
		status   string
		kind     string
		actionMS int64
		evidence []byte
	)
	if err := row.Scan((*[16]byte)(&a.ID), &a.Rule, &a.Subject, &sev, &status, &a.Count, &a.FirstSeen, &a.LastSeen,
		&a.Summary, &evidence, &kind, &actionMS); err != nil {
		return a, err
	}
	a.Severity, a.Status = secmon.Severity(sev), secmon.AlertStatus(status)
	a.FirstSeen, a.LastSeen = a.FirstSeen.UTC(), a.LastSeen.UTC()
	a.Action = secmon.Action{Kind: secmon.ActionKind(kind), Duration: time.Duration(actionMS) * time.Millisecond}
	var err error
	a.Evidence, err = decodeMap(evidence)
	return a, err
}

// Alerts returns matching alerts, most recently seen first (ties by ID
// descending), at most querylimit.Clamp(q.Limit).
func (s *Store) Alerts(ctx context.Context, q secmon.AlertQuery) ([]secmon.Alert, error) {
	const op = "query alerts"
	var w where
	if q.Status != "" {
		if !q.Status.Valid() {
			return nil, invalid("Status", "is not open, acknowledged or resolved")
		}
		w.add("status = ?", string(q.Status))
	}
	if q.Rule != "" {
		w.add("rule = ?", q.Rule)
	}
	if q.Subject != "" {
		w.add("subject = ?", q.Subject)
	}
	if !q.Since.IsZero() {
		w.add("last_seen >= ?", q.Since)
	}
	if !q.MinSeverity.Valid() {
		return nil, invalid("MinSeverity", "is out of range")
	}
	if q.MinSeverity > 0 {
		w.add("severity >= ?", int16(q.MinSeverity))
	}
	limit := querylimit.Clamp(q.Limit)
	sql := alertSelect + s.alerts + w.String() + ` ORDER BY last_seen DESC, id DESC LIMIT ` + strconv.Itoa(limit)
	return collect(ctx, s, op, nil, min(limit, 64), scanAlert, sql, w.args...)
}

// alert returns one alert by ID through q (the pool or a listening
// connection).
func (s *Store) alert(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id uuid.UUID) (secmon.Alert, error) {
	var a secmon.Alert
	err := s.run(ctx, "get alert", func(ctx context.Context) error {
		var err error
		a, err = scanAlert(q.QueryRow(ctx, alertSelect+s.alerts+` WHERE id = $1`, [16]byte(id)))
		return err
	})
	return a, err
}

// SetAlertStatus moves an alert to status. It returns an error matching
// secmon.ErrNotFound when the ID is unknown, and one matching
// secmon.ErrInvalid for an invalid status or for reopening an alert while
// another alert for its (Rule, Subject) is open.
func (s *Store) SetAlertStatus(ctx context.Context, id uuid.UUID, status secmon.AlertStatus) error {
	const op = "set alert status"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	if !status.Valid() {
		return invalid("status", "is not open, acknowledged or resolved")
	}
	return s.run(ctx, op, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `UPDATE `+s.alerts+` SET status = $2, updated_at = $3 WHERE id = $1 AND status IS DISTINCT FROM $2`,
			[16]byte(id), string(status), s.opts.Clock.Now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+s.alerts+` WHERE id = $1)`, [16]byte(id)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return &Error{Op: op, msg: "no alert " + id.String(), kinds: []error{secmon.ErrNotFound}}
		}
		return nil
	})
}
