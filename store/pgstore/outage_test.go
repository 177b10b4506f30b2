package pgstore_test

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/faulttest"
	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
)

// outagePool opens a pool on the test database through px, so cutting px
// takes the database away from this pool alone.
func outagePool(t *testing.T, px *faulttest.Proxy) *pgxpool.Pool {
	t.Helper()
	u, err := url.Parse(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = px.Addr()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestMonitorSurvivesDatabaseOutage runs a Monitor on pgstore through a
// proxy, logs and tracks activity at a steady rate, takes the database away
// in the middle (a long outage, then several short ones that are likely to
// land during a write), and checks that after Close every accepted event and
// activity is in its table exactly once.
func TestMonitorSurvivesDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	for _, tc := range []struct {
		name string
		cut  func(*faulttest.Proxy)
	}{
		{"refused", (*faulttest.Proxy).Cut},         // the server went away: connections reset, dials refused
		{"partition", (*faulttest.Proxy).Blackhole}, // nothing answers: writes run into their timeouts
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			direct := sqlschematest.Pool(t)
			schema := sqlschematest.NewSchema(t, direct)
			px := faulttest.NewProxy(t, net.JoinHostPort(direct.Config().ConnConfig.Host, strconv.Itoa(int(direct.Config().ConnConfig.Port))))
			st, err := pgstore.New(outagePool(t, px), pgstore.Config{Schema: schema, StatementTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			mon, err := secmon.New(secmon.Config{
				Store:         st,
				FlushInterval: 50 * time.Millisecond,
				BatchSize:     100,
				WriteTimeout:  time.Second,
				MinBackoff:    20 * time.Millisecond,
				MaxBackoff:    300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					_ = mon.Close(context.Background())
				}
			})

			// Steady load: one event and one activity every 2ms until stop.
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var eventIDs, activityIDs []uuid.UUID
			var logErrs []error
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					e := secmon.Event{ID: secmon.NewID(), Type: secmon.EventLoginFailure, Severity: secmon.SeverityLow,
						UserID: "outage-user", Metadata: map[string]string{"reason": "bad_password"}}
					a := secmon.Activity{ID: secmon.NewID(), UserID: "outage-user", Action: "page_view", Resource: "/p"}
					errE := mon.Log(ctx, e)
					errA := mon.TrackActivity(ctx, a)
					mu.Lock()
					if errE == nil {
						eventIDs = append(eventIDs, e.ID)
					} else {
						logErrs = append(logErrs, errE)
					}
					if errA == nil {
						activityIDs = append(activityIDs, a.ID)
					} else {
						logErrs = append(logErrs, errA)
					}
					mu.Unlock()
				}
			}()

			waitFor(t, "first rows written", func() bool { return mon.Stats().EventsWritten > 0 })
			tc.cut(px)
			time.Sleep(2 * time.Second)
			failedDuring := mon.Stats().EventsFailed
			px.Restore()
			for range 5 {
				time.Sleep(150 * time.Millisecond)
				tc.cut(px)
				time.Sleep(100 * time.Millisecond)
				px.Restore()
			}
			time.Sleep(300 * time.Millisecond)
			close(stop)
			wg.Wait()

			// The bound only keeps a broken run from hanging.
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if err := mon.Close(cctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			closed = true

			if len(logErrs) > 0 {
				t.Errorf("%d Log/TrackActivity calls failed during the outage, first: %v", len(logErrs), logErrs[0])
			}
			if failedDuring == 0 {
				t.Fatalf("no write failed while the database was cut: the outage was not felt (stats %+v)", mon.Stats())
			}
			stats := mon.Stats()
			t.Logf("accepted %d events, %d activities; failed writes: events %d, activities %d; proxy %+v",
				len(eventIDs), len(activityIDs), stats.EventsFailed, stats.ActivitiesFailed, px.Stats())

			checkExactlyOnce(t, direct, schema+".security_events", eventIDs)
			checkExactlyOnce(t, direct, schema+".user_activity", activityIDs)
			if stats.EventsAccepted != uint64(len(eventIDs)) || stats.EventsWritten != stats.EventsAccepted {
				t.Errorf("events: accepted %d, written %d, logged %d", stats.EventsAccepted, stats.EventsWritten, len(eventIDs))
			}
			if stats.ActivitiesAccepted != uint64(len(activityIDs)) || stats.ActivitiesWritten != stats.ActivitiesAccepted {
				t.Errorf("activities: accepted %d, written %d, tracked %d", stats.ActivitiesAccepted, stats.ActivitiesWritten, len(activityIDs))
			}
			if stats.EventsRejected != 0 || stats.ActivitiesRejected != 0 || stats.PendingEvents != 0 || stats.PendingActivities != 0 {
				t.Errorf("rows lost: %+v", stats)
			}
		})
	}
}

// checkExactlyOnce fails t unless table holds exactly the rows ids, each once.
func checkExactlyOnce(t *testing.T, pool *pgxpool.Pool, table string, ids []uuid.UUID) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, count(*) FROM `+table+` GROUP BY id`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uuid.UUID]int64{}
	for rows.Next() {
		var id [16]byte
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		stored[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	missing, dup := 0, 0
	for _, id := range ids {
		switch n := stored[id]; {
		case n == 0:
			missing++
		case n > 1:
			dup++
		}
		delete(stored, id)
	}
	if missing > 0 || dup > 0 || len(stored) > 0 {
		t.Errorf("%s: of %d accepted rows %d missing, %d stored more than once, %d unknown rows", table, len(ids), missing, dup, len(stored))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
