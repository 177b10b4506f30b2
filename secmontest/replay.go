package secmontest

import (
	"context"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// Replay feeds events through d with their own timestamps (see
// detect.Replay) and returns every finding. A detector error fails t.
func Replay(t testing.TB, d secmon.Detector, events []secmon.Event) []secmon.Finding {
	t.Helper()
	findings, err := detect.Replay(context.Background(), d, events)
	if err != nil {
		t.Fatalf("secmontest: replay: %v", err)
	}
	return findings
}

// RequireFinding fails t unless findings hold exactly one finding for (rule,
// subject), and returns it.
func RequireFinding(t testing.TB, findings []secmon.Finding, rule secmon.RuleName, subject string) secmon.Finding {
	t.Helper()
	var hit []secmon.Finding
	for _, f := range findings {
		if f.Rule == rule && f.Subject == subject {
			hit = append(hit, f)
		}
	}
	if len(hit) != 1 {
		t.Fatalf("secmontest: %d findings for rule %q subject %q, want 1 (of %d findings)", len(hit), rule, subject, len(findings))
		return secmon.Finding{}
	}
	return hit[0]
}
