package sqlschema

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
)

// Finding codes reported by AuditPolicies. They are stable: hosts may match
// on them, for example to accept a finding they have judged.
const (
	// CodeRLSDisabled: row-level security is off, so every role with a
	// privilege on the table sees and changes every row.
	CodeRLSDisabled = "rls_disabled"
	// CodeRLSNotForced: RLS is on but not forced, so the table owner (and
	// any role connecting as it) bypasses the policies.
	CodeRLSNotForced = "rls_not_forced"
	// CodePolicyTrueForPublic: a permissive policy whose USING or WITH
	// CHECK is true and that applies to PUBLIC, which is what a policy
	// written without a TO clause does. It opens the table to every role,
	// anon and authenticated included: the audited mistake
	// CREATE POLICY p ON t FOR ALL USING (true) WITH CHECK (true).
	CodePolicyTrueForPublic = "policy_true_for_public"
	// CodePolicyTrueForClient: a permissive policy whose USING or WITH
	// CHECK is true and that names anon or authenticated, or a role either
	// of them is a member of.
	CodePolicyTrueForClient = "policy_true_for_client"
	// CodePolicyNoRole: a permissive policy with a real condition that
	// applies to PUBLIC (no TO clause); name the roles it is meant for.
	CodePolicyNoRole = "policy_no_role"
	// CodeWriteGrantToPublic, CodeWriteGrantToAnon and
	// CodeWriteGrantToAuthenticated: INSERT, UPDATE, DELETE, TRUNCATE,
	// REFERENCES or TRIGGER granted on the table (or on some of its
	// columns). TRUNCATE, REFERENCES and TRIGGER are not subject to RLS at
	// all.
	CodeWriteGrantToPublic        = "write_grant_to_public"
	CodeWriteGrantToAnon          = "write_grant_to_anon"
	CodeWriteGrantToAuthenticated = "write_grant_to_authenticated"
	// CodeSelectGrantToPublic and CodeSelectGrantToAnon: SELECT granted to
	// PUBLIC or to anon, the role of unauthenticated clients.
	CodeSelectGrantToPublic = "select_grant_to_public"
	CodeSelectGrantToAnon   = "select_grant_to_anon"
	// CodeViewBypassesRLS: a view that runs with its owner's rights (no
	// security_invoker) and that PUBLIC, anon or authenticated may read;
	// it exposes the underlying tables whatever their policies say.
	CodeViewBypassesRLS = "view_bypasses_rls"
	// CodeDefinerFunctionExposed: a SECURITY DEFINER function that PUBLIC,
	// anon or authenticated may execute. It runs with its owner's rights,
	// past every policy the owner bypasses; without a pinned search_path it
	// can also be hijacked by objects the caller creates. Table is the
	// function's name and argument types.
	CodeDefinerFunctionExposed = "definer_function_exposed"
)

// PolicyFinding is one row-level security problem AuditPolicies found.
type PolicyFinding struct {
	Schema   string
	Table    string          // the table or view; for function findings, name(arguments)
	Policy   string          // the policy, for policy findings; empty otherwise
	Code     string          // one of the Code* constants
	Severity secmon.Severity //
	Detail   string          // what was found and why it matters
}

// String renders f on one line.
func (f PolicyFinding) String() string {
	where := f.Schema + "." + f.Table
	if f.Policy != "" {
		where += " policy " + f.Policy
	}
	return fmt.Sprintf("%s [%s] %s: %s", f.Code, f.Severity, where, f.Detail)
}

// clientRoles are the roles of unauthenticated and authenticated end users
// on Supabase-style platforms.
var clientRoles = []string{"anon", "authenticated"}

// writePrivileges are the table privileges that change data or bypass RLS.
var writePrivileges = []string{"INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}

// AuditPolicies inspects the tables and views of the given schemas (every
// schema but PostgreSQL's own when none is given) and returns their
// row-level security problems, sorted by schema, table, policy and code. It
// reads pg_class, pg_policies and the privilege lists of tables and
// columns; it changes nothing. A schema migrated by this package yields no
// findings.
//
// Privileges are reported for PUBLIC, anon and authenticated, including
// those anon and authenticated hold through membership in other roles (as
// has_table_privilege and has_function_privilege resolve them); a
// privilege granted to PUBLIC is reported once, as PUBLIC's.
func AuditPolicies(ctx context.Context, pool *pgxpool.Pool, schemas ...string) ([]PolicyFinding, error) {
	if pool == nil {
		return nil, errNilPool
	}
	schemas = slices.DeleteFunc(slices.Clone(schemas), func(s string) bool { return s == "" })
	all := len(schemas) == 0

	rels, err := auditRelations(ctx, pool, all, schemas)
	if err != nil {
		return nil, err
	}
	var out []PolicyFinding
	for _, r := range rels {
		out = append(out, r.findings()...)
	}
	pols, err := auditPolicyRows(ctx, pool, all, schemas)
	if err != nil {
		return nil, err
	}
	for _, p := range pols {
		if f, ok := p.finding(); ok {
			out = append(out, f)
		}
	}
	fns, err := auditFunctions(ctx, pool, all, schemas)
	if err != nil {
		return nil, err
	}
	out = append(out, fns...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Schema != b.Schema {
			return a.Schema < b.Schema
		}
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		return a.Code < b.Code
	})
	return out, nil
}

type relation struct {
	Schema, Name   string
	Kind           string // r, p, v, m
	RLS, Force     bool
	SecurityInvoke bool
	Grants         []string // "grantee:PRIVILEGE", grantee public, anon or authenticated
}

const relationsSQL = `
SELECT n.nspname, c.relname, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,
       coalesce('security_invoker=true' = ANY (c.reloptions) OR 'security_invoker=on' = ANY (c.reloptions), false),
       ARRAY(
           SELECT DISTINCT g.grantee || ':' || g.privilege_type
           FROM (
               SELECT CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(a.grantee) END AS grantee,
                      a.privilege_type
               FROM pg_catalog.aclexplode(c.relacl) a
               UNION ALL
               SELECT CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(a.grantee) END,
                      a.privilege_type
               FROM pg_catalog.pg_attribute att, pg_catalog.aclexplode(att.attacl) a
               WHERE att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped
           ) g
           WHERE g.grantee IN ('public', 'anon', 'authenticated')
           UNION
           -- What the client roles hold through membership in other roles,
           -- as has_*_privilege resolves it (PUBLIC's own grants are
           -- reported as PUBLIC's).
           SELECT r.rolname || ':' || p.priv
           FROM pg_catalog.pg_roles r,
                pg_catalog.unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)
           WHERE r.rolname IN ('anon', 'authenticated')
             AND (pg_catalog.has_table_privilege(r.oid, c.oid, p.priv)
                  OR (p.priv IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                      AND pg_catalog.has_any_column_privilege(r.oid, c.oid, p.priv)))
             AND NOT EXISTS (
                 SELECT 1 FROM pg_catalog.aclexplode(c.relacl) a
                 WHERE a.grantee = 0 AND a.privilege_type = p.priv)
             AND NOT EXISTS (
                 SELECT 1 FROM pg_catalog.pg_attribute att, pg_catalog.aclexplode(att.attacl) a
                 WHERE att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped
                   AND a.grantee = 0 AND a.privilege_type = p.priv)
           ORDER BY 1)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm')
  AND (($1 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%')
       OR n.nspname = ANY ($2))
ORDER BY 1, 2`

func auditRelations(ctx context.Context, pool *pgxpool.Pool, all bool, schemas []string) ([]relation, error) {
	rows, err := pool.Query(ctx, relationsSQL, all, schemas)
	if err != nil {
		return nil, dbError("auditing tables", err)
	}
	rels, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (relation, error) {
		var r relation
		err := row.Scan(&r.Schema, &r.Name, &r.Kind, &r.RLS, &r.Force, &r.SecurityInvoke, &r.Grants)
		return r, err
	})
	if err != nil {
		return nil, dbError("auditing tables", err)
	}
	return rels, nil
}

func (r relation) granted(grantee string, privileges []string) []string {
	var out []string
	for _, g := range r.Grants {
		who, priv, _ := strings.Cut(g, ":")
		if who == grantee && slices.Contains(privileges, priv) {
			out = append(out, priv)
		}
	}
	return out
}

func (r relation) exposed() []string {
	var who []string
	for _, g := range r.Grants {
		w, _, _ := strings.Cut(g, ":")
		if !slices.Contains(who, w) {
			who = append(who, w)
		}
	}
	return who
}

func (r relation) findings() []PolicyFinding {
	var out []PolicyFinding
	add := func(code string, sev secmon.Severity, detail string) {
		out = append(out, PolicyFinding{Schema: r.Schema, Table: r.Name, Code: code, Severity: sev, Detail: detail})
	}
	if r.Kind == "v" || r.Kind == "m" {
		readers := []string{}
		for _, w := range append([]string{"public"}, clientRoles...) {
			if len(r.granted(w, []string{"SELECT"})) > 0 {
				readers = append(readers, w)
			}
		}
		if len(readers) > 0 && (r.Kind == "m" || !r.SecurityInvoke) {
			add(CodeViewBypassesRLS, secmon.SeverityHigh, fmt.Sprintf(
				"readable by %s and runs with its owner's rights, so the underlying tables' policies do not apply; "+
					"set security_invoker = true or revoke the grant", strings.Join(readers, ", ")))
		}
		return out
	}

	exposed := r.exposed()
	switch {
	case !r.RLS:
		sev, detail := secmon.SeverityMedium, "row-level security is disabled; any role granted access sees and changes every row"
		if len(exposed) > 0 {
			sev = secmon.SeverityHigh
			detail = fmt.Sprintf("row-level security is disabled and %s hold privileges on the table", strings.Join(exposed, ", "))
		}
		add(CodeRLSDisabled, sev, detail)
	case !r.Force:
		add(CodeRLSNotForced, secmon.SeverityLow, "row-level security is not forced; the table owner bypasses every policy")
	}

	for _, w := range []struct{ grantee, code string }{
		{"public", CodeWriteGrantToPublic}, {"anon", CodeWriteGrantToAnon}, {"authenticated", CodeWriteGrantToAuthenticated},
	} {
		privs := r.granted(w.grantee, writePrivileges)
		if len(privs) == 0 {
			continue
		}
		sev := secmon.SeverityMedium
		note := "RLS policies still filter INSERT, UPDATE and DELETE, but a grant is the first line of defence"
		if !r.RLS {
			sev, note = secmon.SeverityCritical, "with row-level security disabled nothing restricts these writes"
		} else if slices.ContainsFunc(privs, func(p string) bool { return p == "TRUNCATE" || p == "TRIGGER" || p == "REFERENCES" }) {
			sev, note = secmon.SeverityHigh, "TRUNCATE, TRIGGER and REFERENCES are not subject to row-level security"
		}
		add(w.code, sev, fmt.Sprintf("%s granted to %s; %s", strings.Join(privs, ", "), w.grantee, note))
	}
	for _, w := range []struct{ grantee, code string }{{"public", CodeSelectGrantToPublic}, {"anon", CodeSelectGrantToAnon}} {
		if len(r.granted(w.grantee, []string{"SELECT"})) == 0 {
			continue
		}
		sev, note := secmon.SeverityLow, "unauthenticated clients may query the table; only its policies stand between them and the rows"
		if !r.RLS {
			sev, note = secmon.SeverityHigh, "with row-level security disabled every row is readable without signing in"
		}
		add(w.code, sev, "SELECT granted to "+w.grantee+"; "+note)
	}
	return out
}

type policyRow struct {
	Schema, Table, Name string
	Permissive          string
	Roles               []string
	Cmd                 string
	Qual, WithCheck     *string
	// Via lists anon and authenticated when they are members of a role the
	// policy names (other than PUBLIC and themselves), as "client (role)".
	Via []string
}

const policiesSQL = `
SELECT schemaname::text, tablename::text, policyname::text, permissive, roles::text[], cmd, qual, with_check,
       ARRAY(
           SELECT DISTINCT c.rolname || ' (' || g.rolname || ')'
           FROM pg_catalog.pg_roles c, pg_catalog.pg_roles g
           WHERE c.rolname IN ('anon', 'authenticated')
             AND g.rolname = ANY (roles) AND g.rolname NOT IN ('anon', 'authenticated')
             AND pg_catalog.pg_has_role(c.oid, g.oid, 'MEMBER')
           ORDER BY 1)
FROM pg_catalog.pg_policies
WHERE ($1 AND schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg\_%')
   OR schemaname = ANY ($2)
ORDER BY 1, 2, 3`

func auditPolicyRows(ctx context.Context, pool *pgxpool.Pool, all bool, schemas []string) ([]policyRow, error) {
	rows, err := pool.Query(ctx, policiesSQL, all, schemas)
	if err != nil {
		return nil, dbError("auditing policies", err)
	}
	pols, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (policyRow, error) {
		var p policyRow
		err := row.Scan(&p.Schema, &p.Table, &p.Name, &p.Permissive, &p.Roles, &p.Cmd, &p.Qual, &p.WithCheck, &p.Via)
		return p, err
	})
	if err != nil {
		return nil, dbError("auditing policies", err)
	}
	return pols, nil
}

// alwaysTrue reports whether a policy expression as pg_get_expr renders it
// is the constant true.
func alwaysTrue(expr *string) bool {
	if expr == nil {
		return false
	}
	e := strings.TrimSpace(*expr)
	for strings.HasPrefix(e, "(") && strings.HasSuffix(e, ")") {
		e = strings.TrimSpace(e[1 : len(e)-1])
	}
	return strings.EqualFold(e, "true")
}

func (p policyRow) finding() (PolicyFinding, bool) {
	f := PolicyFinding{Schema: p.Schema, Table: p.Table, Policy: p.Name}
	if p.Permissive != "PERMISSIVE" {
		return f, false // a restrictive policy only ever narrows access
	}
	var clauses []string
	if alwaysTrue(p.Qual) {
		clauses = append(clauses, "USING (true)")
	}
	if alwaysTrue(p.WithCheck) {
		clauses = append(clauses, "WITH CHECK (true)")
	}
	public := slices.Contains(p.Roles, "public")
	var clients []string
	for _, r := range clientRoles {
		if slices.Contains(p.Roles, r) {
			clients = append(clients, r)
		}
	}
	// A client role that is a member of a role the policy names gets the
	// policy too.
	clients = append(clients, p.Via...)
	switch {
	case len(clauses) > 0 && public:
		f.Code, f.Severity = CodePolicyTrueForPublic, secmon.SeverityCritical
		f.Detail = fmt.Sprintf("permissive FOR %s policy with %s applies to PUBLIC (written without TO), "+
			"so every role, anon and authenticated included, gets every row; add TO <service role>",
			p.Cmd, strings.Join(clauses, " and "))
	case len(clauses) > 0 && len(clients) > 0:
		f.Code, f.Severity = CodePolicyTrueForClient, secmon.SeverityHigh
		f.Detail = fmt.Sprintf("permissive FOR %s policy with %s gives %s every row",
			p.Cmd, strings.Join(clauses, " and "), strings.Join(clients, ", "))
	case public:
		f.Code, f.Severity = CodePolicyNoRole, secmon.SeverityMedium
		f.Detail = fmt.Sprintf("permissive FOR %s policy applies to PUBLIC (written without TO); name the roles it is for", p.Cmd)
	default:
		return f, false
	}
	return f, true
}

// functionsSQL lists SECURITY DEFINER functions executable by PUBLIC, anon
// or authenticated. A NULL proacl means the default: EXECUTE for PUBLIC.
const functionsSQL = `
SELECT n.nspname, p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
       ARRAY(
           SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(a.grantee) END
           FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
           WHERE a.privilege_type = 'EXECUTE'
             AND (a.grantee = 0 OR pg_catalog.pg_get_userbyid(a.grantee) IN ('anon', 'authenticated'))
           UNION
           -- Client roles that may execute it through membership in
           -- another role (not through PUBLIC, reported as such).
           SELECT r.rolname
           FROM pg_catalog.pg_roles r
           WHERE r.rolname IN ('anon', 'authenticated')
             AND pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE')
             AND NOT EXISTS (
                 SELECT 1 FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
                 WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
           ORDER BY 1),
       EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosecdef
  AND (($1 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%')
       OR n.nspname = ANY ($2))
ORDER BY 1, 2`

func auditFunctions(ctx context.Context, pool *pgxpool.Pool, all bool, schemas []string) ([]PolicyFinding, error) {
	rows, err := pool.Query(ctx, functionsSQL, all, schemas)
	if err != nil {
		return nil, dbError("auditing functions", err)
	}
	var out []PolicyFinding
	var schema, fn string
	var callers []string
	var pinned bool
	_, err = pgx.ForEachRow(rows, []any{&schema, &fn, &callers, &pinned}, func() error {
		if len(callers) == 0 {
			return nil
		}
		f := PolicyFinding{Schema: schema, Table: fn, Code: CodeDefinerFunctionExposed, Severity: secmon.SeverityMedium,
			Detail: fmt.Sprintf("SECURITY DEFINER function executable by %s runs with its owner's rights; "+
				"revoke EXECUTE or check every argument", strings.Join(callers, ", "))}
		if !pinned {
			f.Severity = secmon.SeverityHigh
			f.Detail += "; it also has no pinned search_path (SET search_path = pg_catalog, pg_temp)"
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, dbError("auditing functions", err)
	}
	return out, nil
}
