-- Hourly rollups of the event log, maintained by the store at write time
-- so that the dashboard's chart and its ranking of sources and accounts
-- read a few thousand rows instead of every event of the day.
--
-- * events_hourly counts every event by UTC hour, type and severity: the
--   hourly buckets (events, failed logins, blocked uploads, high severity)
--   are sums of its rows. It holds no address and no user ID.
-- * event_pairs_hourly counts the events of the types the store ranks
--   (pgstore's Config.PairRollupTypes; by default the failure types the
--   dashboard ranks) by UTC hour, type, IP group and user ID, with the
--   time of the latest one. An event without an address is kept under the
--   group '::/0' (no address's group is that wide) and one without a user
--   under '' (stored user IDs are never empty), so both can be key columns.
--   Events with neither are not ranked and not kept.
--
-- pgstore adds to both in the transaction that inserts the events, counting
-- only the events actually inserted, and reads an hour from them only when
-- the hour lies wholly inside the range asked for: every figure equals the
-- one computed from the events. Rows written to security_events by other
-- means are not counted. This migration fills both from the events already
-- stored, the pairs for the default types.

CREATE TABLE {{schema}}.events_hourly (
    hour     timestamptz NOT NULL,
    type     text        COLLATE "C" NOT NULL,
    severity smallint    NOT NULL,
    n        bigint      NOT NULL,
    CONSTRAINT events_hourly_pkey PRIMARY KEY (hour, type, severity),
    CONSTRAINT events_hourly_n_check CHECK (n > 0)
);

CREATE TABLE {{schema}}.event_pairs_hourly (
    hour     timestamptz NOT NULL,
    type     text        COLLATE "C" NOT NULL,
    ip_group inet        NOT NULL,
    user_id  text        COLLATE "C" NOT NULL,
    n        bigint      NOT NULL,
    last     timestamptz NOT NULL,
    CONSTRAINT event_pairs_hourly_pkey PRIMARY KEY (hour, type, ip_group, user_id),
    CONSTRAINT event_pairs_hourly_n_check CHECK (n > 0)
);

-- Keys compare byte-wise (COLLATE "C"), as the store sorts them. There is
-- no index on user_id: erasure, rare, finds a user's rows with a scan
-- rather than every write paying for one more index entry per pair.

INSERT INTO {{schema}}.events_hourly (hour, type, severity, n)
SELECT pg_catalog.date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00'), type, severity, count(*)
FROM {{schema}}.security_events
GROUP BY 1, 2, 3;

INSERT INTO {{schema}}.event_pairs_hourly (hour, type, ip_group, user_id, n, last)
SELECT pg_catalog.date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00'), type,
    CASE WHEN ip IS NULL THEN inet '::/0'
         WHEN pg_catalog.family(ip) = 4 THEN pg_catalog.set_masklen(ip, 32)
         WHEN ip << inet '2002::/16' THEN pg_catalog.network(pg_catalog.set_masklen(ip, 48))::inet
         ELSE pg_catalog.network(pg_catalog.set_masklen(ip, 64))::inet END,
    coalesce(user_id, ''), count(*), max(created_at)
FROM {{schema}}.security_events
WHERE type IN ('login_failure', 'mfa_failure', 'access_denied', 'rate_limited', 'upload_blocked', 'access_blocked')
  AND (ip IS NOT NULL OR user_id IS NOT NULL)
GROUP BY 1, 2, 3, 4;

-- Row-level security as on every other table: enabled and forced, one
-- permissive policy for the service role, nothing for PUBLIC, and the
-- Supabase-style client roles, where they exist, explicitly denied.
ALTER TABLE {{schema}}.events_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.events_hourly FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.event_pairs_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.event_pairs_hourly FORCE ROW LEVEL SECURITY;
REVOKE ALL ON {{schema}}.events_hourly, {{schema}}.event_pairs_hourly FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON {{schema}}.events_hourly, {{schema}}.event_pairs_hourly TO {{service_role}};
CREATE POLICY service_role_all ON {{schema}}.events_hourly
    AS PERMISSIVE FOR ALL TO {{service_role}} USING (true) WITH CHECK (true);
CREATE POLICY service_role_all ON {{schema}}.event_pairs_hourly
    AS PERMISSIVE FOR ALL TO {{service_role}} USING (true) WITH CHECK (true);

DO $secmon$
DECLARE
    clients text;
    r       text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON {{schema}}.events_hourly, {{schema}}.event_pairs_hourly FROM %I', r);
        END IF;
    END LOOP;
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(rolname), ', ' ORDER BY rolname) INTO clients
    FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated');
    IF clients IS NOT NULL THEN
        EXECUTE 'CREATE POLICY deny_clients ON {{schema}}.events_hourly AS RESTRICTIVE FOR ALL TO '
            || clients || ' USING (false) WITH CHECK (false)';
        EXECUTE 'CREATE POLICY deny_clients ON {{schema}}.event_pairs_hourly AS RESTRICTIVE FOR ALL TO '
            || clients || ' USING (false) WITH CHECK (false)';
    END IF;
END
$secmon$;

-- The retention function removes the rollups of what it purges, as
-- pgstore's Purge does: 004's function keeps its body under the name
-- cleanup_events_and_rows (privileges unchanged), and
-- cleanup_old_security_data, same signature, calls it and then purges the
-- rollups in the same transaction.
ALTER FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz, interval)
    RENAME TO cleanup_events_and_rows;

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
    hour   timestamptz;
    ranked text[];
BEGIN
    IF as_of IS NULL THEN
        as_of := now();
    END IF;
    SELECT * INTO events_deleted, partitions_dropped, sessions_deleted, activities_deleted, alerts_deleted, blocks_deleted
    FROM {{schema}}.cleanup_events_and_rows(events_keep, sessions_keep, activity_keep, alerts_keep, as_of, blocks_keep);

    IF events_keep IS NOT NULL AND events_keep >= interval '0' THEN
        cutoff := as_of - events_keep;
        -- The rollups (006_rollups) of the hours before the cutoff's go with
        -- the events; the hour holding the cutoff is recounted from the
        -- events left in it, its pairs for the types it already holds pairs
        -- of (those the store ranks), with the store's writers held back.
        hour := date_bin('1 hour', cutoff, timestamptz '2000-01-01 00:00:00+00');
        EXECUTE format('DELETE FROM %I.events_hourly WHERE hour < $1', schema_name) USING hour;
        EXECUTE format('DELETE FROM %I.event_pairs_hourly WHERE hour < $1', schema_name) USING hour;
        IF hour < cutoff THEN
            EXECUTE format('LOCK TABLE %I.events_hourly, %I.event_pairs_hourly IN SHARE ROW EXCLUSIVE MODE',
                           schema_name, schema_name);
            EXECUTE format('SELECT coalesce(array_agg(DISTINCT type::text), ''{}'') FROM %I.event_pairs_hourly WHERE hour = $1',
                           schema_name) INTO ranked USING hour;
            EXECUTE format('DELETE FROM %I.events_hourly WHERE hour = $1', schema_name) USING hour;
            EXECUTE format('DELETE FROM %I.event_pairs_hourly WHERE hour = $1', schema_name) USING hour;
            EXECUTE format('INSERT INTO %I.events_hourly (hour, type, severity, n)
                SELECT $1, type, severity, count(*) FROM %I.security_events
                WHERE created_at >= $1 AND created_at < $1 + interval ''1 hour'' GROUP BY 2, 3',
                           schema_name, schema_name) USING hour;
            EXECUTE format('INSERT INTO %I.event_pairs_hourly (hour, type, ip_group, user_id, n, last)
                SELECT $1, type,
                    CASE WHEN ip IS NULL THEN inet ''::/0''
                         WHEN family(ip) = 4 THEN set_masklen(ip, 32)
                         WHEN ip << inet ''2002::/16'' THEN network(set_masklen(ip, 48))::inet
                         ELSE network(set_masklen(ip, 64))::inet END,
                    coalesce(user_id, ''''), count(*), max(created_at)
                FROM %I.security_events
                WHERE created_at >= $1 AND created_at < $1 + interval ''1 hour'' AND type = ANY($2)
                  AND (ip IS NOT NULL OR user_id IS NOT NULL)
                GROUP BY 2, 3, 4',
                           schema_name, schema_name) USING hour, ranked;
        END IF;
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
