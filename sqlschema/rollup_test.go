package sqlschema_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

// TestRollupsBackfilled upgrades a schema holding events to 006: the
// rollups hold the events' counts by hour, type and severity, and those of
// the default ranked types by hour, type, IP group and user, as pgstore
// keeps them.
func TestRollupsBackfilled(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	ctx := testContext(t)
	opts := sqlschema.Config{Schema: freshSchema(t, pool)}
	if _, err := sqlschema.Migrate(ctx, pool, opts); err != nil {
		t.Fatal(err)
	}
	if err := sqlschema.MigrateDown(ctx, pool, opts, 5); err != nil {
		t.Fatal(err)
	}
	s := pgx.Identifier{opts.Schema}.Sanitize()
	if _, err := pool.Exec(ctx, `INSERT INTO `+s+`.security_events (created_at, type, severity, user_id, ip)
SELECT timestamptz '2026-04-01 10:00:00+00' + i * interval '7 minutes 3 seconds',
  (ARRAY['login_failure', 'page_view', 'access_denied', 'login_success'])[1 + i % 4], (i % 5)::smallint,
  CASE WHEN i % 3 = 0 THEN NULL ELSE 'u' || (i % 7) END,
  (ARRAY[NULL, inet '198.51.100.7', inet '2001:db8:1:2::9', inet '2002:c000:204:5::1', inet '2001:db8:1:2::10'])[1 + i % 5]
FROM generate_series(1, 500) AS i`); err != nil {
		t.Fatal(err)
	}
	if applied, err := sqlschema.Migrate(ctx, pool, opts); err != nil || applied != 1 {
		t.Fatalf("Migrate to 006 = %d, %v", applied, err)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM (
  SELECT date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00') AS hour, type, severity, count(*)::bigint AS n FROM `+s+`.security_events GROUP BY 1, 2, 3
  EXCEPT SELECT hour, type, severity, n FROM `+s+`.events_hourly) AS d`); n != 0 {
		t.Errorf("%d hourly counts are missing from events_hourly", n)
	}
	if n := countRows(t, pool, `SELECT sum(n)::int FROM `+s+`.events_hourly`); n != 500 {
		t.Errorf("events_hourly counts %d events, want 500", n)
	}
	// The pairs: IPv4 by address, 6to4 by /48, other IPv6 by /64 (two
	// addresses in one group); no address as ::/0, no user as ''.
	if n := countRows(t, pool, `SELECT count(*) FROM (
  SELECT date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00') AS hour, type,
    CASE WHEN ip IS NULL THEN inet '::/0' WHEN ip = inet '198.51.100.7' THEN inet '198.51.100.7/32'
         WHEN ip << inet '2002::/16' THEN inet '2002:c000:204::/48' ELSE inet '2001:db8:1:2::/64' END AS grp,
    coalesce(user_id, '') AS user_id, count(*)::bigint AS n, max(created_at) AS last
  FROM `+s+`.security_events WHERE type IN ('login_failure', 'access_denied') AND (ip IS NOT NULL OR user_id IS NOT NULL)
  GROUP BY 1, 2, 3, 4
  EXCEPT SELECT hour, type, ip_group, user_id, n, last FROM `+s+`.event_pairs_hourly) AS d`); n != 0 {
		t.Errorf("%d pair counts are missing from event_pairs_hourly", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM `+s+`.event_pairs_hourly WHERE type NOT IN ('login_failure', 'access_denied')
  OR (ip_group = inet '::/0' AND user_id = '')`); n != 0 {
		t.Errorf("event_pairs_hourly holds %d rows it should not", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM `+s+`.event_pairs_hourly`); n < 50 {
		t.Errorf("event_pairs_hourly holds only %d rows", n)
	}
}
