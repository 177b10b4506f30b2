-- cleanup_old_security_data removes rows older than the retention periods,
-- as of as_of (default now()), for hosts that schedule retention inside the
-- database (pg_cron and the like). A NULL or negative period keeps that data
-- forever.
--
-- * security_events: whole daily partitions that ended at or before the
--   cutoff are dropped (their rows are counted first); older rows left in
--   other partitions are deleted in batches of 10,000.
-- * active_sessions: sessions whose last beat and revocation, whichever is
--   later, are before the cutoff (a session revoked recently stays a while
--   even if its last beat is old).
-- * user_activity: rows created before the cutoff.
-- * security_alerts: resolved alerts last seen before the cutoff; open and
--   acknowledged alerts are never removed.
--
-- It runs with the caller's privileges (SECURITY INVOKER); dropping
-- partitions needs the table owner.
CREATE FUNCTION {{schema}}.cleanup_old_security_data(
    events_keep   interval    DEFAULT '90 days',
    sessions_keep interval    DEFAULT '30 days',
    activity_keep interval    DEFAULT '90 days',
    alerts_keep   interval    DEFAULT '365 days',
    as_of         timestamptz DEFAULT now())
RETURNS TABLE (
    events_deleted     bigint,
    partitions_dropped integer,
    sessions_deleted   bigint,
    activities_deleted bigint,
    alerts_deleted     bigint)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    schema_name constant text := {{schema_literal}};
    batch constant integer := 10000;
    cutoff timestamptz;
    part   record;
    n      bigint;
BEGIN
    events_deleted := 0;
    partitions_dropped := 0;
    sessions_deleted := 0;
    activities_deleted := 0;
    alerts_deleted := 0;
    IF as_of IS NULL THEN
        as_of := now();
    END IF;

    IF events_keep IS NOT NULL AND events_keep >= interval '0' THEN
        cutoff := as_of - events_keep;
        -- Serialise with ensure_event_partitions.
        PERFORM pg_advisory_xact_lock(hashtextextended('secmon.partitions:' || schema_name, 0));
        FOR part IN
            SELECT c.relname
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = format('%I.security_events', schema_name)::regclass
              AND c.relname ~ '^security_events_p[0-9]{8}$'
              AND (to_date(substr(c.relname, 18), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
            ORDER BY c.relname
        LOOP
            -- Counted through the parent; the bounds prune to the one partition.
            EXECUTE format('SELECT count(*) FROM %I.security_events WHERE created_at >= $1 AND created_at < $2',
                           schema_name)
                INTO n
                USING to_date(substr(part.relname, 18), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC',
                      (to_date(substr(part.relname, 18), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC';
            EXECUTE format('DROP TABLE %I.%I', schema_name, part.relname);
            events_deleted := events_deleted + n;
            partitions_dropped := partitions_dropped + 1;
        END LOOP;
        LOOP
            EXECUTE format('DELETE FROM %I.security_events WHERE (id, created_at) IN '
                           '(SELECT id, created_at FROM %I.security_events WHERE created_at < $1 LIMIT %s)',
                           schema_name, schema_name, batch) USING cutoff;
            GET DIAGNOSTICS n = ROW_COUNT;
            events_deleted := events_deleted + n;
            EXIT WHEN n < batch;
        END LOOP;
    END IF;

    IF sessions_keep IS NOT NULL AND sessions_keep >= interval '0' THEN
        cutoff := as_of - sessions_keep;
        LOOP
            EXECUTE format('DELETE FROM %I.active_sessions WHERE session_id IN '
                           '(SELECT session_id FROM %I.active_sessions WHERE GREATEST(last_seen, revoked_at) < $1 LIMIT %s)',
                           schema_name, schema_name, batch) USING cutoff;
            GET DIAGNOSTICS n = ROW_COUNT;
            sessions_deleted := sessions_deleted + n;
            EXIT WHEN n < batch;
        END LOOP;
    END IF;

    IF activity_keep IS NOT NULL AND activity_keep >= interval '0' THEN
        cutoff := as_of - activity_keep;
        LOOP
            EXECUTE format('DELETE FROM %I.user_activity WHERE id IN '
                           '(SELECT id FROM %I.user_activity WHERE created_at < $1 LIMIT %s)',
                           schema_name, schema_name, batch) USING cutoff;
            GET DIAGNOSTICS n = ROW_COUNT;
            activities_deleted := activities_deleted + n;
            EXIT WHEN n < batch;
        END LOOP;
    END IF;

    IF alerts_keep IS NOT NULL AND alerts_keep >= interval '0' THEN
        cutoff := as_of - alerts_keep;
        LOOP
            EXECUTE format('DELETE FROM %I.security_alerts WHERE id IN '
                           '(SELECT id FROM %I.security_alerts WHERE status = ''resolved'' AND last_seen < $1 LIMIT %s)',
                           schema_name, schema_name, batch) USING cutoff;
            GET DIAGNOSTICS n = ROW_COUNT;
            alerts_deleted := alerts_deleted + n;
            EXIT WHEN n < batch;
        END LOOP;
    END IF;

    RETURN NEXT;
END
$fn$;

REVOKE ALL ON FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz) TO {{service_role}};

-- Default privileges a platform sets on the schema (Supabase grants its
-- client roles EXECUTE on new functions) must not reach the client roles:
-- 002_rls revoked them from the functions that existed then.
DO $secmon$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz) FROM %I', r);
        END IF;
    END LOOP;
END
$secmon$;
