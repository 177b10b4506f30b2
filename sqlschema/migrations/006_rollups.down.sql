-- Reverses 006_rollups: the hourly rollups go (the events they were
-- computed from are untouched) and the retention function returns to its
-- 004 form.
CREATE OR REPLACE FUNCTION {{schema}}.cleanup_old_security_data(
    events_keep   interval    DEFAULT '90 days',
    sessions_keep interval    DEFAULT '30 days',
    activity_keep interval    DEFAULT '90 days',
    alerts_keep   interval    DEFAULT '365 days',
    as_of         timestamptz DEFAULT now(),
    blocks_keep   interval    DEFAULT '30 days')
RETURNS TABLE (
    events_deleted     bigint,
    partitions_dropped integer,
    sessions_deleted   bigint,
    activities_deleted bigint,
    alerts_deleted     bigint,
    blocks_deleted     bigint)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $fn$
DECLARE
    schema_name constant text := {{schema_literal}};
    cutoff timestamptz;
    part   record;
    day    date;
    n      bigint;
    locked boolean := false;
BEGIN
    events_deleted := 0;
    partitions_dropped := 0;
    sessions_deleted := 0;
    activities_deleted := 0;
    alerts_deleted := 0;
    blocks_deleted := 0;
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
            IF NOT locked THEN
                -- Writers are held at the parent, in the order they lock,
                -- so no row lands in a partition between its count and its
                -- drop (which locks the parent anyway).
                EXECUTE format('LOCK TABLE %I.security_events IN SHARE ROW EXCLUSIVE MODE', schema_name);
                locked := true;
            END IF;
            day := to_date(substr(part.relname, 18), 'YYYYMMDD');
            -- Counted through the parent, whose policies admit the caller;
            -- the bounds prune to the one partition.
            EXECUTE format('SELECT count(*) FROM %I.security_events WHERE created_at >= $1 AND created_at < $2',
                           schema_name)
                INTO n
                USING day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC';
            EXECUTE format('DROP TABLE %I.%I', schema_name, part.relname);
            events_deleted := events_deleted + n;
            partitions_dropped := partitions_dropped + 1;
        END LOOP;
        EXECUTE format('DELETE FROM %I.security_events WHERE created_at < $1', schema_name) USING cutoff;
        GET DIAGNOSTICS n = ROW_COUNT;
        events_deleted := events_deleted + n;
    END IF;

    IF sessions_keep IS NOT NULL AND sessions_keep >= interval '0' THEN
        EXECUTE format('DELETE FROM %I.active_sessions WHERE GREATEST(last_seen, revoked_at) < $1', schema_name)
            USING as_of - sessions_keep;
        GET DIAGNOSTICS n = ROW_COUNT;
        sessions_deleted := n;
    END IF;

    IF activity_keep IS NOT NULL AND activity_keep >= interval '0' THEN
        EXECUTE format('DELETE FROM %I.user_activity WHERE created_at < $1', schema_name)
            USING as_of - activity_keep;
        GET DIAGNOSTICS n = ROW_COUNT;
        activities_deleted := n;
    END IF;

    IF alerts_keep IS NOT NULL AND alerts_keep >= interval '0' THEN
        EXECUTE format('DELETE FROM %I.security_alerts WHERE status = ''resolved'' AND last_seen < $1', schema_name)
            USING as_of - alerts_keep;
        GET DIAGNOSTICS n = ROW_COUNT;
        alerts_deleted := n;
    END IF;

    IF blocks_keep IS NOT NULL AND blocks_keep >= interval '0' THEN
        EXECUTE format('DELETE FROM %I.blocks WHERE least(coalesce(until, ''infinity''), coalesce(lifted_at, ''infinity'')) < $1', schema_name)
            USING as_of - blocks_keep;
        GET DIAGNOSTICS n = ROW_COUNT;
        blocks_deleted := n;
    END IF;

    RETURN NEXT;
END
$fn$;

DROP TABLE IF EXISTS {{schema}}.event_pairs_hourly;
DROP TABLE IF EXISTS {{schema}}.events_hourly;
