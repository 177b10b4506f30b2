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
//
// NewPayload bounds it, so no alert makes a request body larger than about
// 100 KiB of text: Rule, Subject and Summary are cut to MaxPayloadText
// bytes, and Evidence keeps the first MaxPayloadEvidence keys in sorted
// order, keys cut to MaxPayloadKey and values to MaxPayloadValue bytes
// (cuts fall on rune boundaries).
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

// Payload bounds (see Payload).
const (
	MaxPayloadText     = 4096
	MaxPayloadEvidence = 64
	MaxPayloadKey      = 128
	MaxPayloadValue    = 1024
)

// NewPayload converts an alert to its bounded JSON form. An out-of-range
// severity is sent as critical rather than dropped or invented.
func NewPayload(a secmon.Alert) Payload {
	p := Payload{
		Rule:      cut(string(a.Rule), MaxPayloadText),
		Subject:   cut(a.Subject, MaxPayloadText),
		Severity:  a.Severity,
		Status:    cut(string(a.Status), 64),
		Count:     a.Count,
		FirstSeen: a.FirstSeen.UTC(),
		LastSeen:  a.LastSeen.UTC(),
		Summary:   cut(a.Summary, MaxPayloadText),
		Action:    PayloadAction{Kind: cut(string(a.Action.Kind), 64), DurationSeconds: a.Action.Duration.Seconds()},
	}
	if len(a.Evidence) > 0 {
		keys := slices.Sorted(maps.Keys(a.Evidence))
		if len(keys) > MaxPayloadEvidence {
			keys = keys[:MaxPayloadEvidence]
		}
		p.Evidence = make(map[string]string, len(keys))
		for _, k := range keys {
			p.Evidence[cut(k, MaxPayloadKey)] = cut(a.Evidence[k], MaxPayloadValue)
		}
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

// cut returns s cut to max bytes at a rune boundary.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// oneLine removes control characters (CR, LF and the Unicode line
// separators as spaces), bidirectional controls and invisible formatting
// characters, and cuts s to max bytes at a rune boundary, so alert text can
// never start a new header or log line, nor display as something else in
// a console or mail client. Only the first 4×max bytes of s are read.
func oneLine(s string, max int) string {
	s = cut(s, 4*max)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t' || r == 0x2028 || r == 0x2029:
			r = ' '
		case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f, invisible(r):
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// invisible reports bidirectional controls (embeddings, overrides,
// isolates, marks), zero-width and other invisible formatting characters
// and the Unicode tag characters.
func invisible(r rune) bool {
	switch {
	case r == 0xad, r == 0x61c, r == 0x180e,
		r >= 0x200b && r <= 0x200f,
		r >= 0x202a && r <= 0x202e,
		r >= 0x2060 && r <= 0x206f,
		r == 0xfeff,
		r >= 0xfff9 && r <= 0xfffb,
		r >= 0xe0000 && r <= 0xe007f:
		return true
	}
	return false
}
