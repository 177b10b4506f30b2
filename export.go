package secmon

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
)

// Kinds of ExportRecord.
const (
	ExportEvent    = "event"
	ExportSession  = "session"
	ExportActivity = "activity"
	ExportAlert    = "alert"
	ExportBlock    = "block"
)

// ExportRecord is one line of RetentionStore.ExportUser's output: a JSON
// object whose "kind" says which one of the other fields is set:
//
//	kind      field     what
//	event     event     an Event whose UserID is the user
//	session   session   a Session of the user, revoked or not
//	activity  activity  an Activity of the user
//	alert     alert     an Alert whose subject is the user (AlertAboutUser)
//	block     block     a Block on the user's account (BlockOnUser): in
//	                    force, expired or lifted
//
// Each payload is the Go value encoded by encoding/json, so its keys are
// the field names ("ID", "Time", "UserID", …), times are RFC 3339 in UTC
// (the zero time, "0001-01-01T00:00:00Z", for an unset one such as a
// block's Until when it lasts until lifted), IDs are UUID strings and
// addresses and prefixes their text ("" when unset). A block line, for
// example:
//
//	{"kind":"block","block":{"ID":"0193…","Scope":"user","Subject":"user:alice","Prefix":"","UserID":"alice",…,"Origin":"rule","Level":2,…}}
//
// Consumers should ignore kinds they do not know: later versions may add
// kinds, as they add rows about users.
type ExportRecord struct {
	Kind     string    `json:"kind"`
	Event    *Event    `json:"event,omitempty"`
	Session  *Session  `json:"session,omitempty"`
	Activity *Activity `json:"activity,omitempty"`
	Alert    *Alert    `json:"alert,omitempty"`
	Block    *Block    `json:"block,omitempty"`
}

// UserSubject is the alert subject of rules about one user ("user:" +
// the user ID, as the detect package writes it).
const UserSubject = "user:"

// AlertAboutUser reports whether an alert's subject names userID: the
// subject is UserSubject followed by the ID, compared as the detect
// package keys users (surrounding spaces ignored, case-insensitively
// unless it was configured otherwise, which is why both are accepted).
// ExportUser and EraseUser use it to find a user's alerts.
func AlertAboutUser(subject, userID string) bool {
	if !strings.HasPrefix(subject, UserSubject) {
		return false
	}
	s := subject[len(UserSubject):]
	return s == userID || strings.EqualFold(s, strings.TrimSpace(userID))
}

// BlockOnUser reports whether b is a block on userID's account: its scope
// is ScopeUser and its subject names userID as AlertAboutUser compares it
// (the guard stores account blocks under detect.UserKey's form, lower
// case unless configured otherwise). ExportUser exports such blocks and
// EraseUser removes them, in force or not; blocks on addresses and
// prefixes hold no user ID and are neither.
func BlockOnUser(b *Block, userID string) bool {
	return b.Scope == ScopeUser && AlertAboutUser(b.Subject, userID)
}

// ExportWriter writes ExportRecords as JSON lines through a buffer. Stores
// use it to implement ExportUser; it is not safe for concurrent use.
type ExportWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
	n   int64
}

// NewExportWriter returns an ExportWriter on w.
func NewExportWriter(w io.Writer) *ExportWriter {
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &ExportWriter{bw: bw, enc: enc}
}

// Write writes one record as a line.
func (x *ExportWriter) Write(r ExportRecord) error {
	x.n++
	return x.enc.Encode(r)
}

// Records returns how many records were written.
func (x *ExportWriter) Records() int64 { return x.n }

// Flush writes what is buffered to the underlying writer.
func (x *ExportWriter) Flush() error { return x.bw.Flush() }
