package secmon_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's Go code is never typed into the README by hand: every
// ```go block quotes a region of a Go file that is compiled (and, for
// examples, run) by go test. A block is preceded by a marker naming the
// file and the region:
//
//	<!-- code: example_handler_test.go#routes -->
//	```go
//	...
//	```
//
// and the file delimits the region with two comment lines:
//
//	// readme:begin routes
//	...
//	// readme:end routes
//
// The region's lines, less their common indentation, must equal the
// block's. TestREADMECodeIsCompiled fails for a Go block without a marker,
// a marker naming a missing file or region, and any difference.

var readmeMarker = regexp.MustCompile(`^<!-- code: ([A-Za-z0-9_./-]+\.go)#([a-z0-9_-]+) -->$`)

// readmeBlock is one fenced Go block of a Markdown file.
type readmeBlock struct {
	line         int    // line of the opening fence
	file, region string // from the marker; empty without one
	code         []string
}

// goBlocks returns the ```go blocks of the Markdown file at path.
func goBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks []readmeBlock
		cur    *readmeBlock
		prev   string // the last non-blank line outside a block
		fence  string
		n      int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(line) == fence:
			blocks = append(blocks, *cur)
			cur, fence = nil, ""
		case cur != nil:
			cur.code = append(cur.code, line)
		case fence != "" && strings.TrimSpace(line) == fence:
			fence = "" // end of a block in another language
		case fence != "":
		case strings.HasPrefix(strings.TrimSpace(line), "```"):
			trimmed := strings.TrimSpace(line)
			fence = "```"
			if strings.TrimPrefix(trimmed, "```") == "go" {
				b := readmeBlock{line: n}
				if m := readmeMarker.FindStringSubmatch(prev); m != nil {
					b.file, b.region = m[1], m[2]
				}
				cur = &b
				continue
			}
		case strings.TrimSpace(line) != "":
			prev = strings.TrimSpace(line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil || fence != "" {
		t.Fatalf("%s: a code block is not closed", path)
	}
	return blocks
}

// region returns the lines between "// readme:begin name" and
// "// readme:end name" in file, less their common leading tabs.
func region(file, name string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var (
		out    []string
		inside bool
	)
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\n")
		switch strings.TrimSpace(line) {
		case "// readme:begin " + name:
			if inside || out != nil {
				return nil, fmt.Errorf("%s: region %q begins twice", file, name)
			}
			inside, out = true, []string{}
			continue
		case "// readme:end " + name:
			if !inside {
				return nil, fmt.Errorf("%s: region %q ends before it begins", file, name)
			}
			inside = false
			continue
		}
		if inside {
			out = append(out, line)
		}
	}
	if inside {
		return nil, fmt.Errorf("%s: region %q never ends", file, name)
	}
	if out == nil {
		return nil, fmt.Errorf("%s: no region %q", file, name)
	}
	indent := -1
	for _, l := range out {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, "\t")); indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range out {
		if len(l) >= indent && indent > 0 {
			out[i] = l[indent:]
		}
	}
	return out, nil
}

func TestREADMECodeIsCompiled(t *testing.T) {
	t.Parallel()
	blocks := goBlocks(t, "README.md")
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go code blocks")
	}
	for _, b := range blocks {
		if b.file == "" {
			t.Errorf("README.md:%d: Go block without a <!-- code: FILE#REGION --> marker on the line before", b.line)
			continue
		}
		want, err := region(filepath.FromSlash(b.file), b.region)
		if err != nil {
			t.Errorf("README.md:%d: %v", b.line, err)
			continue
		}
		if got := strings.Join(b.code, "\n"); got != strings.Join(want, "\n") {
			t.Errorf("README.md:%d differs from %s#%s:\n%s", b.line, b.file, b.region, lineDiff(b.code, want))
		}
	}
}

// lineDiff names the first line where got and want differ.
func lineDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("line %d of the block:\n  README: %q\n  source: %q", i+1, g, w)
		}
	}
	return "(no difference)"
}

// TestREADMECheckerCatchesMistakes feeds the checker a README with the
// three mistakes it exists to catch.
func TestREADMECheckerCatchesMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.go")
	if err := os.WriteFile(src, []byte("package x\n\nfunc f() {\n\t// readme:begin a\n\tx := 1\n\t_ = x\n\t// readme:end a\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "README.md")
	text := "# t\n\n```go\nunmarked()\n```\n\n<!-- code: " + filepath.ToSlash(src) + "#a -->\n```go\nx := 2\n_ = x\n```\n\n```sh\ngo test\n```\n"
	if err := os.WriteFile(md, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(t, md)
	if len(blocks) != 2 || blocks[0].file != "" || blocks[1].region != "a" {
		t.Fatalf("blocks = %+v", blocks)
	}
	want, err := region(src, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(want, "\n"); got != "x := 1\n_ = x" {
		t.Fatalf("region = %q", got)
	}
	if strings.Join(blocks[1].code, "\n") == strings.Join(want, "\n") {
		t.Error("a changed line was not noticed")
	}
	if _, err := region(src, "missing"); err == nil {
		t.Error("a missing region was not noticed")
	}
}
