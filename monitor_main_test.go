package secmon_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test in the root package leaves a goroutine
// running: every Monitor a test starts must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
