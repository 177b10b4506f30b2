package secmon

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// EventCursor is a position in the order EventStore.QueryEvents returns
// events: newest first by Time, ties by ID descending. The cursor of an
// event is its (Time, ID); a query whose Before is the cursor of the last
// event of a page returns the page after it, so paging stays exact while
// new events arrive. The zero EventCursor does not filter.
//
// Take cursors from returned events: a store compares times at its own
// precision (PostgreSQL keeps microseconds).
type EventCursor struct {
	Time time.Time
	ID   uuid.UUID
}

// IsZero reports whether c is the zero cursor, which does not filter.
func (c EventCursor) IsZero() bool { return c.Time.IsZero() && c.ID == uuid.Nil }

// After reports whether an event at (t, id) comes after c in newest-first
// order, that is whether it belongs to the page that c ends: t is before
// c.Time, or equal to it with an ID below c.ID.
func (c EventCursor) After(t time.Time, id uuid.UUID) bool {
	if cmp := t.Compare(c.Time); cmp != 0 {
		return cmp < 0
	}
	return bytes.Compare(id[:], c.ID[:]) < 0
}

// Cursor returns the position of e, for EventQuery.Before.
func (e *Event) Cursor() EventCursor { return EventCursor{Time: e.Time, ID: e.ID} }

// Limits of TopQuery.Limit.
const (
	DefaultTopLimit = 10
	MaxTopLimit     = 100
)

// TopQuery selects the events ReportStore.Top ranks.
type TopQuery struct {
	From, To time.Time   // required; From inclusive, To exclusive
	Types    []EventType // only events of these types; empty means every type
	// Limit is the number of entries in each list: DefaultTopLimit for
	// zero or less, at most MaxTopLimit.
	Limit int
}

// TopReport ranks where a range's events came from and whom they were about.
// It answers the first questions of an incident: which networks are hitting
// us, and which accounts are they after.
type TopReport struct {
	// Sources are the IP groups (see IPGroup: an IPv4 address, an IPv6 /64)
	// with the most events, most first; ties by the latest event, then by
	// the group's text, byte-wise. Events without an address are not
	// ranked here.
	Sources []TopSource
	// Accounts are the user IDs with the most events, most first; ties by
	// the latest event, then by user ID, byte-wise. Events without a user
	// are not ranked here.
	Accounts []TopAccount
}

// TopSource is one IP group of a TopReport.
type TopSource struct {
	Group    netip.Prefix // the IP group
	Events   int64        // matching events from the group
	Accounts int64        // distinct user IDs among those events (empty user IDs not counted)
	LastSeen time.Time    // time of the group's newest matching event
}

// TopAccount is one account of a TopReport.
type TopAccount struct {
	UserID   string
	Events   int64     // matching events about the account
	Sources  int64     // distinct IP groups among those events (events without an address not counted)
	LastSeen time.Time // time of the account's newest matching event
}
