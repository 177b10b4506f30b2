package detect_test

import (
	"testing"

	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/detect/detecttest"
)

func TestMemoryCountersContract(t *testing.T) {
	t.Parallel()
	c, err := detect.NewMemoryCounters(detect.MemoryCountersConfig{})
	if err != nil {
		t.Fatal(err)
	}
	detecttest.RunCounters(t, c, "")
}
