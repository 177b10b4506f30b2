package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

func TestQuickstartMemory(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), &out, &errOut, "", false); err != nil {
		t.Fatalf("run: %v", err)
	}
	checkOutput(t, out.String())
}

var schemaLine = regexp.MustCompile(`(dropped|kept) PostgreSQL schema (` + SchemaPrefix + `[0-9a-f]{8})\b`)

// TestQuickstartPostgresSameEveryRun runs the quickstart twice on one
// database: each run works in a schema of its own, so the second prints
// exactly what the first did, and drops it at exit unless told to keep it.
func TestQuickstartPostgresSameEveryRun(t *testing.T) {
	url := testenv.DatabaseURL(t)
	pool := sqlschematest.Pool(t)
	exists := func(schema string) bool {
		var ok bool
		if err := pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	var first string
	for i, keep := range []bool{false, false, true} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), &out, &errOut, url, keep); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		checkOutput(t, out.String())
		if i == 0 {
			first = out.String()
		} else if out.String() != first {
			t.Errorf("run %d printed:\n%s\nrun 0 printed:\n%s", i, out.String(), first)
		}
		m := schemaLine.FindStringSubmatch(errOut.String())
		if m == nil {
			t.Fatalf("run %d: no schema named on stderr: %q", i, errOut.String())
		}
		if exists(m[2]) != keep {
			t.Errorf("run %d (keep %v): schema %s exists = %v", i, keep, m[2], !keep)
		}
		if keep {
			t.Cleanup(func() { sqlschematest.DropSchema(t, pool, m[2]) })
		}
	}
}

func checkOutput(t *testing.T, got string) {
	t.Helper()
	for _, want := range []string{
		"login_success",
		"upload_blocked",
		"open alerts: 2",
		"brute_force_ip",
		"brute_force_account",
		"summary: 14 events, 12 failed logins, 1 uploads (1 blocked), 2 alerts opened",
		"monitor: 14 accepted, 14 written",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hunter2") {
		t.Errorf("the password reached the store:\n%s", got)
	}
}
