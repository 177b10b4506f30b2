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
	// Level maps an alert's severity to the level of its line. Nil means
	// SlogLevel.
	Level func(secmon.Severity) slog.Level
}

// SlogLevel is the default level of an alert's log line: it follows the
// alert's severity. Info and low alerts are logged at INFO, medium at WARN,
// high and critical at ERROR, so a handler filtering at WARN (a common
// production setting) keeps what needs a look and drops the rest.
func SlogLevel(s secmon.Severity) slog.Level {
	switch {
	case s >= secmon.SeverityHigh:
		return slog.LevelError
	case s == secmon.SeverityMedium:
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}

// Slog writes one structured line per alert to a *slog.Logger: the
// console warnings for threats. The line's level follows the alert's
// severity (see SlogLevel and SlogConfig.Level). Each line carries
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
	logger *slog.Logger
	msg    string
	level  func(secmon.Severity) slog.Level
}

var _ secmon.Notifier = (*Slog)(nil)

// NewSlog returns a Slog notifier writing to logger; nil means
// slog.Default(), since choosing this notifier is choosing to see alerts
// on the console.
func NewSlog(logger *slog.Logger, cfg SlogConfig) *Slog {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Slog{logger: logger, msg: "secmon alert", level: SlogLevel}
	if cfg.Message != "" {
		s.msg = cfg.Message
	}
	if cfg.Level != nil {
		s.level = cfg.Level
	}
	return s
}

// Notify logs a. It returns nil: a log line that could not be written is
// the handler's concern.
func (s *Slog) Notify(ctx context.Context, a secmon.Alert) error {
	level := s.level(a.Severity)
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
