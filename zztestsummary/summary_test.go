package zztestsummary

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secmon-go/secmon/internal/testenv"
)

// root is the module root, relative to this package's directory (the test
// binary's working directory).
const root = ".."

func TestMain(m *testing.M) { os.Exit(testenv.RunWithSummary(m, root)) }

// TestSortsLast checks that go test ./... lists this package last, so that
// its result, and the summary line before it, are printed last.
func TestSortsLast(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	cmd := exec.Command(goBin, "list", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 10 || pkgs[len(pkgs)-1] != "github.com/secmon-go/secmon/zztestsummary" {
		t.Errorf("go list ./... ends with %q, not this package: rename the package that sorts after it", pkgs[len(pkgs)-1])
	}
}

// TestServicePackagesRecordSkips checks that every package whose tests may
// skip for want of a service runs them through testenv.M in its TestMain;
// a package that did not would make the summary wait for a record that
// never comes, and print nothing.
func TestServicePackagesRecordSkips(t *testing.T) {
	t.Parallel()
	dirs, err := testenv.ServicePackages(root)
	if err != nil {
		t.Fatal(err)
	}
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		self = real
	}
	if len(dirs) < 5 {
		t.Fatalf("found %d packages with service tests: %v", len(dirs), dirs)
	}
	for _, dir := range dirs {
		if dir == self {
			continue
		}
		if !recordsSkips(t, dir) {
			rel, _ := filepath.Rel(self, dir)
			t.Errorf("%s: tests use testenv but no TestMain runs them through testenv.M", rel)
		}
	}
}

// recordsSkips reports whether a _test.go file in dir declares a TestMain
// that calls testenv.M.
func recordsSkips(t *testing.T, dir string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "TestMain" || fn.Recv != nil {
				continue
			}
			found := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "M" {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "testenv" {
						found = true
					}
				}
				return !found
			})
			if found {
				return true
			}
		}
	}
	return false
}

// TestNotCached keeps this package's result out of go test's cache, so the
// summary is printed on every run, not only when something changed.
func TestNotCached(t *testing.T) { testenv.NotCached(t) }
