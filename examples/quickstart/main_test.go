package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/secmon-go/secmon/internal/testenv"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

func TestQuickstartMemory(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, ""); err != nil {
		t.Fatalf("run: %v", err)
	}
	checkOutput(t, out.String())
}

func TestQuickstartPostgres(t *testing.T) {
	url := testenv.DatabaseURL(t)
	// A schema of its own, so earlier runs' alerts do not merge into this one's.
	pool := sqlschematest.Pool(t)
	schema := sqlschematest.RandomName("secmon_quickstart_")
	t.Setenv("SECMON_SCHEMA", schema)
	t.Cleanup(func() { sqlschematest.DropSchema(t, pool, schema) })
	var out bytes.Buffer
	if err := run(context.Background(), &out, url); err != nil {
		t.Fatalf("run: %v", err)
	}
	checkOutput(t, out.String())
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
