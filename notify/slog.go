package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/secmon-go/secmon"
)

// SlogConfig tunes a Slog notifier. Zero fields mean the defaults.
type SlogConfig struct {
	// Message is the log message of every alert line. Default
	// "secmon alert".
	Message string
	// ErrorAt is the lowest severity logged at slog.LevelError; lower
	// severities are logged at slog.LevelWarn. Zero (SeverityInfo) means
	// the default, SeverityHigh.
	ErrorAt secmon.Severity
}

// Slog writes one structured line per alert to a *slog.Logger: the
// console warnings for threats. High and critical alerts are logged at
// ERROR, the others at WARN (see SlogConfig.ErrorAt). Each line carries
// the alert's rule, subject, severity, status, count, first and last seen
// times, summary, suggested action and, as a group, up to 32 evidence
// entries in key order. Every text field, evidence keys included, is put on
// one line and stripped of control, bidirectional and invisible characters
// and capped before the handler sees it, so alert text an attacker
// influenced (a user name in the subject, say) cannot forge or disguise log
// lines even under a handler that prints values unquoted.
//
// A Slog is safe for concurrent use.
type Slog struct {
	logger  *slog.Logger
	msg     string
	errorAt secmon.Severity
}

var _ secmon.Notifier = (*Slog)(nil)

// NewSlog returns a Slog notifier writing to logger; nil means
// slog.Default(), since choosing this notifier is choosing to see alerts
// on the console.
func NewSlog(logger *slog.Logger, cfg SlogConfig) *Slog {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Slog{logger: logger, msg: "secmon alert", errorAt: secmon.SeverityHigh}
	if cfg.Message != "" {
		s.msg = cfg.Message
	}
	if cfg.ErrorAt != secmon.SeverityInfo {
		s.errorAt = cfg.ErrorAt
	}
	return s
}

// Notify logs a. It returns nil: a log line that could not be written is
// the handler's concern.
func (s *Slog) Notify(ctx context.Context, a secmon.Alert) error {
	level := slog.LevelWarn
	if a.Severity >= s.errorAt {
		level = slog.LevelError
	}
	if !s.logger.Enabled(ctx, level) {
		return nil
	}
	attrs := make([]slog.Attr, 0, 12)
	if a.ID != [16]byte{} {
		attrs = append(attrs, slog.String("alert_id", a.ID.String()))
	}
	attrs = append(attrs,
		slog.String("rule", oneLine(string(a.Rule), 256)),
		slog.String("subject", oneLine(a.Subject, 1024)),
		slog.String("severity", a.Severity.String()),
	)
	if a.Status != "" {
		attrs = append(attrs, slog.String("status", oneLine(string(a.Status), 64)))
	}
	attrs = append(attrs, slog.Int64("count", a.Count))
	if !a.FirstSeen.IsZero() {
		attrs = append(attrs, slog.Time("first_seen", a.FirstSeen.UTC()))
	}
	if !a.LastSeen.IsZero() {
		attrs = append(attrs, slog.Time("last_seen", a.LastSeen.UTC()))
	}
	attrs = append(attrs, slog.String("summary", oneLine(a.Summary, 1024)))
	if a.Action.Kind != "" {
		attrs = append(attrs, slog.String("action", oneLine(string(a.Action.Kind), 64)))
		if a.Action.Duration > 0 {
			attrs = append(attrs, slog.Duration("action_duration", a.Action.Duration.Round(time.Second)))
		}
	}
	if len(a.Evidence) > 0 {
		keys := sortedEvidence(a.Evidence)
		ev := make([]any, 0, len(keys))
		for _, k := range keys {
			ev = append(ev, slog.String(oneLine(k, 64), oneLine(a.Evidence[k], 256)))
		}
		attrs = append(attrs, slog.Group("evidence", ev...))
	}
	s.logger.LogAttrs(ctx, level, s.msg, attrs...)
	return nil
}
