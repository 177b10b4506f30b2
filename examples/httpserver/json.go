package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/secmon-go/secmon"
)

type alertJSON struct {
	ID        string            `json:"id"`
	Rule      string            `json:"rule"`
	Subject   string            `json:"subject"`
	Severity  string            `json:"severity"`
	Status    string            `json:"status"`
	Count     int64             `json:"count"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
	Summary   string            `json:"summary"`
	Evidence  map[string]string `json:"evidence,omitempty"`
	Action    string            `json:"suggested_action,omitempty"`
}

// hourJSON is one hour of /admin/api/summary's breakdown.
type hourJSON struct {
	Start          time.Time `json:"start"`
	Events         int64     `json:"events"`
	LoginFailures  int64     `json:"login_failures"`
	UploadsBlocked int64     `json:"uploads_blocked"`
	HighSeverity   int64     `json:"high_severity"`
}

func toAlertJSON(a secmon.Alert) alertJSON {
	return alertJSON{a.ID.String(), string(a.Rule), a.Subject, a.Severity.String(), string(a.Status), a.Count,
		a.FirstSeen, a.LastSeen, a.Summary, a.Evidence, string(a.Action.Kind)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fmtComment(w io.Writer, s string) { _, _ = io.WriteString(w, ": "+s+"\n\n") }

func itoa(n int) string { return strconv.Itoa(n) }

// constantTimeEqual compares a password without leaking its length or
// content through timing (both sides are hashed first).
func constantTimeEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
