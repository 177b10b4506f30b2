package secmon_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/secmon-go/secmon/internal/testenv"
)

// TestMain checks that no test in the root package leaves a goroutine
// running: every Monitor a test starts must be closed. It also records the
// tests skipped for want of a service (see internal/testenv).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(testenv.M(m))
}
