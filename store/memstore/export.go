package memstore

import (
	"bytes"
	"context"
	"io"
	"slices"

	"github.com/secmon-go/secmon"
)

// exportChunk is how many rows ExportUser copies under a lock at a time.
const exportChunk = 256

// ExportUser writes userID's events, sessions, activity, alerts (see
// secmon.AlertAboutUser) and the blocks on the account (see
// secmon.BlockOnUser) to w as JSON lines, oldest first within each kind:
// the rows EraseUser removes.
// Rows are copied a chunk at a time under the read lock and written with
// the lock released, so a slow writer never blocks the Monitor's writes and
// memory stays bounded; rows stored while the export runs may or may not be
// included. The empty user ID is invalid.
func (s *Store) ExportUser(ctx context.Context, userID string, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if userID == "" {
		return invalid("user ID is empty")
	}
	out := secmon.NewExportWriter(w)
	var buf []secmon.ExportRecord

	// Events and activities: walk the ring by position, a chunk per lock.
	// Rows purged or inserted between two chunks shift positions, so a row
	// may then be skipped or written twice; an export taken while the
	// Monitor writes is a snapshot of no single instant.
	var evs []secmon.Event
	for pos := 0; ; {
		evs = evs[:0]
		s.evMu.RLock()
		for pos < s.events.len() && len(evs) < exportChunk {
			if e := s.events.at(pos); e.UserID == userID {
				evs = append(evs, cloneEvent(*e))
			}
			pos++
		}
		done := pos >= s.events.len()
		s.evMu.RUnlock()
		buf = buf[:0]
		for i := range evs {
			buf = append(buf, secmon.ExportRecord{Kind: secmon.ExportEvent, Event: &evs[i]})
		}
		if err := writeAll(ctx, out, buf); err != nil {
			return err
		}
		if done {
			break
		}
	}

	s.sessMu.RLock()
	sessions := make([]secmon.Session, 0, len(s.byUser[userID]))
	for _, x := range s.byUser[userID] {
		sessions = append(sessions, x.Session)
	}
	s.sessMu.RUnlock()
	buf = buf[:0]
	for i := range sessions {
		buf = append(buf, secmon.ExportRecord{Kind: secmon.ExportSession, Session: &sessions[i]})
	}
	if err := writeAll(ctx, out, buf); err != nil {
		return err
	}

	var acts []secmon.Activity
	for pos := 0; ; {
		acts = acts[:0]
		s.actMu.RLock()
		for pos < s.activities.len() && len(acts) < exportChunk {
			if a := s.activities.at(pos); a.UserID == userID {
				acts = append(acts, cloneActivity(*a))
			}
			pos++
		}
		done := pos >= s.activities.len()
		s.actMu.RUnlock()
		buf = buf[:0]
		for i := range acts {
			buf = append(buf, secmon.ExportRecord{Kind: secmon.ExportActivity, Activity: &acts[i]})
		}
		if err := writeAll(ctx, out, buf); err != nil {
			return err
		}
		if done {
			break
		}
	}

	s.alertMu.RLock()
	var alerts []secmon.Alert
	for _, a := range s.alertByID {
		if secmon.AlertAboutUser(a.Subject, userID) {
			alerts = append(alerts, cloneAlert(a.Alert))
		}
	}
	s.alertMu.RUnlock()
	buf = buf[:0]
	for i := range alerts {
		buf = append(buf, secmon.ExportRecord{Kind: secmon.ExportAlert, Alert: &alerts[i]})
	}
	if err := writeAll(ctx, out, buf); err != nil {
		return err
	}

	// Blocks on the account, in force or not, oldest (lowest ID) first.
	s.blockMu.RLock()
	var blocks []secmon.Block
	for _, b := range s.blocks {
		if secmon.BlockOnUser(b, userID) {
			blocks = append(blocks, *b)
		}
	}
	s.blockMu.RUnlock()
	slices.SortFunc(blocks, func(a, b secmon.Block) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	buf = buf[:0]
	for i := range blocks {
		buf = append(buf, secmon.ExportRecord{Kind: secmon.ExportBlock, Block: &blocks[i]})
	}
	if err := writeAll(ctx, out, buf); err != nil {
		return err
	}
	return out.Flush()
}

func writeAll(ctx context.Context, out *secmon.ExportWriter, recs []secmon.ExportRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, r := range recs {
		if err := out.Write(r); err != nil {
			return err
		}
	}
	return nil
}

func cloneEvent(e secmon.Event) secmon.Event {
	e.Metadata = cloneMap(e.Metadata)
	return e
}

func cloneActivity(a secmon.Activity) secmon.Activity {
	a.Metadata = cloneMap(a.Metadata)
	return a
}

func cloneAlert(a secmon.Alert) secmon.Alert {
	a.Evidence = cloneMap(a.Evidence)
	return a
}
