package storetest

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

var pageTests = []test{
	{"WalkAll", testPagesWalkAll},
	{"WalkFiltered", testPagesWalkFiltered},
	{"StableWhileInserting", testPagesStable},
	{"CursorBetweenRows", testPagesCursorBetween},
}

// pageFixture is 25 events over five distinct times (five events share
// each time), inserted out of order, so pages split runs of equal times and
// only the ID orders them.
func pageFixture(t *testing.T, s secmon.Store) []secmon.Event {
	t.Helper()
	var evs []secmon.Event
	for i := range 25 {
		typ := secmon.EventLoginFailure
		if i%3 == 0 {
			typ = secmon.EventPageView
		}
		evs = append(evs, secmon.Event{
			ID: seqID(uint64(100 + (i*7)%25)), Time: base.Add(time.Duration(i/5) * time.Minute), Type: typ,
			UserID: []string{"alice", "bob"}[i%2], IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 4)}),
		})
	}
	// Reverse halves: batches arrive out of order.
	insertEvents(t, s, evs[12:]...)
	insertEvents(t, s, evs[:12]...)
	return evs
}

// walk pages through q with page size n and returns every event in order.
func walk(t *testing.T, s secmon.Store, q secmon.EventQuery, n int) []secmon.Event {
	t.Helper()
	q.Limit = n
	var out []secmon.Event
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		page := queryEvents(t, s, q)
		if len(page) > n {
			t.Fatalf("page of %d events with Limit %d", len(page), n)
		}
		out = append(out, page...)
		if len(page) < n {
			return out
		}
		q.Before = page[len(page)-1].Cursor()
	}
}

func testPagesWalkAll(t *testing.T, s secmon.Store) {
	pageFixture(t, s)
	all := allEvents(t, s)
	if len(all) != 25 {
		t.Fatalf("stored %d events, want 25", len(all))
	}
	for _, n := range []int{1, 3, 5, 7, 25, 26} {
		diff(t, "pages of "+strconv.Itoa(n), ids(all), ids(walk(t, s, secmon.EventQuery{}, n)))
	}
}

func testPagesWalkFiltered(t *testing.T, s secmon.Store) {
	pageFixture(t, s)
	for _, q := range []secmon.EventQuery{
		{Types: []secmon.EventType{secmon.EventLoginFailure}},
		{UserID: "bob"},
		{IP: netip.MustParsePrefix("198.51.100.2/32")},
		{From: base.Add(time.Minute), To: base.Add(4 * time.Minute)},
		{Types: []secmon.EventType{secmon.EventPageView}, UserID: "alice", From: base.Add(time.Minute)},
	} {
		full := q
		full.Limit = secmon.MaxQueryLimit
		want := queryEvents(t, s, full)
		if len(want) == 0 {
			t.Fatalf("query %+v matches nothing; the fixture is wrong", q)
		}
		diff(t, "filtered pages", ids(want), ids(walk(t, s, q, 2)))
	}
}

// testPagesStable: events inserted while a reader pages, newer than its
// first page, neither repeat nor hide a row of the pages after it.
func testPagesStable(t *testing.T, s secmon.Store) {
	pageFixture(t, s)
	all := allEvents(t, s)
	first := queryEvents(t, s, secmon.EventQuery{Limit: 4})
	insertEvents(t, s,
		secmon.Event{ID: secmon.NewID(), Time: base.Add(time.Hour), Type: secmon.EventLoginFailure},
		secmon.Event{ID: seqID(999), Time: all[0].Time, Type: secmon.EventLoginFailure}, // ties the newest row, with a higher ID
	)
	rest := walk(t, s, secmon.EventQuery{Before: first[len(first)-1].Cursor()}, 4)
	diff(t, "pages after the first", ids(all[4:]), ids(rest))
}

// testPagesCursorBetween: a cursor need not be a stored event's; with a
// zero ID it keeps the events strictly older than its time.
func testPagesCursorBetween(t *testing.T, s secmon.Store) {
	evs := pageFixture(t, s)
	all := allEvents(t, s)
	at := evs[10].Time // the third distinct time
	var older []secmon.Event
	for _, e := range all {
		if e.Time.Before(at) {
			older = append(older, e)
		}
	}
	got := queryEvents(t, s, secmon.EventQuery{Before: secmon.EventCursor{Time: at}, Limit: secmon.MaxQueryLimit})
	diff(t, "Before a time", ids(older), ids(got))

	// Between two IDs of the same time: the rows of that time with a lower ID, then the older ones.
	var want []uuid.UUID
	mid := secmon.EventCursor{Time: at, ID: seqID(112)}
	for _, e := range all {
		if mid.After(e.Time, e.ID) {
			want = append(want, e.ID)
		}
	}
	got = queryEvents(t, s, secmon.EventQuery{Before: mid, Limit: secmon.MaxQueryLimit})
	if len(want) == len(older) {
		t.Fatal("the fixture has no row of that time below the cursor's ID")
	}
	diff(t, "Before a time and ID", want, ids(got))

	got = queryEvents(t, s, secmon.EventQuery{Before: secmon.EventCursor{Time: base.Add(-time.Hour)}})
	if len(got) != 0 {
		t.Errorf("a cursor older than every event returned %d events", len(got))
	}
}
