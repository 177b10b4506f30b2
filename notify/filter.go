package notify

import (
	"context"
	"errors"

	"github.com/secmon-go/secmon"
)

// MinSeverity returns a Notifier that passes to n only alerts of severity
// min or higher and ignores the rest (returning nil). E-mail for critical
// events only is MinSeverity(secmon.SeverityCritical, smtpNotifier).
func MinSeverity(min secmon.Severity, n secmon.Notifier) secmon.Notifier {
	return secmon.NotifierFunc(func(ctx context.Context, a secmon.Alert) error {
		if a.Severity < min || n == nil {
			return nil
		}
		return n.Notify(ctx, a)
	})
}

// Multi returns a Notifier that calls every notifier in order, even after
// one fails, and returns their errors joined (errors.Join). Nil notifiers
// are skipped.
func Multi(ns ...secmon.Notifier) secmon.Notifier {
	ns = append([]secmon.Notifier(nil), ns...)
	return secmon.NotifierFunc(func(ctx context.Context, a secmon.Alert) error {
		var errs []error
		for _, n := range ns {
			if n == nil {
				continue
			}
			if err := n.Notify(ctx, a); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}
