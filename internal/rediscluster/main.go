package rediscluster

import (
	"fmt"
	"os"

	"go.uber.org/goleak"

	"github.com/secmon-go/secmon/internal/testenv"
)

// VerifyMain ends the TestMain of a package that uses Shared: it runs the
// tests (through testenv.M, so their skips count in the skip summary),
// stops the shared cluster, then checks for leaked goroutines as
// goleak.VerifyTestMain does, and exits.
//
//	func TestMain(m *testing.M) { rediscluster.VerifyMain(testenv.M(m)) }
func VerifyMain(m *testenv.Main) {
	code := m.Run()
	StopShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: errors on successful test run:", err)
			code = 1
		}
	}
	os.Exit(code)
}
