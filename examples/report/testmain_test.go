package main

import (
	"os"
	"testing"

	"github.com/secmon-go/secmon/internal/testenv"
)

// TestMain records how many tests skipped for want of PostgreSQL or Redis,
// for the summary at the end of go test ./... (see internal/testenv).
func TestMain(m *testing.M) { os.Exit(testenv.M(m).Run()) }
