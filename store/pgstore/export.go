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

func (s *Store) exportEvents(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	sql := eventSelect + s.events + ` WHERE user_id = $1 AND (created_at, id) > ($2, $3)
 ORDER BY created_at, id LIMIT ` + strconv.Itoa(exportPage)
	after, afterID := minTime, pgtype.UUID{Valid: true}
	page := make([]secmon.Event, 0, exportPage)
	for {
		page = page[:0]
		err := s.run(ctx, op, func(ctx context.Context) error {
			page = page[:0]
			rows, err := s.pool.Query(ctx, sql, userID, after, afterID)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				e, err := scanEvent(rows)
				if err != nil {
					return err
				}
				page = append(page, e)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		for i := range page {
			if err := out.Write(secmon.ExportRecord{Kind: secmon.ExportEvent, Event: &page[i]}); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		last := page[len(page)-1]
		after, afterID = pgtype.Timestamptz{Time: last.Time, Valid: true}, pgtype.UUID{Bytes: last.ID, Valid: true}
	}
}

// scanEvent reads one row of eventSelect.
func scanEvent(rows pgx.Rows) (secmon.Event, error) {
	var (
		e     secmon.Event
		typ   string
		sev   int16
		acc   int32
		durUS int64
		meta  []byte
	)
	if err := rows.Scan((*[16]byte)(&e.ID), &e.Time, &typ, &sev, &e.UserID, &e.SessionID, &e.OrgID, &e.IP,
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
	sql := activitySelect + s.activity + ` WHERE user_id = $1 AND (created_at, id) > ($2, $3)
 ORDER BY created_at, id LIMIT ` + strconv.Itoa(exportPage)
	after, afterID := minTime, pgtype.UUID{Valid: true}
	page := make([]secmon.Activity, 0, exportPage)
	for {
		err := s.run(ctx, op, func(ctx context.Context) error {
			page = page[:0]
			rows, err := s.pool.Query(ctx, sql, userID, after, afterID)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				a, err := scanActivity(rows)
				if err != nil {
					return err
				}
				page = append(page, a)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		for i := range page {
			if err := out.Write(secmon.ExportRecord{Kind: secmon.ExportActivity, Activity: &page[i]}); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		last := page[len(page)-1]
		after, afterID = pgtype.Timestamptz{Time: last.Time, Valid: true}, pgtype.UUID{Bytes: last.ID, Valid: true}
	}
}

func (s *Store) exportSessions(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	sql := sessionSelect + s.sessions + ` WHERE user_id = $1 AND session_id > $2 ORDER BY session_id LIMIT ` + strconv.Itoa(exportPage)
	after := ""
	page := make([]secmon.Session, 0, exportPage)
	for {
		err := s.run(ctx, op, func(ctx context.Context) error {
			page = page[:0]
			rows, err := s.pool.Query(ctx, sql, userID, after)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				x, err := scanSession(rows)
				if err != nil {
					return err
				}
				page = append(page, x)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		for i := range page {
			if err := out.Write(secmon.ExportRecord{Kind: secmon.ExportSession, Session: &page[i]}); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		after = page[len(page)-1].SessionID
	}
}

// userAlertCond selects the alerts about user $1 (secmon.AlertAboutUser).
const userAlertCond = `(subject = 'user:' || $1 OR lower(subject) = lower('user:' || btrim($1)))`

func (s *Store) exportAlerts(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	sql := alertSelect + s.alerts + ` WHERE ` + userAlertCond + ` AND id > $2 ORDER BY id LIMIT ` + strconv.Itoa(exportPage)
	afterID := pgtype.UUID{Valid: true}
	page := make([]secmon.Alert, 0, 64)
	for {
		err := s.run(ctx, op, func(ctx context.Context) error {
			page = page[:0]
			rows, err := s.pool.Query(ctx, sql, userID, afterID)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				a, err := scanAlert(rows)
				if err != nil {
					return err
				}
				page = append(page, a)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		for i := range page {
			if err := out.Write(secmon.ExportRecord{Kind: secmon.ExportAlert, Alert: &page[i]}); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		afterID = pgtype.UUID{Bytes: page[len(page)-1].ID, Valid: true}
	}
}

// userBlockCond selects the blocks on user $1's account
// (secmon.BlockOnUser): the alerts' condition on the block's subject.
const userBlockCond = `scope = 'user' AND ` + userAlertCond

func (s *Store) exportBlocks(ctx context.Context, op, userID string, out *secmon.ExportWriter) error {
	sql := blockSelect + s.blocks + ` WHERE ` + userBlockCond + ` AND id > $2 ORDER BY id LIMIT ` + strconv.Itoa(exportPage)
	afterID := pgtype.UUID{Valid: true}
	page := make([]secmon.Block, 0, 16)
	for {
		err := s.run(ctx, op, func(ctx context.Context) error {
			page = page[:0]
			rows, err := s.pool.Query(ctx, sql, userID, afterID)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				b, err := scanBlock(rows)
				if err != nil {
					return err
				}
				page = append(page, b)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		for i := range page {
			if err := out.Write(secmon.ExportRecord{Kind: secmon.ExportBlock, Block: &page[i]}); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		afterID = pgtype.UUID{Bytes: page[len(page)-1].ID, Valid: true}
	}
}
