package pgstore_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
)

// rollupBase is the start of the random logs: the rollups' tests write
// events over the six hours after it.
var rollupBase = time.Date(2026, 5, 10, 9, 0, 0, 0, time.UTC)

var rollupTypes = []secmon.EventType{
	secmon.EventLoginFailure, secmon.EventLoginFailure, secmon.EventAccessDenied, secmon.EventUploadBlocked,
	secmon.EventRateLimited, secmon.EventMFAFailure, secmon.EventAccessBlocked, secmon.EventLoginSuccess, secmon.EventPageView,
}

// randomEvent is an event somewhere in [rollupBase-10m, rollupBase+6h10m),
// at nanosecond precision, from a small set of addresses (IPv4, IPv6, 6to4,
// IPv4-mapped, none) and users (or none), so that counts tie and pairs
// repeat across hours.
func randomEvent(r *rand.Rand) secmon.Event {
	e := secmon.Event{
		ID:       secmon.NewID(),
		Time:     rollupBase.Add(-10*time.Minute + time.Duration(r.Int64N(int64(6*time.Hour+20*time.Minute)))),
		Type:     rollupTypes[r.IntN(len(rollupTypes))],
		Severity: secmon.Severity(r.IntN(5)),
	}
	switch r.IntN(6) {
	case 0: // no address
	case 1:
		e.IP = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, byte(r.IntN(3)), 15: byte(r.IntN(200))})
	case 2:
		e.IP = netip.AddrFrom16([16]byte{0x20, 0x02, 0xc0, 0x00, byte(r.IntN(2)), 7: byte(r.IntN(3)), 15: 1})
	case 3:
		e.IP = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 51, 14: 100, 15: byte(r.IntN(4))})
	default:
		e.IP = netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(12))})
	}
	if r.IntN(4) > 0 {
		e.UserID = fmt.Sprintf("user-%d", r.IntN(15))
	}
	return e
}

// rollupPair returns a Store over a fresh schema and one over the same
// schema that computes every figure from the events.
func rollupPair(t *testing.T, pool *pgxpool.Pool) (fast, raw *pgstore.Store) {
	t.Helper()
	fast = setup(t, pool, pgstore.Config{})
	raw, err := pgstore.New(pool, pgstore.Config{Schema: fast.Schema(), RawReports: true})
	if err != nil {
		t.Fatal(err)
	}
	return fast, raw
}

// fillRandom writes n random events in random batches, some through the
// staging table, and retries two batches: one whole, one mixed with new
// events. It returns the events stored.
func fillRandom(t *testing.T, fast *pgstore.Store, cfg pgstore.Config, r *rand.Rand, n int) []secmon.Event {
	t.Helper()
	cfg.Schema = fast.Schema()
	staged, err := pgstore.New(fast.Pool(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pgstore.UseStagedInserts(staged)
	var all []secmon.Event
	for len(all) < n {
		batch := make([]secmon.Event, 1+r.IntN(200))
		for i := range batch {
			batch[i] = randomEvent(r)
		}
		w := fast
		if r.IntN(3) == 0 {
			w = staged
		}
		if err := w.InsertEvents(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
	}
	// A retried batch, through either path, changes nothing.
	if err := fast.InsertEvents(t.Context(), all[:50]); err != nil {
		t.Fatal(err)
	}
	if err := staged.InsertEvents(t.Context(), all[50:80]); err != nil {
		t.Fatal(err)
	}
	// A retry mixed with new events, one of them repeated in the batch:
	// only the new ones count.
	more := []secmon.Event{randomEvent(r), randomEvent(r)}
	more = append(more, all[100:130]...)
	more = append(more, more[0])
	if err := fast.InsertEvents(t.Context(), more); err != nil {
		t.Fatal(err)
	}
	return append(all, more[:2]...)
}

// randomWindow is a range over the log: its ends on hour boundaries or
// inside hours, sometimes within one hour, sometimes beyond the log.
func randomWindow(r *rand.Rand) (from, to time.Time) {
	at := func() time.Time {
		h := rollupBase.Add(time.Duration(r.IntN(9)-1) * time.Hour)
		if r.IntN(3) == 0 {
			return h
		}
		return h.Add(time.Duration(r.Int64N(int64(time.Hour))))
	}
	from, to = at(), at()
	if to.Before(from) {
		from, to = to, from
	}
	if r.IntN(8) == 0 {
		to = from.Add(time.Duration(r.Int64N(int64(90 * time.Minute))))
	}
	return from, to
}

// checkReports compares fast's Hourly and Top with raw's over random
// windows; top only when hourly is false.
func checkReports(t *testing.T, fast, raw *pgstore.Store, r *rand.Rand, windows int, hourly bool) {
	t.Helper()
	failures := pgstore.DefaultPairRollupTypes
	for range windows {
		from, to := randomWindow(r)
		if hourly {
			want, err := raw.Hourly(t.Context(), from, to)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fast.Hourly(t.Context(), from, to)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Prefix{})); d != "" {
				t.Errorf("Hourly(%v, %v) from the rollups differs from the events (-events +rollups):\n%s", from, to, d)
			}
		}
		if !from.Before(to) {
			continue
		}
		q := secmon.TopQuery{From: from, To: to, Limit: 1 + r.IntN(12)}
		switch r.IntN(4) {
		case 0:
			q.Types = failures
		case 1:
			q.Types = []secmon.EventType{failures[r.IntN(len(failures))]}
		case 2:
			q.Types = []secmon.EventType{secmon.EventLoginFailure, secmon.EventAccessDenied}
		default: // not rolled up: the events answer both
			q.Types = []secmon.EventType{secmon.EventLoginFailure, secmon.EventLoginSuccess}
		}
		want, err := raw.Top(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fast.Top(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Prefix{})); d != "" {
			t.Errorf("Top(%+v) from the rollups differs from the events (-events +rollups):\n%s", q, d)
		}
	}
}

// TestRollupsMatchEvents writes random events (several hours, partial
// hours at both ends, several types, IPv4 and IPv6, with and without
// users, retried batches) and checks that Hourly and Top answered from the
// rollups equal the same calls answered from the events alone, over random
// windows.
func TestRollupsMatchEvents(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	fast, raw := rollupPair(t, pool)
	all := fillRandom(t, fast, pgstore.Config{}, r, 3000)

	// Every event is counted once in the hourly rollup, and every ranked
	// one in the pair rollup.
	var ranked int64
	for _, e := range all {
		if fast.PairRolledUp(e.Type) && (e.IP.IsValid() || e.UserID != "") {
			ranked++
		}
	}
	if n := count(t, pool, "SELECT coalesce(sum(n), 0) FROM "+table(fast, "events_hourly")); n != int64(len(all)) {
		t.Errorf("events_hourly counts %d events, want %d", n, len(all))
	}
	if n := count(t, pool, "SELECT coalesce(sum(n), 0) FROM "+table(fast, "event_pairs_hourly")); n != ranked {
		t.Errorf("event_pairs_hourly counts %d events, want %d", n, ranked)
	}
	checkReports(t, fast, raw, r, 60, true)

	// The purge takes the rollups of the hours before the cutoff and
	// recounts the hour holding it; both reports agree again.
	cutoff := rollupBase.Add(2*time.Hour + 17*time.Minute + 3*time.Second)
	if _, err := fast.Purge(t.Context(), secmon.RetentionPolicy{Events: 24 * time.Hour, Sessions: -1, Activity: -1, Alerts: -1, Blocks: -1},
		cutoff.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM "+table(fast, "events_hourly")+" WHERE hour < $1", cutoff.Truncate(time.Hour)); n != 0 {
		t.Errorf("%d hourly rows before the cutoff's hour are left", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM "+table(fast, "event_pairs_hourly")+" WHERE hour < $1", cutoff.Truncate(time.Hour)); n != 0 {
		t.Errorf("%d pair rows before the cutoff's hour are left", n)
	}
	if got, want := count(t, pool, "SELECT coalesce(sum(n), 0) FROM "+table(fast, "events_hourly")),
		count(t, pool, "SELECT count(*) FROM "+table(fast, "security_events")); got != want {
		t.Errorf("after the purge events_hourly counts %d events, %d are stored", got, want)
	}
	checkReports(t, fast, raw, r, 40, true)

	// RebuildRollups recounts what the Store did not write.
	if _, err := pool.Exec(t.Context(), "DELETE FROM "+table(fast, "event_pairs_hourly")+" WHERE hour = $1", rollupBase.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := fast.RebuildRollups(t.Context(), rollupBase.Add(3*time.Hour+time.Minute), rollupBase.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	checkReports(t, fast, raw, r, 40, true)
	// Erasure takes the user's pairs with the events; Top still agrees.
	// The hourly counts by type name nobody and are kept (so Hourly
	// counts the erased events still).
	before := count(t, pool, "SELECT sum(n) FROM "+table(fast, "events_hourly"))
	if _, err := fast.EraseUser(t.Context(), "user-3"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM "+table(fast, "event_pairs_hourly")+" WHERE user_id = 'user-3'"); n != 0 {
		t.Errorf("%d pair rows of the erased user are left", n)
	}
	if n := count(t, pool, "SELECT sum(n) FROM "+table(fast, "events_hourly")); n != before {
		t.Errorf("erasure changed the hourly counts: %d events, want %d", n, before)
	}
	checkReports(t, fast, raw, r, 40, false)

}

// TestRollupsUseConfiguredTypes keeps pairs of other types than the
// default ones: only those are kept, and Top agrees with the events.
func TestRollupsUseConfiguredTypes(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	cfg := pgstore.Config{PairRollupTypes: []secmon.EventType{secmon.EventLoginSuccess, secmon.EventLoginFailure}}
	fast, err := pgstore.New(pool, pgstore.Config{Schema: sqlschematest.NewSchema(t, pool), PairRollupTypes: cfg.PairRollupTypes})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pgstore.New(pool, pgstore.Config{Schema: fast.Schema(), RawReports: true})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	fillRandom(t, fast, cfg, r, 1000)
	if n := count(t, pool, "SELECT count(*) FROM "+table(fast, "event_pairs_hourly")+" WHERE type NOT IN ('login_success', 'login_failure')"); n != 0 {
		t.Errorf("%d pair rows of types not configured", n)
	}
	checkReports(t, fast, raw, r, 40, false)
}

// TestCleanupFunctionKeepsRollups purges the same random log with Purge
// and with the schema's cleanup_old_security_data, the cutoff inside an
// hour: both leave the same rollups, and they agree with the events.
func TestCleanupFunctionKeepsRollups(t *testing.T) {
	t.Parallel()
	pool := sqlschematest.Pool(t)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	purged, _ := rollupPair(t, pool)
	cleaned, raw := rollupPair(t, pool)
	all := fillRandom(t, purged, pgstore.Config{}, r, 2000)
	for i := 0; i < len(all); i += 500 {
		if err := cleaned.InsertEvents(t.Context(), all[i:min(i+500, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := rollupBase.Add(3*time.Hour + 41*time.Minute + 7*time.Second)
	now := cutoff.Add(48 * time.Hour)
	if _, err := purged.Purge(t.Context(), secmon.RetentionPolicy{Events: 48 * time.Hour}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), "SELECT * FROM "+table(cleaned, "cleanup_old_security_data")+"('48 hours', as_of => $1)", now); err != nil {
		t.Fatal(err)
	}
	rollups := func(s *pgstore.Store) string {
		var out string
		err := pool.QueryRow(t.Context(), `SELECT concat_ws(' | ',
 (SELECT string_agg(concat_ws(',', hour, type, severity, n), ';' ORDER BY hour, type, severity) FROM `+table(s, "events_hourly")+`),
 (SELECT string_agg(concat_ws(',', hour, type, ip_group, user_id, n, last), ';' ORDER BY hour, type, ip_group, user_id) FROM `+table(s, "event_pairs_hourly")+`))`).Scan(&out)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if a, b := rollups(purged), rollups(cleaned); a != b {
		t.Errorf("rollups differ:\nafter Purge:                     %.500s\nafter cleanup_old_security_data: %.500s", a, b)
	}
	if got, want := count(t, pool, "SELECT coalesce(sum(n), 0) FROM "+table(cleaned, "events_hourly")),
		count(t, pool, "SELECT count(*) FROM "+table(cleaned, "security_events")); got != want || want == 0 {
		t.Errorf("after cleanup_old_security_data events_hourly counts %d events, %d are stored", got, want)
	}
	checkReports(t, cleaned, raw, r, 40, true)
}
