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
)

// ExportRecord is one line of RetentionStore.ExportUser's output: a JSON
// object whose "kind" says which of the other fields is set.
type ExportRecord struct {
	Kind     string    `json:"kind"`
	Event    *Event    `json:"event,omitempty"`
	Session  *Session  `json:"session,omitempty"`
	Activity *Activity `json:"activity,omitempty"`
	Alert    *Alert    `json:"alert,omitempty"`
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
