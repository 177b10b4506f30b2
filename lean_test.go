package secmon_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A host that keeps everything in memory links neither the Redis client nor
// the PostgreSQL driver: those backends live in packages of their own
// (ratelimit/redislimit, detect/rediscounters, store/pgstore, sqlschema).
func TestMemoryOnlyPackagesStayLean(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	memoryOnly := []string{
		"github.com/secmon-go/secmon",
		"github.com/secmon-go/secmon/detect",
		"github.com/secmon-go/secmon/ratelimit",
		"github.com/secmon-go/secmon/store/memstore",
		"github.com/secmon-go/secmon/upload",
		"github.com/secmon-go/secmon/notify",
	}
	out, err := exec.Command(goBin, append([]string{"list", "-deps"}, memoryOnly...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(memoryOnly) {
		t.Fatalf("go list printed %d packages", len(deps))
	}
	for _, dep := range deps {
		for _, heavy := range []string{"github.com/redis/", "github.com/jackc/", "github.com/oschwald/"} {
			if strings.HasPrefix(dep, heavy) {
				t.Errorf("a memory-only host links %s", dep)
			}
		}
	}
}

// The Prometheus client lives only in the nested metrics module: the core
// module neither requires it nor lists it, so a host that does not export
// metrics through client_golang never downloads it.
func TestCoreModuleDoesNotRequirePrometheus(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "github.com/prometheus/") {
			t.Errorf("%s mentions github.com/prometheus/: client_golang belongs in metrics/go.mod only", name)
		}
	}
}
