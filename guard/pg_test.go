package guard_test

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/internal/faulttest"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
)

// pgStores returns a store on a fresh schema through a pool of its own,
// and a second store on the same schema whose pool goes through a proxy
// the test owns, so cutting the proxy takes the database from that one
// alone.
func pgStores(t testing.TB) (direct *pgstore.Store, proxied *pgstore.Store, px *faulttest.Proxy) {
	t.Helper()
	pool := sqlschematest.Pool(t)
	schema := sqlschematest.NewSchema(t, pool)
	direct, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	cc := pool.Config().ConnConfig
	px = faulttest.NewProxy(t, net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))))
	u, err := url.Parse(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = px.Addr()
	pcfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 4
	pcfg.ConnConfig.ConnectTimeout = 2 * time.Second
	ppool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ppool.Close)
	proxied, err = pgstore.New(ppool, pgstore.Config{Schema: schema, StatementTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return direct, proxied, px
}

// Two guards on one PostgreSQL schema: a block decided on one is enforced
// on the other through NOTIFY; a lift too. The second guard's connection
// is then cut: while cut it keeps enforcing; blocks decided on the first
// meanwhile reach it by the resync after it reconnects; a block it decided
// during the cut is written when the database is back.
func TestPostgresTwoGuards(t *testing.T) {
	t.Parallel()
	direct, proxied, px := pgStores(t)
	a := newGuard(t, direct, nil, nil)
	b := newGuard(t, proxied, nil, func(c *guard.Config) { c.WriteTimeout = time.Second; c.MaxBackoff = 200 * time.Millisecond })
	ready(t, a)
	ready(t, b)
	// b's subscription resyncs once it listens: from then on it hears
	// every change.
	eventually(t, "b listening", func() bool { return b.Stats().Resyncs >= 2 })

	a.HandleFinding(bruteForce("203.0.113.7"))
	flush(t, a)
	eventually(t, "b enforcing a's block", func() bool { return blocked(b, "203.0.113.7") })
	m, err := a.Block(t.Context(), secmon.Block{Prefix: prefix("2001:db8:5::/48"), Reason: "abuse", By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b enforcing a's prefix block", func() bool { return blocked(b, "2001:db8:5:1::1") })
	if err := a.Lift(t.Context(), m.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b lifting the prefix block", func() bool { return !blocked(b, "2001:db8:5:1::1") })
	if s := b.Stats(); s.Notifications < 3 {
		t.Errorf("b heard %d announcements, want at least 3", s.Notifications)
	}

	px.Cut()
	// While cut, b enforces what it had and what it decides.
	if !blocked(b, "203.0.113.7") {
		t.Fatal("b stopped enforcing during the cut")
	}
	local, err := b.Block(t.Context(), secmon.Block{UserID: "mallory", By: "carol"})
	if err != nil {
		t.Fatalf("a block decided during the cut: %v", err)
	}
	if _, ok := b.Check(netip.Addr{}, "mallory"); !ok {
		t.Fatal("a block decided during the cut is not enforced")
	}
	missed, err := a.Block(t.Context(), secmon.Block{Prefix: prefix("198.51.100.0/24"), By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, a)
	time.Sleep(300 * time.Millisecond) // let b's connection notice the cut
	if blocked(b, "198.51.100.9") {
		t.Fatal("b heard a block while its connection was cut")
	}
	px.Restore()
	eventually(t, "b resyncing the block decided while it was cut", func() bool { return blocked(b, "198.51.100.9") })
	flush(t, b)
	eventually(t, "a enforcing b's block written after the cut", func() bool { _, ok := a.Check(netip.Addr{}, "mallory"); return ok })
	got, err := direct.Blocks(t.Context(), secmon.BlockQuery{Subject: "user:mallory"})
	if err != nil || len(got) != 1 || got[0].ID != local.ID {
		t.Errorf("the store holds %v, %v; want b's block", got, err)
	}
	if s := b.Stats(); s.Resyncs < 2 || s.WriteErrors == 0 {
		t.Errorf("b stats after the cut %+v: want a resync after the reconnect and failed writes", s)
	}
	_ = missed
}

// BenchmarkPropagationPostgres: the time from a block decided on one guard
// to its enforcement on another, each with a pool of its own on one
// PostgreSQL schema (write, NOTIFY, LISTEN, read), as p50 and p99 over
// 1,000 blocks per run.
func BenchmarkPropagationPostgres(b *testing.B) {
	pool := sqlschematest.Pool(b)
	schema := sqlschematest.NewSchema(b, pool)
	sa, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	other := sqlschematest.Pool(b)
	sb, err := pgstore.New(other, pgstore.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	propagation(b, sa, sb)
}
