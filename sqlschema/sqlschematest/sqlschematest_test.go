package sqlschematest_test

import (
	"context"
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
		v, err := sqlschema.Version(context.Background(), pool, sqlschema.Options{Schema: schema})
		ms, _ := sqlschema.Migrations(sqlschema.Options{})
		if err != nil || v != ms[len(ms)-1].Version {
			t.Errorf("Version(%s) = %d, %v", schema, v, err)
		}
	})
	var exists bool
	if err := pool.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil || exists {
		t.Errorf("schema %s still exists after the subtest (%v)", schema, err)
	}
}
