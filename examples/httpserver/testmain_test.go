package main

import (
	"testing"

	"github.com/secmon-go/secmon/internal/rediscluster"
	"github.com/secmon-go/secmon/internal/testenv"
)

// TestMain records how many tests skipped for want of PostgreSQL or Redis,
// for the summary at the end of go test ./... (see internal/testenv), stops
// the Redis Cluster the tests share, and checks that no goroutine outlives
// them.
func TestMain(m *testing.M) { rediscluster.VerifyMain(testenv.M(m)) }
