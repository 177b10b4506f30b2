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
