package pgstore

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
)

// Reconnection backoff of SubscribeAlerts and SubscribeBlocks.
const (
	subscribeMinBackoff = 100 * time.Millisecond
	subscribeMaxBackoff = 10 * time.Second
)

// SubscribeAlerts calls fn with each alert opened or updated in the Store's
// schema, by this instance or any other sharing the database, until ctx is
// done; it then returns ctx's error.
//
// It takes one connection out of the pool for itself (the pool opens
// another in its place), runs LISTEN on AlertChannel, and for each
// notification reads the alert by ID on that connection and calls fn from
// the calling goroutine: fn must not block for long. Notifications about
// alerts of other schemas on the same database are ignored. When the
// connection breaks it reconnects with exponential backoff (100ms up to
// 10s); changes made while it was disconnected are not replayed, so a
// dashboard should reload with Alerts after a gap. fn == nil is an error
// matching secmon.ErrInvalid.
func (s *Store) SubscribeAlerts(ctx context.Context, fn func(secmon.Alert)) error {
	if fn == nil {
		return invalid("fn", "is nil")
	}
	return s.resubscribe(ctx, "alert", func(ctx context.Context) (bool, error) { return s.listen(ctx, fn) })
}

// listen runs one LISTEN connection until it fails or ctx is done. listened
// reports whether LISTEN succeeded, so the caller resets its backoff.
func (s *Store) listen(ctx context.Context, fn func(secmon.Alert)) (listened bool, err error) {
	const op = "subscribe alerts"
	conn, err := s.listenOn(ctx, op, "alerts", AlertChannel)
	if err != nil {
		return false, err
	}
	defer closeListener(ctx, conn)
	for {
		id, err := nextID(ctx, op, conn)
		if err != nil {
			return true, err
		}
		a, err := s.alert(ctx, conn, id)
		if errors.Is(err, secmon.ErrNotFound) {
			continue // another schema's alert, or deleted since
		}
		if err != nil {
			return true, err
		}
		fn(a)
	}
}

// resubscribe calls listen until ctx is done, again after each failure
// with exponential backoff (subscribeMinBackoff up to subscribeMaxBackoff,
// jittered), reset each time listen reports that LISTEN succeeded. It logs
// each interruption of the what subscription and returns ctx's error.
func (s *Store) resubscribe(ctx context.Context, what string, listen func(context.Context) (listened bool, err error)) error {
	backoff := subscribeMinBackoff
	for {
		listened, err := listen(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listened {
			backoff = subscribeMinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "secmon: "+what+" subscription interrupted; reconnecting",
			slog.String("error", err.Error()), slog.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, subscribeMaxBackoff)
	}
}

// listenOn takes a connection out of the pool for itself (the pool opens
// another in its place) and runs LISTEN channel on it, each step under op
// (see run); what names the notifications in the debug log. The caller
// closes the connection with closeListener.
func (s *Store) listenOn(ctx context.Context, op, what, channel string) (*pgx.Conn, error) {
	var conn *pgx.Conn
	err := s.run(ctx, op, func(ctx context.Context) error {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		conn = c.Hijack()
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.run(ctx, op, func(ctx context.Context) error {
		_, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize())
		return err
	})
	if err != nil {
		closeListener(ctx, conn)
		return nil, err
	}
	s.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "secmon: listening for "+what, slog.String("channel", channel))
	return conn, nil
}

// closeListener closes a connection of listenOn, waiting at most 5s even
// when ctx is done.
func closeListener(ctx context.Context, conn *pgx.Conn) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = conn.Close(cctx)
}

// nextID waits on conn for the next notification whose payload is an ID,
// skipping any other, and returns the ID.
func nextID(ctx context.Context, op string, conn *pgx.Conn) (uuid.UUID, error) {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return uuid.Nil, translate(ctx, op, err)
		}
		if id, err := uuid.Parse(n.Payload); err == nil {
			return id, nil
		}
	}
}
