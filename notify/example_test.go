package notify_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/notify"
)

func ExampleNewSlog() {
	// A text handler without timestamps, so the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	n := notify.NewSlog(logger, notify.SlogConfig{})
	n.Notify(context.Background(), secmon.Alert{
		Rule:     "brute_force_ip",
		Subject:  "ip:203.0.113.7/32",
		Severity: secmon.SeverityHigh,
		Count:    1,
		Summary:  "42 failed logins in 5m",
		Evidence: map[string]string{"failures": "42"},
		Action:   secmon.Action{Kind: secmon.ActionBlock, Duration: 15 * time.Minute},
	})
	// Output:
	// level=ERROR msg="secmon alert" rule=brute_force_ip subject=ip:203.0.113.7/32 severity=high count=1 summary="42 failed logins in 5m" action=block action_duration=15m0s evidence.failures=42
}
