-- Active response: the blocks every instance's guard enforces, their
-- history for escalation, and the announcement of every change.
--
-- blocks holds one row per decision to refuse an IP group, a prefix or an
-- account. Rows stay after the block ends (it expired at until, or was
-- lifted) as the history that escalation reads, until the retention purges
-- them. Every inserted or changed row is announced with NOTIFY on the
-- channel {{block_channel_literal}} (one per schema, so schemas sharing a
-- database never hear each other), the payload being the block ID only: a
-- listener reads the row itself, through its own privileges.

CREATE TABLE {{schema}}.blocks (
    id          uuid        NOT NULL,
    scope       text        NOT NULL,
    subject     text        NOT NULL,
    prefix      cidr,
    user_id     text,
    reason      text        NOT NULL DEFAULT '',
    rule        text        NOT NULL DEFAULT '',
    origin      text        NOT NULL,
    level       integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    until       timestamptz,
    created_by  text        NOT NULL DEFAULT '',
    lifted_at   timestamptz,
    lifted_by   text,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT blocks_pkey PRIMARY KEY (id),
    CONSTRAINT blocks_scope_check CHECK (scope IN ('ip', 'prefix', 'user')),
    CONSTRAINT blocks_origin_check CHECK (origin IN ('rule', 'manual', 'list')),
    CONSTRAINT blocks_target_check CHECK (
        CASE scope WHEN 'user' THEN prefix IS NULL AND user_id IS NOT NULL AND user_id <> ''
                   ELSE prefix IS NOT NULL AND user_id IS NULL END),
    CONSTRAINT blocks_level_check CHECK (level BETWEEN 1 AND 1000),
    CONSTRAINT blocks_until_check CHECK (until IS NULL OR until > created_at),
    CONSTRAINT blocks_lift_check CHECK ((lifted_at IS NULL) = (lifted_by IS NULL)),
    CONSTRAINT blocks_reason_check CHECK (pg_catalog.octet_length(reason) <= 1024)
);

-- The end of a block: when it expired or was lifted, whichever came first
-- (infinity for a block that never ends unless lifted). The blocks in force
-- at t are those whose end is after t, which this index finds without
-- reading the history; the purge finds what ended long ago with it too.
CREATE INDEX blocks_end_idx ON {{schema}}.blocks
    ((LEAST(COALESCE(until, 'infinity'::timestamptz), COALESCE(lifted_at, 'infinity'::timestamptz))));

-- A subject's history, newest first, for escalation.
CREATE INDEX blocks_subject_created_idx ON {{schema}}.blocks (subject, created_at);

CREATE FUNCTION {{schema}}.notify_block() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM pg_notify({{block_channel_literal}}, NEW.id::text);
    RETURN NULL;
END
$fn$;

CREATE TRIGGER blocks_notify_insert
    AFTER INSERT ON {{schema}}.blocks
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.notify_block();

CREATE TRIGGER blocks_notify_update
    AFTER UPDATE ON {{schema}}.blocks
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION {{schema}}.notify_block();

-- Row-level security as on every other table: enabled and forced, one
-- permissive policy for the service role, nothing for PUBLIC, and the
-- Supabase-style client roles, where they exist, explicitly denied.
ALTER TABLE {{schema}}.blocks ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.blocks FORCE ROW LEVEL SECURITY;
REVOKE ALL ON {{schema}}.blocks FROM PUBLIC;
REVOKE ALL ON FUNCTION {{schema}}.notify_block() FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON {{schema}}.blocks TO {{service_role}};
GRANT EXECUTE ON FUNCTION {{schema}}.notify_block() TO {{service_role}};
CREATE POLICY service_role_all ON {{schema}}.blocks
    AS PERMISSIVE FOR ALL TO {{service_role}} USING (true) WITH CHECK (true);

DO $secmon$
DECLARE
    clients text;
    r       text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON {{schema}}.blocks FROM %I', r);
            EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION {{schema}}.notify_block() FROM %I', r);
        END IF;
    END LOOP;
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(rolname), ', ' ORDER BY rolname) INTO clients
    FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated');
    IF clients IS NOT NULL THEN
        EXECUTE 'CREATE POLICY deny_clients ON {{schema}}.blocks AS RESTRICTIVE FOR ALL TO '
            || clients || ' USING (false) WITH CHECK (false)';
    END IF;
END
$secmon$;

-- The retention function gains blocks_keep, after as_of so that calls
-- passing the first five arguments by position keep working, and a
-- blocks_deleted column: blocks that ended (expired or lifted) more than
-- blocks_keep before as_of are removed; blocks in force and blocks that
-- never end unless lifted stay.
DROP FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz);

CREATE FUNCTION {{schema}}.cleanup_old_security_data(
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

REVOKE ALL ON FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz, interval) TO {{service_role}};

DO $secmon$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz, interval) FROM %I', r);
        END IF;
    END LOOP;
END
$secmon$;
