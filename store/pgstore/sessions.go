package pgstore

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/querylimit"
)

// sessionArrays holds one column array per active_sessions column written
// by UpsertSessions.
type sessionArrays struct {
	id, user, org, ua, fp, country, region, city []pgtype.Text
	ip                                           []netip.Addr
	lat, lon                                     []pgtype.Float8
	acc                                          []pgtype.Int4
	started, last                                []time.Time
}

func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// UpsertSessions stores the newest beat of each session with one multi-row
// INSERT ... ON CONFLICT built from column arrays. Beats are first merged
// by session ID in Go (PostgreSQL refuses to update one row twice in a
// statement): the newest beat gives every field and the earliest start
// (SessionBeat.Start) gives StartedAt. Against the stored row, LastSeen and
// the beat's fields move only forward, StartedAt only backward, and
// RevokedAt is never touched, so a revoked session stays revoked. Rows are written in session ID order so
// concurrent flushes cannot deadlock.
func (s *Store) UpsertSessions(ctx context.Context, beats []secmon.SessionBeat) error {
	const op = "upsert sessions"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	type merged struct {
		b       *secmon.SessionBeat
		started time.Time
	}
	byID := make(map[string]*merged, len(beats))
	for i := range beats {
		b := &beats[i]
		switch {
		case b.SessionID == "":
			return invalid(fmt.Sprintf("beats[%d].SessionID", i), "is required")
		case b.UserID == "":
			return invalid(fmt.Sprintf("beats[%d].UserID", i), "is required")
		case b.Time.IsZero():
			return invalid(fmt.Sprintf("beats[%d].Time", i), "is zero")
		}
		m := byID[b.SessionID]
		if m == nil {
			byID[b.SessionID] = &merged{b: b, started: b.Start()}
			continue
		}
		if !b.Time.Before(m.b.Time) {
			m.b = b
		}
		if start := b.Start(); start.Before(m.started) {
			m.started = start
		}
	}
	if len(byID) == 0 {
		return nil
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	n := len(ids)
	a := sessionArrays{
		id: make([]pgtype.Text, n), user: make([]pgtype.Text, n), org: make([]pgtype.Text, n),
		ua: make([]pgtype.Text, n), fp: make([]pgtype.Text, n), country: make([]pgtype.Text, n),
		region: make([]pgtype.Text, n), city: make([]pgtype.Text, n), ip: make([]netip.Addr, n),
		lat: make([]pgtype.Float8, n), lon: make([]pgtype.Float8, n), acc: make([]pgtype.Int4, n),
		started: make([]time.Time, n), last: make([]time.Time, n),
	}
	for i, id := range ids {
		m := byID[id]
		b := m.b
		a.id[i], a.user[i], a.org[i] = text(b.SessionID), text(b.UserID), text(b.OrgID)
		a.ua[i], a.fp[i] = text(b.UserAgent), text(b.Fingerprint)
		a.country[i], a.region[i], a.city[i] = text(b.Geo.Country), text(b.Geo.Region), text(b.Geo.City)
		if b.IP.IsValid() {
			a.ip[i] = b.IP.WithZone("")
		}
		if b.Geo.HasLocation() {
			a.lat[i] = pgtype.Float8{Float64: b.Geo.Latitude, Valid: true}
			a.lon[i] = pgtype.Float8{Float64: b.Geo.Longitude, Valid: true}
		}
		a.acc[i] = pgtype.Int4{Int32: int32(b.Geo.AccuracyKM), Valid: b.Geo.AccuracyKM != 0}
		a.started[i], a.last[i] = m.started, b.Time
	}
	newer := func(col string) string {
		return col + " = CASE WHEN EXCLUDED.last_seen > t.last_seen THEN EXCLUDED." + col + " ELSE t." + col + " END"
	}
	sql := `INSERT INTO ` + s.sessions + ` AS t (session_id, user_id, org_id, ip, user_agent, fingerprint,
 geo_country, geo_region, geo_city, geo_lat, geo_lon, geo_accuracy_km, started_at, last_seen)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::inet[], $5::text[], $6::text[], $7::text[],
 $8::text[], $9::text[], $10::float8[], $11::float8[], $12::int4[], $13::timestamptz[], $14::timestamptz[])
ON CONFLICT (session_id) DO UPDATE SET
 ` + newer("user_id") + `, ` + newer("org_id") + `, ` + newer("ip") + `, ` + newer("user_agent") + `,
 ` + newer("fingerprint") + `, ` + newer("geo_country") + `, ` + newer("geo_region") + `, ` + newer("geo_city") + `,
 ` + newer("geo_lat") + `, ` + newer("geo_lon") + `, ` + newer("geo_accuracy_km") + `,
 started_at = least(t.started_at, EXCLUDED.started_at),
 last_seen = greatest(t.last_seen, EXCLUDED.last_seen)
WHERE EXCLUDED.last_seen > t.last_seen OR EXCLUDED.started_at < t.started_at`
	return s.run(ctx, op, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, sql, a.id, a.user, a.org, a.ip, a.ua, a.fp, a.country, a.region, a.city,
			a.lat, a.lon, a.acc, a.started, a.last)
		return err
	})
}

const sessionSelect = `SELECT session_id, user_id, coalesce(org_id, ''), ip, coalesce(user_agent, ''), coalesce(fingerprint, ''),
 coalesce(geo_country, ''), coalesce(geo_region, ''), coalesce(geo_city, ''), coalesce(geo_lat, 0),
 coalesce(geo_lon, 0), coalesce(geo_accuracy_km, 0), started_at, last_seen, revoked_at FROM `

// scanSession reads one row of sessionSelect.
func scanSession(row pgx.Row) (secmon.Session, error) {
	var (
		x       secmon.Session
		acc     int32
		revoked pgtype.Timestamptz
	)
	if err := row.Scan(&x.SessionID, &x.UserID, &x.OrgID, &x.IP, &x.UserAgent, &x.Fingerprint,
		&x.Geo.Country, &x.Geo.Region, &x.Geo.City, &x.Geo.Latitude, &x.Geo.Longitude, &acc,
		&x.StartedAt, &x.LastSeen, &revoked); err != nil {
		return x, err
	}
	x.Geo.AccuracyKM = int(acc)
	x.StartedAt, x.LastSeen = x.StartedAt.UTC(), x.LastSeen.UTC()
	if revoked.Valid {
		x.RevokedAt = revoked.Time.UTC()
	}
	return x, nil
}

// ActiveSessions returns sessions that are not revoked, most recently seen
// first (ties by session ID), at most querylimit.Clamp(q.Limit).
func (s *Store) ActiveSessions(ctx context.Context, q secmon.SessionQuery) ([]secmon.Session, error) {
	const op = "active sessions"
	w := where{conds: []string{"revoked_at IS NULL"}}
	if q.UserID != "" {
		w.add("user_id = ?", q.UserID)
	}
	if !q.Since.IsZero() {
		w.add("last_seen >= ?", q.Since)
	}
	limit := querylimit.Clamp(q.Limit)
	sql := sessionSelect + s.sessions + w.String() + ` ORDER BY last_seen DESC, session_id LIMIT ` + strconv.Itoa(limit)
	return collect(ctx, s, op, nil, min(limit, 256), scanSession, sql, w.args...)
}

// RevokeSession marks the session revoked at at; revoking again keeps the
// first time. It returns an error matching secmon.ErrNotFound when there is
// no such session.
func (s *Store) RevokeSession(ctx context.Context, sessionID string, at time.Time) error {
	const op = "revoke session"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	if at.IsZero() {
		return invalid("at", "is zero")
	}
	return s.run(ctx, op, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `UPDATE `+s.sessions+` SET revoked_at = coalesce(revoked_at, $2) WHERE session_id = $1`, sessionID, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &Error{Op: op, msg: "no session " + strconv.Quote(truncate(sessionID, 64)), kinds: []error{secmon.ErrNotFound}}
		}
		return nil
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
