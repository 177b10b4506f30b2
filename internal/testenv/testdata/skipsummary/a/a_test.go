// Package a has tests that skip for want of PostgreSQL and Redis.
package a

import (
	"os"
	"testing"

	"github.com/secmon-go/secmon/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.M(m).Run()) }

func TestPostgres(t *testing.T) { testenv.DatabaseURL(t) }

func TestRedis(t *testing.T) { testenv.RedisAddr(t) }

func TestSubtests(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { testenv.DatabaseURL(t) })
	t.Run("plain", func(t *testing.T) {})
}
