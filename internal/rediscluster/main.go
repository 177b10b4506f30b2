package rediscluster

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/secmon-go/secmon/internal/testenv"
)

// VerifyMain is a TestMain for packages that use Shared: it runs the
// tests through testenv.M (so their skips count in the skip summary), stops
// the shared cluster, then checks for leaked goroutines as
// goleak.VerifyTestMain does, and exits.
func VerifyMain(m *testing.M) {
	code := testenv.M(m).Run()
	StopShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: errors on successful test run:", err)
			code = 1
		}
	}
	os.Exit(code)
}
