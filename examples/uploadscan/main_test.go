package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secmon-go/secmon/secmontest/uploadcorpus"
)

// writeCorpus writes the named cases to dir and returns their paths.
func writeCorpus(t *testing.T, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	all := append(append(uploadcorpus.Hostile(), uploadcorpus.Benign()...), uploadcorpus.Repairable()...)
	for _, n := range names {
		for _, c := range all {
			if c.Name == n {
				p := filepath.Join(dir, c.Name+filepath.Ext(c.Upload.Name))
				if err := os.WriteFile(p, c.Upload.Data, 0o600); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
		}
	}
	if len(paths) != len(names) {
		t.Fatalf("found %d of %v", len(paths), names)
	}
	return paths
}

func decodeLines(t *testing.T, out string) []line {
	t.Helper()
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l line
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestRun(t *testing.T) {
	t.Parallel()
	good := writeCorpus(t, "png", "jpeg_with_exif_xmp_icc", "webp_lossless")
	bad := writeCorpus(t, "png_zip_appended", "jpeg_exif_script")

	var stdout, stderr bytes.Buffer
	if code := run(good, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	lines := decodeLines(t, stdout.String())
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines {
		if l.File != good[i] || !l.Allowed || l.DetectedType == "" || l.Threats == nil || len(l.Threats) != 0 || l.MS <= 0 {
			t.Errorf("line %d: %+v", i, l)
		}
	}
	if !strings.Contains(stdout.String(), `"threats":[]`) {
		t.Error("an allowed file must print an empty threats array")
	}

	stdout.Reset()
	if code := run(append(good[:1:1], bad...), &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	lines = decodeLines(t, stdout.String())
	if len(lines) != 3 || lines[1].Allowed || lines[1].Threats[0].Code != "trailing_data" || lines[2].Threats[0].Code != "script_in_metadata" {
		t.Fatalf("%+v", lines)
	}
	if !strings.Contains(stdout.String(), `"severity":"medium"`) {
		t.Errorf("severity not printed as a name: %s", stdout.String())
	}

	// A camera file with a malformed EXIF directory is allowed with a low
	// threat and the size of its repaired copy; without that copy there
	// is nothing to store.
	stdout.Reset()
	rep := writeCorpus(t, "jpeg_exif_bad_subdirectory")
	if code := run(rep, &stdout, &stderr); code != 0 {
		t.Fatalf("repairable file: exit %d: %s", code, stdout.String())
	}
	if l := decodeLines(t, stdout.String())[0]; !l.Allowed || len(l.Threats) != 1 || l.Threats[0].Code != "malformed_metadata" || l.SanitizedBytes == 0 {
		t.Errorf("%+v", l)
	}
	stdout.Reset()
	if code := run(append([]string{"-reencode"}, good[0]), &stdout, &stderr); code != 0 || decodeLines(t, stdout.String())[0].SanitizedBytes == 0 {
		t.Errorf("-reencode: exit %d: %s", code, stdout.String())
	}

	// The declared type counts.
	stdout.Reset()
	if code := run([]string{"-declared-type", "image/gif", good[0]}, &stdout, &stderr); code != 1 {
		t.Errorf("PNG declared as GIF: exit %d", code)
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	good := writeCorpus(t, "png")
	for name, args := range map[string][]string{
		"no files":   {},
		"bad flag":   {"-nope", good[0]},
		"unreadable": {good[0], filepath.Join(t.TempDir(), "missing.png")},
		"directory":  {t.TempDir()},
		"max bytes":  {"-max-bytes", "0", good[0]},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
		if stderr.Len() == 0 {
			t.Errorf("%s: nothing on stderr", name)
		}
	}
}

// The program builds and runs as documented.
func TestBuildAndRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "uploadscan")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	files := writeCorpus(t, "png", "gifar")
	cmd := exec.Command(bin, files...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	lines := decodeLines(t, string(out))
	if len(lines) != 2 || !lines[0].Allowed || lines[1].Allowed {
		t.Fatalf("%+v", lines)
	}
}

// TestOutputIsNotHTMLEscaped checks that the JSON lines keep <, > and &
// as they are: a terminal or a jq pipeline should read "<?php", not
// "\u003c?php".
func TestOutputIsNotHTMLEscaped(t *testing.T) {
	t.Parallel()
	src := writeCorpus(t, "png")[0]
	name := filepath.Join(t.TempDir(), "shell<?php & co>.png")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{name}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if out := stdout.String(); strings.Contains(out, `\u003c`) || strings.Contains(out, `\u0026`) || !strings.Contains(out, `shell<?php & co>.png`) {
		t.Errorf("output escapes HTML characters: %s", out)
	}
	if lines := decodeLines(t, stdout.String()); len(lines) != 1 || lines[0].File != name {
		t.Errorf("decoded %+v, want file %q", lines, name)
	}
}

// TestHelpExitsZero checks that asking for help is not an error.
func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "-help", "--help"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{arg}, &stdout, &stderr); code != 0 {
			t.Errorf("%s: exit %d, want 0", arg, code)
		}
		if !strings.Contains(stdout.String()+stderr.String(), "usage: uploadscan") {
			t.Errorf("%s: no usage printed", arg)
		}
	}
}
