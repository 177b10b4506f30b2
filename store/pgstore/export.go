package pgstore

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/secmon-go/secmon"
)

// exportPage is how many rows ExportUser reads per query.
const exportPage = 1000

// ExportUser writes userID's events, activity, sessions, the alerts whose
// subject is the user (secmon.AlertAboutUser) and the blocks on the account
// (secmon.BlockOnUser, in force or not) to w as JSON lines: the rows
// EraseUser removes. Each kind is read in pages of exportPage rows
// in key order (time and ID for events and activity), each page its own
// query, so memory stays bounded for millions of rows, no transaction is
// held open while w is slow, and a failed page is retried like any read.
// Rows written while the export runs may or may not be included. The empty
// user ID is invalid.
func (s *Store) ExportUser(ctx context.Context, userID string, w io.Writer) error {
	const op = "export user"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	if userID == "" {
		return invalid("userID", "is empty")
	}
	out := secmon.NewExportWriter(w)
	if err := s.exportEvents(ctx, op, userID, out); err != nil {
		return err
	}
	if err := s.exportActivity(ctx, op, userID, out); err != nil {
		return err
	}
	if err := s.exportSessions(ctx, op, userID, out); err != nil {
		return err
	}
	if err := s.exportAlerts(ctx, op, userID, out); err != nil {
		return err
	}
	if err := s.exportBlocks(ctx, op, userID, out); err != nil {
		return err
	}
	return out.Flush()
}

var minTime = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}

// exportQuery is one kind of row ExportUser writes, read in pages of
// exportPage rows keyed by the last row of the page before.
type exportQuery[T any] struct {
	sql    string
	buf    int                      // capacity of the page buffer
	scan   func(pgx.Row) (T, error) // reads one row of sql
	first  []any                    // sql's arguments for the first page
	after  func(last *T) []any      // sql's arguments for the page after last
	record func(*T) secmon.ExportRecord
}

// exportPages writes q's rows to out, each page its own query under op (see
// run), reusing one page buffer.
func exportPages[T any](ctx context.Context, s *Store, op string, q exportQuery[T], out *secmon.ExportWriter) error {
	var page []T
	args := q.first
	for {
		var err error
		if page, err = collect(ctx, s, op, page, q.buf, q.scan, q.sql, args...); err != nil {
			return err
		}
		for i := range page {
			if err := out.Write(q.record(&page[i])); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		args = q.after(&page[len(page)-1])
	}
}

// byTimeID selects user $1's rows after the row ($2, $3) in (created_at,
// id) order, a page at a time; firstByTimeID and afterTimeID give its
// arguments.
var byTimeID = ` WHERE user_id = $1 AND (created_at, id) > ($2, $3)
 ORDER BY created_at, id LIMIT ` + strconv.Itoa(exportPage)

// afterTimeID is byTimeID's arguments for userID's page after the row
// (at, id).
func afterTimeID(userID string, at time.Time, id [16]byte) []any {
	return []any{userID, pgtype.Timestamptz{Time: at, Valid: true}, pgtype.UUID{Bytes: id, Valid: true}}
}

// firstByTimeID is byTimeID's arguments for userID's first page.
func firstByTimeID(userID string) []any { return []any{userID, minTime, pgtype.UUID{Valid: true}} }

func (s *Store) exportEvents(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	return exportPages(ctx, s, op, exportQuery[secmon.Event]{
		sql:   eventSelect + s.events + byTimeID,
		buf:   exportPage,
		scan:  scanEvent,
		first: firstByTimeID(userID),
		after: func(e *secmon.Event) []any { return afterTimeID(userID, e.Time, e.ID) },
		record: func(e *secmon.Event) secmon.ExportRecord {
			return secmon.ExportRecord{Kind: secmon.ExportEvent, Event: e}
		},
	}, out)
}

// scanEvent reads one row of eventSelect.
func scanEvent(row pgx.Row) (secmon.Event, error) {
	var (
		e     secmon.Event
		typ   string
		sev   int16
		acc   int32
		durUS int64
		meta  []byte
	)
	if err := row.Scan((*[16]byte)(&e.ID), &e.Time, &typ, &sev, &e.UserID, &e.SessionID, &e.OrgID, &e.IP,
		&e.UserAgent, &e.Fingerprint, &e.Geo.Country, &e.Geo.Region, &e.Geo.City, &e.Geo.Latitude,
		&e.Geo.Longitude, &acc, &durUS, &meta); err != nil {
		return e, err
	}
	e.Time = e.Time.UTC()
	e.Type = secmon.EventType(typ)
	e.Severity = secmon.Severity(sev)
	e.Geo.AccuracyKM = int(acc)
	e.Duration = time.Duration(durUS) * time.Microsecond
	var err error
	e.Metadata, err = decodeMap(meta)
	return e, err
}

func (s *Store) exportActivity(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	return exportPages(ctx, s, op, exportQuery[secmon.Activity]{
		sql:   activitySelect + s.activity + byTimeID,
		buf:   exportPage,
		scan:  scanActivity,
		first: firstByTimeID(userID),
		after: func(a *secmon.Activity) []any { return afterTimeID(userID, a.Time, a.ID) },
		record: func(a *secmon.Activity) secmon.ExportRecord {
			return secmon.ExportRecord{Kind: secmon.ExportActivity, Activity: a}
		},
	}, out)
}

func (s *Store) exportSessions(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	return exportPages(ctx, s, op, exportQuery[secmon.Session]{
		sql:   sessionSelect + s.sessions + ` WHERE user_id = $1 AND session_id > $2 ORDER BY session_id LIMIT ` + strconv.Itoa(exportPage),
		buf:   exportPage,
		scan:  scanSession,
		first: []any{userID, ""},
		after: func(x *secmon.Session) []any { return []any{userID, x.SessionID} },
		record: func(x *secmon.Session) secmon.ExportRecord {
			return secmon.ExportRecord{Kind: secmon.ExportSession, Session: x}
		},
	}, out)
}

// userAlertCond selects the alerts about user $1 (secmon.AlertAboutUser).
const userAlertCond = `(subject = 'user:' || $1 OR lower(subject) = lower('user:' || btrim($1)))`

func (s *Store) exportAlerts(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	return exportPages(ctx, s, op, exportQuery[secmon.Alert]{
		sql:   alertSelect + s.alerts + ` WHERE ` + userAlertCond + ` AND id > $2 ORDER BY id LIMIT ` + strconv.Itoa(exportPage),
		buf:   64,
		scan:  scanAlert,
		first: []any{userID, pgtype.UUID{Valid: true}},
		after: func(a *secmon.Alert) []any { return []any{userID, pgtype.UUID{Bytes: a.ID, Valid: true}} },
		record: func(a *secmon.Alert) secmon.ExportRecord {
			return secmon.ExportRecord{Kind: secmon.ExportAlert, Alert: a}
		},
	}, out)
}

// userBlockCond selects the blocks on user $1's account
// (secmon.BlockOnUser): the alerts' condition on the block's subject.
const userBlockCond = `scope = 'user' AND ` + userAlertCond

func (s *Store) exportBlocks(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	return exportPages(ctx, s, op, exportQuery[secmon.Block]{
		sql:   blockSelect + s.blocks + ` WHERE ` + userBlockCond + ` AND id > $2 ORDER BY id LIMIT ` + strconv.Itoa(exportPage),
		buf:   16,
		scan:  scanBlock,
		first: []any{userID, pgtype.UUID{Valid: true}},
		after: func(b *secmon.Block) []any { return []any{userID, pgtype.UUID{Bytes: b.ID, Valid: true}} },
		record: func(b *secmon.Block) secmon.ExportRecord {
			return secmon.ExportRecord{Kind: secmon.ExportBlock, Block: b}
		},
	}, out)
}
