package detecttest

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// RunScenarios replays every *.jsonl file in dir (events as detect.ReadEvents
// reads them) through a detector newDetector returns for that file, and
// compares the findings with the file's "# expect: <rule> <subject>" lines,
// exactly: a finding nobody expected fails as surely as a missing one.
// "# expect: nothing" states that the stream is benign. Every finding must
// also be complete (time, summary, evidence, action, valid severity). It
// fails when dir holds no scenario.
func RunScenarios(t *testing.T, dir string, newDetector func(t *testing.T, name string) secmon.Detector) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in %s: %v", dir, err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		t.Run(name, func(t *testing.T) {
			events, want := ReadScenario(t, path)
			fs, err := detect.Replay(context.Background(), newDetector(t, name), events)
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			if diff := cmp.Diff(want, Pairs(fs)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			for _, f := range fs {
				if f.Time.IsZero() || f.Summary == "" || f.Evidence == nil || f.Action.Kind == "" || !f.Severity.Valid() {
					t.Errorf("incomplete finding %+v", f)
				}
			}
		})
	}
}

// ReadScenario reads a scenario file: its events and its sorted "# expect:"
// lines (never nil).
func ReadScenario(t testing.TB, path string) ([]secmon.Event, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok && rest != "nothing" {
			want = append(want, rest)
		}
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	events, err := detect.ReadEvents(f, 0)
	if err != nil {
		t.Fatalf("ReadEvents(%s): %v", path, err)
	}
	if len(events) == 0 {
		t.Fatalf("%s holds no events", path)
	}
	slices.Sort(want)
	return events, want
}

// Pairs returns "<rule> <subject>" for each finding, sorted.
func Pairs(fs []secmon.Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, string(f.Rule)+" "+f.Subject)
	}
	slices.Sort(out)
	return out
}
