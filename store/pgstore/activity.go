package pgstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/querylimit"
)

var activityColumns = []string{"id", "created_at", "user_id", "session_id", "org_id", "action", "resource", "metadata"}

// InsertActivities stores a batch with COPY, skipping rows whose ID is
// already stored or repeated in the batch (see InsertEvents). A row without
// ID, Time, UserID or Action rejects the batch with an error matching
// secmon.ErrInvalid.
func (s *Store) InsertActivities(ctx context.Context, activities []secmon.Activity) error {
	const op = "insert activities"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	meta := make([][]byte, len(activities))
	for i := range activities {
		a := &activities[i]
		field := func(name string) string { return fmt.Sprintf("activities[%d].%s", i, name) }
		switch {
		case a.ID == [16]byte{}:
			return invalid(field("ID"), "is zero")
		case a.Time.IsZero():
			return invalid(field("Time"), "is zero")
		case a.UserID == "":
			return invalid(field("UserID"), "is required")
		case a.Action == "":
			return invalid(field("Action"), "is required")
		}
		m, err := encodeMap(a.Metadata)
		if err != nil {
			return invalid(field("Metadata"), "cannot be encoded: "+err.Error())
		}
		meta[i] = m
	}
	fill := func(i int, row []any) {
		a := &activities[i]
		row[0] = [16]byte(a.ID)
		row[1] = a.Time
		row[2] = a.UserID
		row[3] = nullText(a.SessionID)
		row[4] = nullText(a.OrgID)
		row[5] = a.Action
		row[6] = nullText(a.Resource)
		row[7] = meta[i]
	}
	return s.copyIdempotent(ctx, op, pgx.Identifier{s.opts.Schema, "user_activity"}, "(id)", activityColumns, len(activities), fill)
}

const activitySelect = `SELECT id, created_at, user_id, coalesce(session_id, ''), coalesce(org_id, ''), action,
 coalesce(resource, ''), metadata FROM `

// scanActivity reads one row of activitySelect.
func scanActivity(row pgx.Row) (secmon.Activity, error) {
	var (
		a    secmon.Activity
		meta []byte
	)
	if err := row.Scan((*[16]byte)(&a.ID), &a.Time, &a.UserID, &a.SessionID, &a.OrgID, &a.Action,
		&a.Resource, &meta); err != nil {
		return a, err
	}
	a.Time = a.Time.UTC()
	var err error
	a.Metadata, err = decodeMap(meta)
	return a, err
}

// Activities returns matching rows, newest first (ties by ID descending), at
// most querylimit.Clamp(q.Limit).
func (s *Store) Activities(ctx context.Context, q secmon.ActivityQuery) ([]secmon.Activity, error) {
	const op = "query activities"
	if err := checkRange(q.From, q.To); err != nil {
		return nil, err
	}
	var w where
	if !q.From.IsZero() {
		w.add("created_at >= ?", q.From)
	}
	if !q.To.IsZero() {
		w.add("created_at < ?", q.To)
	}
	if q.UserID != "" {
		w.add("user_id = ?", q.UserID)
	}
	if q.Action != "" {
		w.add("action = ?", q.Action)
	}
	limit := querylimit.Clamp(q.Limit)
	sql := activitySelect + s.activity + w.String() + ` ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(limit)
	return collect(ctx, s, op, nil, min(limit, 256), scanActivity, sql, w.args...)
}
