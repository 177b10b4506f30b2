package sqlschematest_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/sqlschema/sqlschematest"
)

func TestEnsureRolesConcurrent(t *testing.T) {
	pool := sqlschematest.Pool(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sqlschematest.EnsureRoles(context.Background(), pool)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, r := range sqlschematest.Roles {
		var ok bool
		if err := pool.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", r).Scan(&ok); err != nil || !ok {
			t.Errorf("role %s missing (%v)", r, err)
		}
	}
}

func TestNewSchemaMigratesAndDrops(t *testing.T) {
	pool := sqlschematest.Pool(t)
	var schema string
	t.Run("use", func(t *testing.T) {
		schema = sqlschematest.NewSchema(t, pool)
		v, err := sqlschema.Version(context.Background(), pool, sqlschema.Config{Schema: schema})
		ms, _ := sqlschema.Migrations(sqlschema.Config{})
		if err != nil || v != ms[len(ms)-1].Version {
			t.Errorf("Version(%s) = %d, %v", schema, v, err)
		}
	})
	var exists bool
	if err := pool.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil || exists {
		t.Errorf("schema %s still exists after the subtest (%v)", schema, err)
	}
}

func TestStrings(t *testing.T) {
	pool := sqlschematest.Pool(t)
	got := sqlschematest.Strings(t, pool, "SELECT x::text FROM generate_series(1, $1::int) x ORDER BY x", 3)
	if len(got) != 3 || got[0] != "1" || got[2] != "3" {
		t.Errorf("Strings = %q, want [1 2 3]", got)
	}
	if got := sqlschematest.Strings(t, pool, "SELECT 'x' WHERE false"); len(got) != 0 {
		t.Errorf("Strings of no rows = %q", got)
	}
}

func TestHangUpPool(t *testing.T) {
	const password = "hang-up-Pa55"
	pool := sqlschematest.HangUpPool(t, password)
	if !strings.Contains(pool.Config().ConnString(), password) {
		t.Errorf("connection string %q does not carry the password", pool.Config().ConnString())
	}
	if err := pool.Ping(t.Context()); err == nil {
		t.Error("Ping on a server that hangs up succeeded")
	}
}
