package sqlschema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
)

// FuzzConfig checks that any Config either render to SQL with every
// placeholder replaced and the names quoted, or fail with ErrInvalid.
func FuzzConfig(f *testing.F) {
	f.Add("", "", "")
	f.Add("secmon", "service_role", "auth.uid()::text")
	f.Add(`a"b`, "r", "x")
	f.Add("s", "r; drop", "x;y")
	f.Add("s", "r", "{{schema}}")
	f.Add("s", "r", "$$")
	f.Add("select", "user", "current_setting('x', true)")
	f.Fuzz(func(t *testing.T, schema, role, expr string) {
		sql, err := sqlschema.SQL(sqlschema.Config{Schema: schema, ServiceRole: role, UserIDExpr: expr})
		if err != nil {
			if !errors.Is(err, secmon.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if strings.Contains(sql, "{{schema") || strings.Contains(sql, "{{service_role") || strings.Contains(sql, "{{user_id_expr") {
			t.Fatal("placeholder left in rendered SQL")
		}
		if schema == "" {
			schema = sqlschema.DefaultSchema
		}
		if !strings.Contains(sql, `CREATE TABLE "`+schema+`".security_events (`) {
			t.Fatalf("schema %q not quoted in the rendered SQL", schema)
		}
	})
}
