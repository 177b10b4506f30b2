// Package b needs no service and finishes late, after a.
package b

import (
	"testing"
	"time"
)

func TestSlow(t *testing.T) { time.Sleep(time.Second) }
