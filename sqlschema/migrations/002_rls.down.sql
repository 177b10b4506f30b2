-- Reverses 002_rls: drops the policies and the grants it made and turns
-- row-level security off. Privileges revoked from PUBLIC, anon and
-- authenticated are not handed back.
DROP POLICY IF EXISTS own_rows_read ON {{schema}}.user_activity;
DROP POLICY IF EXISTS own_rows_read ON {{schema}}.active_sessions;
DROP POLICY IF EXISTS deny_clients ON {{schema}}.security_alerts;
DROP POLICY IF EXISTS deny_clients ON {{schema}}.security_events;
DROP POLICY IF EXISTS service_role_all ON {{schema}}.security_alerts;
DROP POLICY IF EXISTS service_role_all ON {{schema}}.user_activity;
DROP POLICY IF EXISTS service_role_all ON {{schema}}.active_sessions;
DROP POLICY IF EXISTS service_role_all ON {{schema}}.security_events;
DROP POLICY IF EXISTS service_role_all ON {{schema}}.schema_migrations;

DO $secmon$
DECLARE
    part regclass;
    pol  name;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        REVOKE ALL ON {{schema}}.active_sessions, {{schema}}.user_activity FROM authenticated;
        REVOKE ALL ON SCHEMA {{schema}} FROM authenticated;
    END IF;
    FOR part IN
        SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
        WHERE i.inhparent = '{{schema}}.security_events'::regclass
    LOOP
        -- The copies of the parent's policies each partition carries.
        FOR pol IN SELECT p.polname FROM pg_catalog.pg_policy p WHERE p.polrelid = part LOOP
            EXECUTE pg_catalog.format('DROP POLICY %I ON %s', pol, part);
        END LOOP;
        EXECUTE pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', part);
        EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', part);
    END LOOP;
END
$secmon$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {{schema}} FROM {{service_role}};
REVOKE ALL ON ALL TABLES IN SCHEMA {{schema}} FROM {{service_role}};
REVOKE ALL ON SCHEMA {{schema}} FROM {{service_role}};

ALTER TABLE {{schema}}.security_alerts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.security_alerts DISABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.user_activity NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.user_activity DISABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.active_sessions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.active_sessions DISABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.security_events NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.security_events DISABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.schema_migrations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.schema_migrations DISABLE ROW LEVEL SECURITY;
