package detect_test

import (
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/detecttest"
)

// TestReplayScenarios replays every testdata stream through an engine with
// the default rules and compares the findings with the file's "# expect:"
// lines, exactly: a rule that fires when it should not fails the test as
// surely as one that stays silent.
func TestReplayScenarios(t *testing.T) {
	t.Parallel()
	detecttest.RunScenarios(t, "testdata", func(t *testing.T, _ string) secmon.Detector {
		e, err := detect.New(detect.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}
