package pgstore_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/faulttest"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
	"github.com/secmon-go/secmon/store/pgstore"
)

func testBlock(addr string, at time.Time) secmon.Block {
	g := secmon.IPGroup(netip.MustParseAddr(addr))
	return secmon.Block{
		ID: secmon.NewID(), Scope: secmon.ScopeIP, Prefix: g, Subject: secmon.BlockSubject(secmon.ScopeIP, g, ""),
		Origin: secmon.OriginManual, Level: 1, Created: at, Until: at.Add(time.Hour), By: "op",
	}
}

// TestSubscribeBlocks checks that SubscribeBlocks hears puts and lifts of
// its own schema only, that a retried put is not announced again, and that
// it asks for a resync when it starts and after the connection was cut.
func TestSubscribeBlocks(t *testing.T) {
	t.Parallel()
	direct := sqlschematest.Pool(t)
	schema := sqlschematest.NewSchema(t, direct)
	px := faulttest.NewProxy(t, net.JoinHostPort(direct.Config().ConnConfig.Host, strconv.Itoa(int(direct.Config().ConnConfig.Port))))
	listener, err := pgstore.New(outagePool(t, px), pgstore.Config{Schema: schema, StatementTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	writer, err := pgstore.New(direct, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	other, err := pgstore.New(direct, pgstore.Config{Schema: sqlschematest.NewSchema(t, direct)})
	if err != nil {
		t.Fatal(err)
	}

	ids := make(chan uuid.UUID, 16)
	var resyncs atomic.Int32
	resynced := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- listener.SubscribeBlocks(ctx, func(id uuid.UUID) { ids <- id }, func() {
			resyncs.Add(1)
			resynced <- struct{}{}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("SubscribeBlocks returned %v, want context.Canceled", err)
		}
	}()
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	next := func() uuid.UUID {
		t.Helper()
		select {
		case id := <-ids:
			return id
		case <-time.After(30 * time.Second):
			t.Fatal("timed out waiting for a block ID")
			return uuid.Nil
		}
	}
	wait("the first resync", resynced)

	now := time.Now().UTC().Truncate(time.Microsecond)
	foreign := testBlock("192.0.2.9", now)
	if err := other.PutBlocks(t.Context(), []secmon.Block{foreign}); err != nil {
		t.Fatal(err)
	}
	b := testBlock("192.0.2.1", now)
	if err := writer.PutBlocks(t.Context(), []secmon.Block{b}); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != b.ID {
		t.Fatalf("heard %s, want the put block %s (another schema's block must not be heard)", got, b.ID)
	}
	// A retried, unchanged put is not announced; the lift after it is.
	if err := writer.PutBlocks(t.Context(), []secmon.Block{b}); err != nil {
		t.Fatal(err)
	}
	if err := writer.LiftBlock(t.Context(), b.ID, "op", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != b.ID {
		t.Fatalf("heard %s, want the lifted block", got)
	}
	select {
	case id := <-ids:
		t.Fatalf("an extra announcement of %s: the unchanged put or the second lift was announced", id)
	case <-time.After(200 * time.Millisecond):
	}

	// Cut the listener's connection: it reconnects and asks for a resync,
	// since what changed meanwhile is not replayed.
	px.Cut()
	missed := testBlock("192.0.2.2", now)
	if err := writer.PutBlocks(t.Context(), []secmon.Block{missed}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	px.Restore()
	wait("a resync after the reconnect", resynced)
	if n := resyncs.Load(); n < 2 {
		t.Fatalf("%d resyncs, want one at start and one after the reconnect", n)
	}
	got, err := listener.Blocks(t.Context(), secmon.BlockQuery{EndsAfter: now.Add(2 * time.Minute)}) // after the lift
	if err != nil || len(got) != 1 || got[0].ID != missed.ID {
		t.Fatalf("resync read %v, %v; want the block put during the cut", got, err)
	}
	later := testBlock("192.0.2.3", now)
	if err := writer.PutBlocks(t.Context(), []secmon.Block{later}); err != nil {
		t.Fatal(err)
	}
	for {
		if id := next(); id == later.ID {
			break
		}
	}
}
