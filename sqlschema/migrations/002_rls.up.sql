-- Row-level security, hardened by default.
--
-- * RLS is enabled and forced on every table (and every event partition), so
--   even a non-superuser table owner goes through the policies.
-- * The only permissive policies that open whole tables name the service
--   role ({{service_role}}); nothing is granted to PUBLIC.
-- * Where the Supabase-style roles anon and authenticated exist, they lose
--   every privilege, security_events and security_alerts carry an explicit
--   restrictive deny for them, and authenticated may only read its own rows
--   of active_sessions and user_activity.
--
-- The service role must already exist; sqlschema checks before running this.

ALTER TABLE {{schema}}.schema_migrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.schema_migrations FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.security_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.security_events FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.active_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.active_sessions FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.user_activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.user_activity FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.security_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.security_alerts FORCE ROW LEVEL SECURITY;

REVOKE ALL ON SCHEMA {{schema}} FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA {{schema}} FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA {{schema}} FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {{schema}} FROM PUBLIC;

DO $secmon$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA {{schema}} FROM %I', r);
            EXECUTE pg_catalog.format('REVOKE ALL ON ALL TABLES IN SCHEMA {{schema}} FROM %I', r);
            EXECUTE pg_catalog.format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA {{schema}} FROM %I', r);
            EXECUTE pg_catalog.format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {{schema}} FROM %I', r);
        END IF;
    END LOOP;
END
$secmon$;

-- The service role: full access to the tables through its policies, and the
-- functions the tables' constraints and triggers call.
GRANT USAGE ON SCHEMA {{schema}} TO {{service_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON
    {{schema}}.security_events, {{schema}}.active_sessions,
    {{schema}}.user_activity, {{schema}}.security_alerts
    TO {{service_role}};
GRANT SELECT ON {{schema}}.schema_migrations TO {{service_role}};
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {{schema}} TO {{service_role}};

CREATE POLICY service_role_all ON {{schema}}.schema_migrations
    AS PERMISSIVE FOR ALL TO {{service_role}} USING (true) WITH CHECK (true);
CREATE POLICY service_role_all ON {{schema}}.security_events
    AS PERMISSIVE FOR ALL TO {{service_role}} USING (true) WITH CHECK (true);
CREATE POLICY service_role_all ON {{schema}}.active_sessions
    AS PERMISSIVE FOR ALL TO {{service_role}} USING (true) WITH CHECK (true);
CREATE POLICY service_role_all ON {{schema}}.user_activity
    AS PERMISSIVE FOR ALL TO {{service_role}} USING (true) WITH CHECK (true);
CREATE POLICY service_role_all ON {{schema}}.security_alerts
    AS PERMISSIVE FOR ALL TO {{service_role}} USING (true) WITH CHECK (true);

-- Client roles: explicit denial on the security log and the alerts, own-row
-- reads on sessions and activity. The user ID comes from
-- ({{user_id_expr}}), evaluated once per statement.
DO $secmon$
DECLARE
    clients text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(rolname), ', ' ORDER BY rolname) INTO clients
    FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated');
    IF clients IS NOT NULL THEN
        EXECUTE 'CREATE POLICY deny_clients ON {{schema}}.security_events AS RESTRICTIVE FOR ALL TO '
            || clients || ' USING (false) WITH CHECK (false)';
        EXECUTE 'CREATE POLICY deny_clients ON {{schema}}.security_alerts AS RESTRICTIVE FOR ALL TO '
            || clients || ' USING (false) WITH CHECK (false)';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        GRANT USAGE ON SCHEMA {{schema}} TO authenticated;
        GRANT SELECT ON {{schema}}.active_sessions, {{schema}}.user_activity TO authenticated;
        CREATE POLICY own_rows_read ON {{schema}}.active_sessions
            AS PERMISSIVE FOR SELECT TO authenticated
            USING (user_id = (SELECT {{user_id_expr}}));
        CREATE POLICY own_rows_read ON {{schema}}.user_activity
            AS PERMISSIVE FOR SELECT TO authenticated
            USING (user_id = (SELECT {{user_id_expr}}));
    END IF;
END
$secmon$;

-- Event partitions (the default one and any daily ones made so far):
-- RLS forced, and the parent's policies, as ensure_event_partitions gives
-- every partition it creates. Queries through security_events use the
-- parent's policies; these close direct access to a partition to all but
-- the roles the parent admits.
DO $secmon$
DECLARE
    part regclass;
    pol  record;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
        WHERE i.inhparent = '{{schema}}.security_events'::regclass
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
        EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', part);
        FOR pol IN
            SELECT p.policyname, p.permissive, p.roles, p.cmd, p.qual, p.with_check
            FROM pg_catalog.pg_policies p
            WHERE p.schemaname = {{schema_literal}} AND p.tablename = 'security_events'
        LOOP
            EXECUTE pg_catalog.format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s',
                pol.policyname, part, pol.permissive, pol.cmd,
                (SELECT pg_catalog.string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r) END, ', ')
                 FROM pg_catalog.unnest(pol.roles) AS r),
                CASE WHEN pol.qual IS NOT NULL THEN ' USING (' || pol.qual || ')' ELSE '' END,
                CASE WHEN pol.with_check IS NOT NULL THEN ' WITH CHECK (' || pol.with_check || ')' ELSE '' END);
        END LOOP;
    END LOOP;
END
$secmon$;
