package storetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

var exportTests = []test{
	{"ExportUser", testExportUser},
	{"ExportUserPages", testExportUserPages},
	{"ExportUserInvalid", testExportUserInvalid},
	{"ExportUserWriterFails", testExportUserWriterFails},
	{"ExportUserBlocks", testExportUserBlocks},
	{"EraseUserAnnouncesBlocks", testEraseUserAnnouncesBlocks},
}

// readExport decodes ExportUser's output, failing on a malformed line.
func readExport(t *testing.T, b []byte) []secmon.ExportRecord {
	t.Helper()
	var out []secmon.ExportRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r secmon.ExportRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		if want := map[string]bool{secmon.ExportEvent: r.Event != nil, secmon.ExportSession: r.Session != nil,
			secmon.ExportActivity: r.Activity != nil, secmon.ExportAlert: r.Alert != nil, secmon.ExportBlock: r.Block != nil}; !want[r.Kind] {
			t.Fatalf("export line %q: kind %q does not name its payload", sc.Text(), r.Kind)
		}
		set := 0
		for _, p := range []bool{r.Event != nil, r.Session != nil, r.Activity != nil, r.Alert != nil, r.Block != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("export line %q sets %d payloads", sc.Text(), set)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func exportUser(t *testing.T, s secmon.Store, user string) []secmon.ExportRecord {
	t.Helper()
	var buf bytes.Buffer
	noErr(t, "ExportUser", s.ExportUser(ctx(t), user, &buf))
	return readExport(t, buf.Bytes())
}

// testExportUser: every row about the user, and only those, in the
// export; EraseUser removes exactly what was exported.
func testExportUser(t *testing.T, s secmon.Store) {
	ip := netip.MustParseAddr("203.0.113.7")
	insertEvents(t, s,
		secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventLoginFailure, UserID: "alice", IP: ip,
			Metadata: map[string]string{"reason": "bad_password"}},
		secmon.Event{ID: secmon.NewID(), Time: base.Add(time.Minute), Type: secmon.EventLoginSuccess, UserID: "alice", IP: ip},
		secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventLoginSuccess, UserID: "bob"},
		secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventLoginFailure},
	)
	upsertSessions(t, s, beat("a1", "alice", base, "203.0.113.7", "ua"), beat("b1", "bob", base, "", ""))
	noErr(t, "RevokeSession", s.RevokeSession(ctx(t), "a1", base.Add(time.Hour)))
	insertActivities(t, s,
		secmon.Activity{ID: secmon.NewID(), Time: base, UserID: "alice", Action: "export_data", Resource: "report:1"},
		secmon.Activity{ID: secmon.NewID(), Time: base, UserID: "bob", Action: "view"},
	)
	upsertAlerts(t, s,
		alert("brute_force_user", "user:alice", secmon.SeverityHigh, 3, base, base.Add(time.Minute), "alice"),
		alert("impossible_travel", "user:ALICE", secmon.SeverityMedium, 1, base, base, "alice, spelled in capitals"),
		alert("brute_force_user", "user:bob", secmon.SeverityHigh, 1, base, base, "bob"),
		alert("brute_force_ip", "ip:203.0.113.7", secmon.SeverityHigh, 5, base, base, "an address"),
	)
	// Blocks on alice's account (one in force, one lifted), on bob's, and on
	// alice's address, which holds no user ID.
	lifted := userBlock(2, "alice", base, 0)
	lifted.LiftedAt, lifted.LiftedBy = base.Add(time.Minute), "operator"
	putBlocks(t, s, userBlock(1, "alice", base.Add(time.Hour), time.Hour), lifted, userBlock(3, "bob", base, 0),
		ipBlock(4, "203.0.113.7", base, time.Hour))

	recs := exportUser(t, s, "alice")
	kinds := map[string]int{}
	for _, r := range recs {
		kinds[r.Kind]++
		switch {
		case r.Event != nil && r.Event.UserID != "alice",
			r.Session != nil && r.Session.UserID != "alice",
			r.Activity != nil && r.Activity.UserID != "alice",
			r.Alert != nil && !secmon.AlertAboutUser(r.Alert.Subject, "alice"),
			r.Block != nil && !secmon.BlockOnUser(r.Block, "alice"):
			t.Errorf("export of alice holds another's row: %+v", r)
		}
		if r.Event != nil && r.Event.Type == secmon.EventLoginFailure && r.Event.Metadata["reason"] != "bad_password" {
			t.Errorf("exported event lost its metadata: %+v", r.Event)
		}
		if r.Session != nil && !r.Session.RevokedAt.Equal(base.Add(time.Hour)) {
			t.Errorf("exported session lost its revocation: %+v", r.Session)
		}
	}
	want := map[string]int{secmon.ExportEvent: 2, secmon.ExportSession: 1, secmon.ExportActivity: 1, secmon.ExportAlert: 2, secmon.ExportBlock: 2}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("export of alice: %v, want %v", kinds, want)
	}
	if recs := exportUser(t, s, "carol"); len(recs) != 0 {
		t.Errorf("export of a user without rows: %d records", len(recs))
	}

	n, err := s.EraseUser(ctx(t), "alice")
	noErr(t, "EraseUser", err)
	if n != int64(len(recs)) {
		t.Errorf("EraseUser removed %d rows, ExportUser wrote %d: they must cover the same rows", n, len(recs))
	}
	if recs := exportUser(t, s, "alice"); len(recs) != 0 {
		t.Errorf("after EraseUser the export still holds %d records: %+v", len(recs), recs)
	}
	// Bob's rows, the address's alert and the address's block stay.
	if recs := exportUser(t, s, "bob"); len(recs) != 5 {
		t.Errorf("bob's export: %d records, want 5", len(recs))
	}
	if got := alerts(t, s, secmon.AlertQuery{}); len(got) != 2 {
		t.Errorf("%d alerts left, want bob's and the address's", len(got))
	}
	if got := blockIDs(allBlocks(t, s)); fmt.Sprint(got) != fmt.Sprint([]uuid.UUID{blockID(4), blockID(3)}) {
		t.Errorf("blocks left %v, want the address's and bob's", got)
	}
}

// testExportUserBlocks: the account's blocks come out whole, whatever their
// state, under the user ID as the guard keys it (lower case) and as the
// host spells it; EraseUser removes exactly those.
func testExportUserBlocks(t *testing.T, s secmon.Store) {
	inForce := userBlock(1, "carol", base, 0) // until lifted
	inForce.Origin, inForce.Rule, inForce.By, inForce.Reason = secmon.OriginManual, "", "operator", "account takeover suspected"
	expired := userBlock(2, "carol", base.Add(-2*time.Hour), time.Hour)
	lifted := userBlock(3, "carol", base.Add(-time.Hour), 0)
	lifted.LiftedAt, lifted.LiftedBy = base.Add(-time.Minute), "operator"
	other := userBlock(4, "carola", base, 0) // a longer name with the same start
	putBlocks(t, s, inForce, expired, lifted, other, prefixBlock(5, "198.51.100.0/24", base, 0))

	for _, spelling := range []string{"carol", " Carol "} {
		var got []secmon.Block
		for _, r := range exportUser(t, s, spelling) {
			if r.Kind != secmon.ExportBlock {
				t.Fatalf("export of %q: unexpected record %+v", spelling, r)
			}
			got = append(got, *r.Block)
		}
		slices.SortFunc(got, func(a, b secmon.Block) int { return bytes.Compare(a.ID[:], b.ID[:]) })
		if diff := cmp.Diff([]secmon.Block{inForce, expired, lifted}, got, cmpOpts); diff != "" {
			t.Errorf("blocks exported for %q (-want +got):\n%s", spelling, diff)
		}
	}
	n, err := s.EraseUser(ctx(t), "Carol")
	noErr(t, "EraseUser", err)
	if n != 3 {
		t.Errorf("EraseUser removed %d rows, want the 3 blocks on the account", n)
	}
	if got := blockIDs(allBlocks(t, s)); fmt.Sprint(got) != fmt.Sprint([]uuid.UUID{blockID(5), blockID(4)}) {
		t.Errorf("blocks left %v, want the prefix's and carola's", got)
	}
}

// testEraseUserAnnouncesBlocks: a store that announces blocks announces
// each one EraseUser removes, so every guard stops enforcing it at once
// rather than at its next full read.
func testEraseUserAnnouncesBlocks(t *testing.T, s secmon.Store) {
	sub, ok := s.(secmon.BlockSubscriber)
	if !ok {
		return // nothing to announce with; EraseUser is checked above
	}
	// A generous deadline, so a missing announcement fails the test
	// instead of hanging it: a store announces within milliseconds.
	c, cancel := context.WithTimeout(ctx(t), 30*time.Second)
	defer cancel()
	ids := make(chan uuid.UUID, 16)
	listening := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- sub.SubscribeBlocks(c, func(id uuid.UUID) { ids <- id }, func() {
			select {
			case listening <- struct{}{}:
			default:
			}
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-listening:
	case <-c.Done():
		t.Fatal("SubscribeBlocks never called resync")
	}
	wait := func(what string, want uuid.UUID) {
		t.Helper()
		for {
			select {
			case id := <-ids:
				if id == want {
					return
				}
			case <-c.Done():
				t.Fatalf("%s: block %v never announced", what, want)
			}
		}
	}
	b := userBlock(1, "dave", base, 0)
	putBlocks(t, s, b, ipBlock(2, "192.0.2.9", base, 0))
	wait("PutBlocks", b.ID)
	n, err := s.EraseUser(ctx(t), "dave")
	noErr(t, "EraseUser", err)
	if n != 1 {
		t.Fatalf("EraseUser removed %d rows, want 1", n)
	}
	wait("EraseUser", b.ID)
}

// testExportUserPages: more rows than one page or chunk of either store,
// with equal times, come out once each.
func testExportUserPages(t *testing.T, s secmon.Store) {
	const n = 1200
	evs := make([]secmon.Event, n)
	for i := range evs {
		evs[i] = secmon.Event{ID: secmon.NewID(), Time: base.Add(time.Duration(i/3) * time.Second), Type: secmon.EventLogout, UserID: "many"}
	}
	insertEvents(t, s, evs...)
	seen := map[[16]byte]bool{}
	for _, r := range exportUser(t, s, "many") {
		if r.Event == nil {
			t.Fatalf("unexpected record %+v", r)
		}
		if seen[r.Event.ID] {
			t.Fatalf("event %v exported twice", r.Event.ID)
		}
		seen[r.Event.ID] = true
	}
	if len(seen) != n {
		t.Errorf("exported %d of %d events", len(seen), n)
	}
}

func testExportUserInvalid(t *testing.T, s secmon.Store) {
	var buf bytes.Buffer
	if err := s.ExportUser(ctx(t), "", &buf); !errors.Is(err, secmon.ErrInvalid) {
		t.Errorf("ExportUser(\"\") = %v, want ErrInvalid", err)
	}
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	if err := s.ExportUser(c, "alice", &buf); err == nil {
		t.Error("ExportUser with a cancelled context succeeded")
	}
}

// failWriter fails every write.
type failWriter struct{}

var errWrite = errors.New("storetest: write failed")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func testExportUserWriterFails(t *testing.T, s secmon.Store) {
	evs := make([]secmon.Event, 300) // more than the writer's buffer holds
	for i := range evs {
		evs[i] = secmon.Event{ID: secmon.NewID(), Time: base, Type: secmon.EventLogout, UserID: "w",
			Metadata: map[string]string{"reason": fmt.Sprintf("%0200d", i)}}
	}
	insertEvents(t, s, evs...)
	if err := s.ExportUser(ctx(t), "w", failWriter{}); !errors.Is(err, errWrite) {
		t.Errorf("ExportUser to a failing writer = %v, want its error", err)
	}
}
