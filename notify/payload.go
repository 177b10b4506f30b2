package notify

import (
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secmon-go/secmon"
)

// Payload is the JSON document a Webhook posts: an alert with stable,
// snake_case field names. Receivers written in Go can decode into it.
type Payload struct {
	ID        string            `json:"id"`
	Rule      string            `json:"rule"`
	Subject   string            `json:"subject"`
	Severity  secmon.Severity   `json:"severity"` // "info" … "critical"
	Status    string            `json:"status"`
	Count     int64             `json:"count"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
	Summary   string            `json:"summary"`
	Evidence  map[string]string `json:"evidence,omitempty"`
	Action    PayloadAction     `json:"action"`
}

// PayloadAction is the suggested response of an alert.
type PayloadAction struct {
	Kind            string  `json:"kind,omitempty"`
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
}

// NewPayload converts an alert to its JSON form. An out-of-range severity
// is sent as critical rather than dropped or invented.
func NewPayload(a secmon.Alert) Payload {
	p := Payload{
		Rule:      a.Rule,
		Subject:   a.Subject,
		Severity:  a.Severity,
		Status:    string(a.Status),
		Count:     a.Count,
		FirstSeen: a.FirstSeen.UTC(),
		LastSeen:  a.LastSeen.UTC(),
		Summary:   a.Summary,
		Evidence:  a.Evidence,
		Action:    PayloadAction{Kind: string(a.Action.Kind), DurationSeconds: a.Action.Duration.Seconds()},
	}
	if a.ID != [16]byte{} {
		p.ID = a.ID.String()
	}
	if !p.Severity.Valid() {
		p.Severity = secmon.SeverityCritical // never drop an alert over a bad severity
	}
	return p
}

// maxEvidence bounds how many evidence entries a console line or an e-mail
// shows.
const maxEvidence = 32

// sortedEvidence returns up to maxEvidence evidence keys in sorted order.
func sortedEvidence(ev map[string]string) []string {
	keys := slices.Sorted(maps.Keys(ev))
	if len(keys) > maxEvidence {
		keys = keys[:maxEvidence]
	}
	return keys
}

// oneLine removes control characters (CR and LF included, as spaces) and
// cuts s to max bytes at a rune boundary, so alert text can never start a
// new header or log line.
func oneLine(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t':
			r = ' '
		case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029:
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
