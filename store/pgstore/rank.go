package pgstore

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/querylimit"
)

// ipGroupSQL is secmon.IPGroup in SQL: an IPv4 address is its own group
// (/32), a 6to4 address (2002::/16) belongs to its /48 and any other IPv6
// address to its /64. Stored addresses are already normalised (no
// IPv4-mapped form, no zone).
const ipGroupSQL = `CASE WHEN ip IS NULL THEN NULL
 WHEN pg_catalog.family(ip) = 4 THEN pg_catalog.set_masklen(ip, 32)
 WHEN ip << inet '2002::/16' THEN pg_catalog.network(pg_catalog.set_masklen(ip, 48))::inet
 ELSE pg_catalog.network(pg_catalog.set_masklen(ip, 64))::inet END`

// Top ranks the IP groups and accounts of the events in [q.From, q.To) of
// q.Types in one statement: when every type of q.Types is in
// Config.PairRollupTypes, the whole hours of the range come from the pair
// rollup and the partial hours at either end from the events; otherwise
// the range's matching events are read (partition pruning and the (type,
// created_at) index confine the read). Either way they are folded into
// (IP group, user) pairs with their counts; ranks and the
// distinct accounts and sources of the ranked entries are computed from
// the pairs, so an attack's tens of thousands of rows from one source cost
// one pass. Ties are
// broken as secmon.TopReport says, with byte-wise ("C" collation) order of
// the keys. A zero From or To, or To before From, is an error matching
// secmon.ErrInvalid.
func (s *Store) Top(ctx context.Context, q secmon.TopQuery) (secmon.TopReport, error) {
	const op = "top"
	if err := canceled(ctx, op); err != nil {
		return secmon.TopReport{}, err
	}
	if q.From.IsZero() || q.To.IsZero() {
		return secmon.TopReport{}, invalid("From", "and To are both required")
	}
	if err := checkRange(q.From, q.To); err != nil {
		return secmon.TopReport{}, err
	}
	limit := querylimit.ClampTop(q.Limit)
	lo, hi := rollupSpan(q.From, q.To, !s.opts.RawReports && s.pairRolledUp(q.Types))
	args := []any{q.From, q.To, limit}
	typeCond := ""
	if len(q.Types) > 0 {
		types := make([]string, len(q.Types))
		for i, t := range q.Types {
			types[i] = string(t)
		}
		args = append(args, types)
		typeCond = " AND type = ANY($4::text[])"
	}
	// The range's matching rows are folded into (group, user) pairs in one
	// pass: an attack (one source, a few hundred accounts, tens of
	// thousands of failures) becomes a few hundred rows. Each pair is
	// unique, so a group's distinct accounts are its pairs with a user, and
	// an account's distinct sources its pairs with a group.
	pairs := `SELECT ` + ipGroupSQL + ` AS grp, user_id, count(*) AS n, max(created_at) AS last FROM ` + s.events + `
  WHERE created_at >= $1 AND created_at < $2` + typeCond + ` AND (ip IS NOT NULL OR user_id IS NOT NULL)
  GROUP BY 1, 2`
	if lo.Before(hi) {
		// The whole hours [lo, hi) come from the pair rollup, the partial
		// hours at either end from the events; a pair found in several
		// hours is summed into one.
		args = append(args, lo, hi)
		raw := func(from, to string) string {
			return `SELECT ` + ipGroupSQL + ` AS grp, user_id, count(*) AS n, max(created_at) AS last FROM ` + s.events + `
  WHERE created_at >= ` + from + ` AND created_at < ` + to + typeCond + ` AND (ip IS NOT NULL OR user_id IS NOT NULL)
  GROUP BY 1, 2`
		}
		pairs = `SELECT grp, user_id, sum(n)::bigint AS n, max(last) AS last FROM (
  ` + raw("$1", "$5") + `
  UNION ALL
  SELECT CASE WHEN ip_group = inet '::/0' THEN NULL ELSE ip_group END, NULLIF(user_id, ''), n, last FROM ` + s.pairs + `
  WHERE hour >= $5 AND hour < $6 AND type = ANY($4::text[])
  UNION ALL
  ` + raw("$6", "$2") + `
) AS p GROUP BY 1, 2`
	}
	sql := `WITH g AS MATERIALIZED (
  ` + pairs + `
), src AS (
  SELECT grp, sum(n)::bigint AS n, max(last) AS last FROM g WHERE grp IS NOT NULL
  GROUP BY grp ORDER BY n DESC, last DESC, pg_catalog.text(grp) COLLATE "C" LIMIT $3
), acc AS (
  SELECT user_id, sum(n)::bigint AS n, max(last) AS last FROM g WHERE user_id IS NOT NULL
  GROUP BY user_id ORDER BY n DESC, last DESC, user_id COLLATE "C" LIMIT $3
), src_users AS (
  SELECT g.grp, count(*) AS d FROM g JOIN src ON g.grp = src.grp WHERE g.user_id IS NOT NULL GROUP BY g.grp
), acc_sources AS (
  SELECT g.user_id, count(*) AS d FROM g JOIN acc ON g.user_id = acc.user_id WHERE g.grp IS NOT NULL GROUP BY g.user_id
)
SELECT src.grp, ''::text, src.n, src.last, coalesce(src_users.d, 0) FROM src LEFT JOIN src_users ON src_users.grp = src.grp
UNION ALL
SELECT NULL::inet, acc.user_id, acc.n, acc.last, coalesce(acc_sources.d, 0) FROM acc LEFT JOIN acc_sources ON acc_sources.user_id = acc.user_id`
	var rep secmon.TopReport
	err := s.run(ctx, op, func(ctx context.Context) error {
		rep = secmon.TopReport{}
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// Room to hash the pairs instead of sorting them: the default
			// 4MB makes the planner sort an attack's rows.
			if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '"+topWorkMem+"'"); err != nil {
				return err
			}
			return s.scanTop(ctx, tx, sql, args, &rep)
		})
	})
	if err != nil {
		return secmon.TopReport{}, err
	}
	slices.SortFunc(rep.Sources, func(a, b secmon.TopSource) int {
		if c := rankOrder(a.Events, b.Events, a.LastSeen.Compare(b.LastSeen)); c != 0 {
			return c
		}
		return strings.Compare(a.Group.String(), b.Group.String())
	})
	slices.SortFunc(rep.Accounts, func(a, b secmon.TopAccount) int {
		if c := rankOrder(a.Events, b.Events, a.LastSeen.Compare(b.LastSeen)); c != 0 {
			return c
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	return rep, nil
}

// customPlan makes pgx send a statement as PostgreSQL's unnamed prepared
// statement, with its description cached: one round trip, and the server
// plans it for the values bound each time. Named (cached) statements get a
// generic plan after five executions, which cannot see that a range is
// empty (a report's partial edge hours often are) or prune partitions at
// plan time, and measured several times slower for Hourly and Top.
const customPlan = pgx.QueryExecModeCacheDescribe

// topWorkMem is the work_mem of Top's transaction.
const topWorkMem = "16MB"

// scanTop runs the Top statement on tx and reads its rows into rep.
func (s *Store) scanTop(ctx context.Context, tx pgx.Tx, sql string, args []any, rep *secmon.TopReport) error {
	rows, err := tx.Query(ctx, sql, append([]any{customPlan}, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			grp  *netip.Prefix
			user string
			n, d int64
			last time.Time
		)
		if err := rows.Scan(&grp, &user, &n, &last, &d); err != nil {
			return err
		}
		last = last.UTC()
		if grp != nil {
			rep.Sources = append(rep.Sources, secmon.TopSource{Group: grp.Masked(), Events: n, Accounts: d, LastSeen: last})
		} else {
			rep.Accounts = append(rep.Accounts, secmon.TopAccount{UserID: user, Events: n, Sources: d, LastSeen: last})
		}
	}
	return rows.Err()
}

// rankOrder orders ranked entries: more events first, then the later last
// event (lastCmp is the first entry's LastSeen compared with the second's).
func rankOrder(na, nb int64, lastCmp int) int {
	switch {
	case na > nb:
		return -1
	case na < nb:
		return 1
	}
	return -lastCmp
}
