// Package zz sorts last and prints the skip summary.
package zz

import (
	"os"
	"testing"

	"github.com/secmon-go/secmon/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithSummary(m, "..")) }

func TestNothing(t *testing.T) {}

func TestNotCached(t *testing.T) { testenv.NotCached(t) }
