package pgstore

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/querylimit"
)

var eventColumns = []string{
	"id", "created_at", "type", "severity", "user_id", "session_id", "org_id", "ip",
	"user_agent", "fingerprint", "geo_country", "geo_region", "geo_city", "geo_lat",
	"geo_lon", "geo_accuracy_km", "duration_us", "metadata",
}

func validateEvent(i int, e *secmon.Event) error {
	if e.ID == [16]byte{} {
		return invalid(fmt.Sprintf("events[%d].ID", i), "is zero")
	}
	if e.Time.IsZero() {
		return invalid(fmt.Sprintf("events[%d].Time", i), "is zero")
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("events[%d]: %w", i, err)
	}
	return nil
}

// InsertEvents stores a batch with COPY. Events whose ID is already stored,
// or repeated within the batch, are skipped: the batch is first copied
// straight into security_events and, only if that meets a stored ID, written
// again through a temporary table with ON CONFLICT DO NOTHING. An event for
// a day without a partition lands in the default partition; Maintain moves
// it. The batch is all or nothing: an invalid event rejects it whole with an
// error matching secmon.ErrInvalid. The events actually inserted are added
// to the hourly rollups in the same transaction (see the package
// documentation), so a retried batch is not counted twice.
func (s *Store) InsertEvents(ctx context.Context, events []secmon.Event) error {
	const op = "insert events"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	meta := make([][]byte, len(events))
	for i := range events {
		e := &events[i]
		if err := validateEvent(i, e); err != nil {
			return err
		}
		m, err := encodeMap(e.Metadata)
		if err != nil {
			return invalid(fmt.Sprintf("events[%d].Metadata", i), "cannot be encoded: "+err.Error())
		}
		meta[i] = m
	}
	fill := func(i int, row []any) {
		e := &events[i]
		row[0] = [16]byte(e.ID)
		row[1] = e.Time
		row[2] = string(e.Type)
		row[3] = int16(e.Severity)
		row[4] = nullText(e.UserID)
		row[5] = nullText(e.SessionID)
		row[6] = nullText(e.OrgID)
		row[7] = nullAddr(e.IP)
		row[8] = nullText(e.UserAgent)
		row[9] = nullText(e.Fingerprint)
		row[10], row[11], row[12], row[13], row[14], row[15] = geoValues(e.Geo)
		row[16] = int64(e.Duration / time.Microsecond)
		row[17] = meta[i]
	}
	// The rollups gain the inserted events in the same transaction.
	var rb *rollupBatch
	hook := &insertHook{
		returning: "created_at, type, severity, ip, coalesce(user_id, '')",
		start:     func() { rb = s.newRollupBatch() },
		all: func() {
			for i := range events {
				e := &events[i]
				rb.add(e.Time, string(e.Type), int16(e.Severity), e.IP, e.UserID)
			}
		},
		row: func(rows pgx.Rows) error {
			var (
				t    time.Time
				typ  string
				sev  int16
				ip   *netip.Prefix
				user string
			)
			if err := rows.Scan(&t, &typ, &sev, &ip, &user); err != nil {
				return err
			}
			var addr netip.Addr
			if ip != nil {
				addr = ip.Addr()
			}
			rb.add(t, typ, sev, addr, user)
			return nil
		},
		write: func(ctx context.Context, tx pgx.Tx) error { return rb.write(ctx, s, tx) },
	}
	if s.skipRollups {
		hook = nil
	}
	return s.copyIdempotentHook(ctx, op, pgx.Identifier{s.opts.Schema, "security_events"}, "(id, created_at)", eventColumns, len(events), fill, hook)
}

const eventSelect = `SELECT id, created_at, type, severity, coalesce(user_id, ''), coalesce(session_id, ''),
 coalesce(org_id, ''), ip, coalesce(user_agent, ''), coalesce(fingerprint, ''), coalesce(geo_country, ''),
 coalesce(geo_region, ''), coalesce(geo_city, ''), coalesce(geo_lat, 0), coalesce(geo_lon, 0),
 coalesce(geo_accuracy_km, 0), coalesce(duration_us, 0), metadata FROM `

// QueryEvents returns matching events, newest first (ties by ID
// descending), at most querylimit.Clamp(q.Limit). A Before cursor is
// compared at PostgreSQL's microsecond precision.
func (s *Store) QueryEvents(ctx context.Context, q secmon.EventQuery) ([]secmon.Event, error) {
	const op = "query events"
	if err := checkRange(q.From, q.To); err != nil {
		return nil, err
	}
	if !q.MinSeverity.Valid() {
		return nil, invalid("MinSeverity", "is out of range")
	}
	var w where
	if !q.From.IsZero() {
		w.add("created_at >= ?", q.From)
	}
	if !q.To.IsZero() {
		w.add("created_at < ?", q.To)
	}
	if len(q.Types) > 0 {
		types := make([]string, len(q.Types))
		for i, t := range q.Types {
			types[i] = string(t)
		}
		w.add("type = ANY(?::text[])", types)
	}
	if q.UserID != "" {
		w.add("user_id = ?", q.UserID)
	}
	if q.SessionID != "" {
		w.add("session_id = ?", q.SessionID)
	}
	if q.OrgID != "" {
		w.add("org_id = ?", q.OrgID)
	}
	if q.IP.IsValid() {
		w.add("ip <<= ?::inet", q.IP.Masked())
	}
	if q.MinSeverity > 0 {
		w.add("severity >= ?", int16(q.MinSeverity))
	}
	if !q.Before.IsZero() {
		// The first condition prunes partitions; the row comparison
		// walks the (created_at, id) index from the cursor.
		w.add("created_at <= ?", q.Before.Time)
		w.add("(created_at, id) < ($"+strconv.Itoa(len(w.args))+"::timestamptz, ?::uuid)", [16]byte(q.Before.ID))
	}
	limit := querylimit.Clamp(q.Limit)
	sql := eventSelect + s.events + w.String() + " ORDER BY created_at DESC, id DESC LIMIT " + strconv.Itoa(limit)
	var out []secmon.Event
	err := s.run(ctx, op, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, sql, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = make([]secmon.Event, 0, min(limit, 256))
		var (
			e     secmon.Event
			typ   string
			sev   int16
			acc   int32
			durUS int64
			meta  []byte
		)
		for rows.Next() {
			e = secmon.Event{}
			if err := rows.Scan((*[16]byte)(&e.ID), &e.Time, &typ, &sev, &e.UserID, &e.SessionID, &e.OrgID, &e.IP,
				&e.UserAgent, &e.Fingerprint, &e.Geo.Country, &e.Geo.Region, &e.Geo.City, &e.Geo.Latitude,
				&e.Geo.Longitude, &acc, &durUS, &meta); err != nil {
				return err
			}
			e.Time = e.Time.UTC()
			e.Type = secmon.EventType(typ)
			e.Severity = secmon.Severity(sev)
			e.Geo.AccuracyKM = int(acc)
			e.Duration = time.Duration(durUS) * time.Microsecond
			if e.Metadata, err = decodeMap(meta); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
