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

// Reconnection backoff of SubscribeAlerts.
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
	backoff := subscribeMinBackoff
	for {
		listened, err := s.listen(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listened {
			backoff = subscribeMinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "secmon: alert subscription interrupted; reconnecting",
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

// listen runs one LISTEN connection until it fails or ctx is done. listened
// reports whether LISTEN succeeded, so the caller resets its backoff.
func (s *Store) listen(ctx context.Context, fn func(secmon.Alert)) (listened bool, err error) {
	const op = "subscribe alerts"
	var conn *pgx.Conn
	err = s.run(ctx, op, func(ctx context.Context) error {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		conn = c.Hijack()
		return nil
	})
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	err = s.run(ctx, op, func(ctx context.Context) error {
		_, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{AlertChannel}.Sanitize())
		return err
	})
	if err != nil {
		return false, err
	}
	s.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "secmon: listening for alerts", slog.String("channel", AlertChannel))
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, translate(ctx, op, err)
		}
		id, err := uuid.Parse(n.Payload)
		if err != nil {
			continue
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
