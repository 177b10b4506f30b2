package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
)

// DefaultPairRollupTypes are the event types whose (hour, type, IP group,
// user) counts are kept in the pair rollup when Config.PairRollupTypes is
// nil: the failures the dashboard's Overview ranks, and those migration
// 006_rollups fills the rollup with from the events already stored.
var DefaultPairRollupTypes = []secmon.EventType{
	secmon.EventLoginFailure, secmon.EventMFAFailure, secmon.EventAccessDenied,
	secmon.EventRateLimited, secmon.EventUploadBlocked, secmon.EventAccessBlocked,
}

// noGroup and noUser stand for an event without an address or without a
// user in the pair rollup, whose key columns cannot be NULL: no IP group is
// as wide as ::/0, and stored user IDs are never empty.
var noGroup = netip.MustParsePrefix("::/0")

const noUser = ""

// sixToFour is 2002::/16, whose addresses group by /48 (see ipGroupSQL).
var sixToFour = netip.MustParsePrefix("2002::/16")

// storedGroup is ipGroupSQL computed in Go on an address as it is stored
// (nullAddr): an IPv4 address is its own /32, a 6to4 address its /48, any
// other IPv6 address (an IPv4-mapped one included, as PostgreSQL sees it)
// its /64; no address is noGroup.
func storedGroup(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return noGroup
	}
	a = a.WithZone("")
	bits := 64
	switch {
	case a.Is4():
		bits = 32
	case sixToFour.Contains(a):
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p
}

type hourKey struct {
	hour int64 // Unix seconds of the UTC hour
	typ  string
	sev  int16
}

type pairKey struct {
	hour int64
	typ  string
	grp  netip.Prefix
	user string
}

type pairVal struct {
	n    int64
	last time.Time
}

// rollupBatch gathers the rollup rows of the events one InsertEvents call
// inserts.
type rollupBatch struct {
	pairTypes map[secmon.EventType]bool
	hours     map[hourKey]int64
	pairs     map[pairKey]pairVal
}

func (s *Store) newRollupBatch() *rollupBatch {
	return &rollupBatch{pairTypes: s.pairTypes, hours: make(map[hourKey]int64), pairs: make(map[pairKey]pairVal)}
}

// add counts one inserted event. t is truncated to PostgreSQL's
// microsecond as the driver stores it (toward the past).
func (b *rollupBatch) add(t time.Time, typ string, sev int16, ip netip.Addr, user string) {
	t = t.Truncate(time.Microsecond)
	hour := t.Truncate(time.Hour).Unix()
	b.hours[hourKey{hour, typ, sev}]++
	if !b.pairTypes[secmon.EventType(typ)] || (!ip.IsValid() && user == "") {
		return
	}
	k := pairKey{hour, typ, storedGroup(ip), user}
	v := b.pairs[k]
	v.n++
	if t.After(v.last) {
		v.last = t
	}
	b.pairs[k] = v
}

// upsertRollups adds a batch's rows to both rollups in one statement: the
// hourly counts ($1–$4) in a data-modifying WITH, the pairs ($5–$10, empty
// arrays when the batch has none) in the main INSERT. The first %s is the
// hourly table, the second the pair table.
const upsertRollups = `WITH hourly AS (
  INSERT INTO %s AS t (hour, type, severity, n)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::smallint[], $4::bigint[])
  ON CONFLICT (hour, type, severity) DO UPDATE SET n = t.n + excluded.n
)
INSERT INTO %s AS t (hour, type, ip_group, user_id, n, last)
SELECT * FROM unnest($5::timestamptz[], $6::text[], $7::inet[], $8::text[], $9::bigint[], $10::timestamptz[])
ON CONFLICT (hour, type, ip_group, user_id) DO UPDATE SET n = t.n + excluded.n, last = GREATEST(t.last, excluded.last)`

// write adds the gathered rows to the rollups on tx in one statement (a
// flush stays one COPY and one more write). Rows go in key order, so
// concurrent writers, which all run the same statement, lock shared rows
// in the same order and cannot deadlock.
func (b *rollupBatch) write(ctx context.Context, s *Store, tx pgx.Tx) error {
	if len(b.hours) == 0 {
		return nil
	}
	hk := make([]hourKey, 0, len(b.hours))
	for k := range b.hours {
		hk = append(hk, k)
	}
	slices.SortFunc(hk, func(a, b hourKey) int {
		return cmp.Or(cmp.Compare(a.hour, b.hour), strings.Compare(a.typ, b.typ), cmp.Compare(a.sev, b.sev))
	})
	hours := make([]time.Time, len(hk))
	types := make([]string, len(hk))
	sevs := make([]int16, len(hk))
	ns := make([]int64, len(hk))
	for i, k := range hk {
		hours[i], types[i], sevs[i], ns[i] = time.Unix(k.hour, 0).UTC(), k.typ, k.sev, b.hours[k]
	}
	pk := make([]pairKey, 0, len(b.pairs))
	for k := range b.pairs {
		pk = append(pk, k)
	}
	slices.SortFunc(pk, func(a, b pairKey) int {
		return cmp.Or(cmp.Compare(a.hour, b.hour), strings.Compare(a.typ, b.typ),
			a.grp.Addr().Compare(b.grp.Addr()), cmp.Compare(a.grp.Bits(), b.grp.Bits()), strings.Compare(a.user, b.user))
	})
	pHours := make([]time.Time, len(pk))
	pTypes := make([]string, len(pk))
	grps := make([]netip.Prefix, len(pk))
	users := make([]string, len(pk))
	pNs := make([]int64, len(pk))
	lasts := make([]time.Time, len(pk))
	for i, k := range pk {
		v := b.pairs[k]
		pHours[i], pTypes[i], grps[i], users[i], pNs[i], lasts[i] = time.Unix(k.hour, 0).UTC(), k.typ, k.grp, k.user, v.n, v.last
	}
	_, err := tx.Exec(ctx, fmt.Sprintf(upsertRollups, s.hourly, s.pairs),
		hours, types, sevs, ns, pHours, pTypes, grps, users, pNs, lasts)
	return err
}

// pairRolledUp reports whether every type is kept in the pair rollup.
func (s *Store) pairRolledUp(types []secmon.EventType) bool {
	if len(types) == 0 {
		return false
	}
	for _, t := range types {
		if !s.pairTypes[t] {
			return false
		}
	}
	return true
}

// rollupSpan returns the whole hours [lo, hi) inside [from, to), which the
// rollups answer; the events answer [from, lo) and [hi, to). Without a
// whole hour inside, lo = hi = to, and the events answer all of [from, to).
// rollups=false (raw) makes every range come from the events.
func rollupSpan(from, to time.Time, rollups bool) (lo, hi time.Time) {
	lo = from.Truncate(time.Hour)
	if lo.Before(from) {
		lo = lo.Add(time.Hour)
	}
	hi = to.Truncate(time.Hour)
	if !rollups || !lo.Before(hi) {
		return to, to
	}
	return lo, hi
}

// purgeRollups removes the rollup rows of the hours that ended at or
// before cutoff, in batches like the alerts, and recounts the hour holding
// cutoff (when cutoff is inside one) from its remaining events: after the
// events before cutoff are gone, the rollups hold exactly the rest.
func (s *Store) purgeRollups(ctx context.Context, q querier, cutoff time.Time) error {
	h := cutoff.Truncate(time.Hour)
	if _, err := s.deleteBatches(ctx, q, "purge rollups", s.hourly, "hour, type, severity", "hour < $1", h); err != nil {
		return err
	}
	if _, err := s.deleteBatches(ctx, q, "purge rollups", s.pairs, "hour, type, ip_group, user_id", "hour < $1", h); err != nil {
		return err
	}
	if h.Equal(cutoff) {
		return nil
	}
	return s.recount(ctx, q, "purge rollups", h, h.Add(time.Hour))
}

// recount replaces the rollup rows of the hours in [from, to) (whole
// hours) with counts of the events stored there, in one transaction. It
// locks both rollups against writers first (SHARE ROW EXCLUSIVE, in the
// order writers take them): a writer that has added to them has committed
// its events before the count reads them, and one that has not waits and
// adds its events to the recounted rows after.
func (s *Store) recount(ctx context.Context, q querier, op string, from, to time.Time) error {
	types := make([]string, 0, len(s.pairTypes))
	for t := range s.pairTypes {
		types = append(types, string(t))
	}
	slices.Sort(types)
	return s.run(ctx, op, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `LOCK TABLE `+s.hourly+`, `+s.pairs+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
			b := &pgx.Batch{}
			b.Queue(`DELETE FROM `+s.hourly+` WHERE hour >= $1 AND hour < $2`, from, to)
			b.Queue(`DELETE FROM `+s.pairs+` WHERE hour >= $1 AND hour < $2`, from, to)
			b.Queue(`INSERT INTO `+s.hourly+` (hour, type, severity, n)
SELECT pg_catalog.date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00'), type, severity, count(*)
FROM `+s.events+` WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2, 3`, from, to)
			b.Queue(`INSERT INTO `+s.pairs+` (hour, type, ip_group, user_id, n, last)
SELECT pg_catalog.date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00'), type,
  coalesce(`+ipGroupSQL+`, inet '::/0'), coalesce(user_id, ''), count(*), max(created_at)
FROM `+s.events+` WHERE created_at >= $1 AND created_at < $2 AND type = ANY($3::text[])
  AND (ip IS NOT NULL OR user_id IS NOT NULL)
GROUP BY 1, 2, 3, 4`, from, to, types)
			return tx.SendBatch(ctx, b).Close()
		})
	})
}

// RebuildRollups recounts the hourly rollups of the hours from [from, to)
// (widened to whole UTC hours) from the events, a day at a time, each day
// in a transaction of its own that holds the Store's writers back while it
// reads the day's events. It is needed only after adding a type to
// Config.PairRollupTypes on a schema that already holds events of that
// type, or after writing events by other means than the Store.
func (s *Store) RebuildRollups(ctx context.Context, from, to time.Time) error {
	const op = "rebuild rollups"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	if from.IsZero() || to.IsZero() {
		return invalid("from", "and to are both required")
	}
	if err := checkRange(from, to); err != nil {
		return err
	}
	lo := from.UTC().Truncate(time.Hour)
	hi := to.UTC().Truncate(time.Hour)
	if hi.Before(to) {
		hi = hi.Add(time.Hour)
	}
	for lo.Before(hi) {
		next := lo.Add(24 * time.Hour)
		if next.After(hi) {
			next = hi
		}
		if err := s.recount(ctx, s.pool, op, lo, next); err != nil {
			return err
		}
		lo = next
	}
	return nil
}
