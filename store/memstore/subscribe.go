package memstore

import (
	"context"

	"github.com/secmon-go/secmon"
)

type subscriber struct {
	ch chan secmon.Alert
}

// SubscribeAlerts calls fn for each alert opened or changed by UpsertAlerts
// or SetAlertStatus until ctx is done, then returns ctx's error. It runs fn
// on the calling goroutine and starts none of its own.
//
// The store never waits for a subscriber: each has a buffer of
// Config.SubscriberBuffer updates, and an update that finds the buffer full
// is dropped for that subscriber and counted in Stats.DroppedNotifications.
// Updates still buffered when ctx is done are discarded. fn receives its own
// copy of the alert.
func (s *Store) SubscribeAlerts(ctx context.Context, fn func(secmon.Alert)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if fn == nil {
		return invalid("SubscribeAlerts needs a function")
	}
	sub := &subscriber{ch: make(chan secmon.Alert, s.cfg.SubscriberBuffer)}
	s.alertMu.Lock()
	s.subs[sub] = struct{}{}
	s.alertMu.Unlock()
	defer func() {
		s.alertMu.Lock()
		delete(s.subs, sub)
		s.alertMu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case a := <-sub.ch:
			fn(a)
		}
	}
}

// announceLocked offers a to every subscriber without blocking. The caller
// holds alertMu.
func (s *Store) announceLocked(a secmon.Alert) {
	for sub := range s.subs {
		c := a
		c.Evidence = cloneMap(a.Evidence)
		select {
		case sub.ch <- c:
		default:
			s.droppedNotifications.Add(1)
		}
	}
}
