-- secmon tables: the partitioned security event log, sessions, activity and
-- deduplicated alerts. Rendered by sqlschema: {{schema}} is the quoted schema
-- name; every object is schema-qualified so search_path never matters.

-- CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
-- schema exists; a schema made ahead for an owner without that privilege
-- is used as it is.
DO $secmon$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {{schema_literal}}) THEN
        CREATE SCHEMA {{schema}};
    END IF;
END
$secmon$;

-- The migration ledger. sqlschema.Migrate creates it before running this
-- file; it is repeated here so the rendered SQL stands alone.
CREATE TABLE IF NOT EXISTS {{schema}}.schema_migrations (
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- metadata_ok mirrors the PrivacyPolicy caps: a JSON object of at most 20
-- keys whose values are strings of at most 1024 bytes. The SQL-standard body
-- is bound at creation time (no search_path lookups when it runs) and the
-- common case, a small object, is decided without a subquery.
CREATE FUNCTION {{schema}}.metadata_values_fit(m jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT NOT EXISTS (
        SELECT 1 FROM pg_catalog.jsonb_each_text(m) AS kv(key, value)
        WHERE pg_catalog.octet_length(kv.value) > 1024);
END;

CREATE FUNCTION {{schema}}.metadata_ok(m jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN m IS NULL OR (
    pg_catalog.jsonb_typeof(m) = 'object'
    AND pg_catalog.jsonb_array_length(pg_catalog.jsonb_path_query_array(m, 'strict $.*', '{}', true)) <= 20
    AND NOT pg_catalog.jsonb_path_exists(m, 'strict $.* ? (@.type() != "string")', '{}', true)
    AND (pg_catalog.octet_length(m::text) <= 1024 OR {{schema}}.metadata_values_fit(m)));

COMMENT ON FUNCTION {{schema}}.metadata_ok(jsonb) IS
    'secmon: true when m is a JSON object of at most 20 string values of at most 1024 bytes each';

-- security_events: range-partitioned by UTC day on created_at. Daily
-- partitions are named security_events_pYYYYMMDD and created ahead by
-- ensure_event_partitions; security_events_default catches a row for a day
-- with no partition so that an insert never fails, and the next
-- ensure_event_partitions moves such rows out.
CREATE TABLE {{schema}}.security_events (
    id              uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    type            text        NOT NULL,
    severity        smallint    NOT NULL DEFAULT 0,
    user_id         text,
    session_id      text,
    org_id          text,
    ip              inet,
    user_agent      text,
    fingerprint     text,
    geo_country     text,
    geo_region      text,
    geo_city        text,
    geo_lat         double precision,
    geo_lon         double precision,
    geo_accuracy_km integer,
    duration_us     bigint,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT security_events_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT security_events_severity_check CHECK (severity BETWEEN 0 AND 4),
    CONSTRAINT security_events_duration_check CHECK (duration_us IS NULL OR duration_us >= 0),
    CONSTRAINT security_events_metadata_check CHECK ({{schema}}.metadata_ok(metadata))
) PARTITION BY RANGE (created_at);

CREATE INDEX security_events_created_at_brin ON {{schema}}.security_events USING brin (created_at);
CREATE INDEX security_events_user_id_created_at_idx ON {{schema}}.security_events (user_id, created_at);

CREATE TABLE {{schema}}.security_events_default PARTITION OF {{schema}}.security_events DEFAULT;

-- ensure_event_partitions creates the daily partitions for the UTC days
-- [from_day, from_day + days) that do not exist yet and returns how many it
-- created. Rows that landed in the default partition for one of those days
-- are moved into the new partition. Safe to run concurrently (an advisory
-- transaction lock serialises callers) and repeatedly.
--
-- TimeZone and DateStyle are pinned: the bounds are written into DDL as
-- text, and under another session's settings they would render in its
-- zone, with an abbreviation that may read back as a different zone (IST
-- under DateStyle German is India's time, read back as Israel's).
CREATE FUNCTION {{schema}}.ensure_event_partitions(from_day date, days integer)
    RETURNS integer
    LANGUAGE plpgsql
    SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO, YMD'
AS $fn$
DECLARE
    schema_name constant text := {{schema_literal}};
    d        date;
    part     text;
    lo       timestamptz;
    hi       timestamptz;
    created  integer := 0;
    locked   boolean := false;
    client   name;
    pol      record;
BEGIN
    IF from_day IS NULL OR days IS NULL OR days < 0 OR days > 3660 THEN
        RAISE EXCEPTION 'secmon: ensure_event_partitions: days must be between 0 and 3660, got %', days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 0 .. days - 1 LOOP
        d := from_day + i;
        part := 'security_events_p' || to_char(d, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(format('%I.%I', schema_name, part)) IS NOT NULL;

        IF NOT locked THEN
            PERFORM pg_advisory_xact_lock(hashtextextended('secmon.partitions:' || schema_name, 0));
            -- Writers are held at the parent (SHARE ROW EXCLUSIVE conflicts
            -- with their ROW EXCLUSIVE but not with readers) until this
            -- transaction commits. A writer already routed to the default
            -- partition would otherwise fail its partition check once the
            -- new partition is attached; held at the parent, it routes with
            -- the new partitions once it proceeds. The parent is locked
            -- before the default partition, in the order writers lock them.
            EXECUTE format('LOCK TABLE %I.security_events IN SHARE ROW EXCLUSIVE MODE', schema_name);
            EXECUTE format('LOCK TABLE %I.security_events_default IN ACCESS EXCLUSIVE MODE', schema_name);
            locked := true;
            -- Another caller may have created it while we waited.
            CONTINUE WHEN to_regclass(format('%I.%I', schema_name, part)) IS NOT NULL;
        END IF;

        lo := d::timestamp AT TIME ZONE 'UTC';
        hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.security_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                       schema_name, part, schema_name);
        -- Declaring the bound up front lets ATTACH skip scanning the table.
        EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I CHECK (created_at >= %L AND created_at < %L)',
                       schema_name, part, part || '_bound', lo, hi);
        -- With no partition for the day yet, its rows can only be in the
        -- default partition; read them through the parent so the parent's
        -- policies, not the partition's, decide visibility.
        EXECUTE format('WITH moved AS (DELETE FROM %I.security_events WHERE created_at >= %L AND created_at < %L RETURNING *) '
                       'INSERT INTO %I.%I SELECT * FROM moved',
                       schema_name, lo, hi, schema_name, part);
        EXECUTE format('ALTER TABLE %I.security_events ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                       schema_name, schema_name, part, lo, hi);
        EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', schema_name, part, part || '_bound');
        -- Partitions follow the parent's row-level security so direct access
        -- to a partition is never more open than access through the parent.
        IF (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = format('%I.security_events', schema_name)::regclass) THEN
            EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', schema_name, part);
        END IF;
        IF (SELECT c.relforcerowsecurity FROM pg_class c WHERE c.oid = format('%I.security_events', schema_name)::regclass) THEN
            EXECUTE format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', schema_name, part);
        END IF;
        -- The partition carries the parent's policies, so the roles the
        -- parent's policies admit (the service role, and so the owner when
        -- it is a member of it rather than a superuser) read it directly as
        -- they read it through the parent, and no other role does.
        FOR pol IN
            SELECT p.policyname, p.permissive, p.roles, p.cmd, p.qual, p.with_check
            FROM pg_policies p
            WHERE p.schemaname = schema_name AND p.tablename = 'security_events'
        LOOP
            EXECUTE format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s',
                pol.policyname, schema_name, part, pol.permissive, pol.cmd,
                (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ')
                 FROM unnest(pol.roles) AS r),
                CASE WHEN pol.qual IS NOT NULL THEN ' USING (' || pol.qual || ')' ELSE '' END,
                CASE WHEN pol.with_check IS NOT NULL THEN ' WITH CHECK (' || pol.with_check || ')' ELSE '' END);
        END LOOP;
        -- Default privileges a platform may set for new tables do not reach
        -- partitions: they are read through the parent only.
        EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC', schema_name, part);
        FOR client IN SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated') LOOP
            EXECUTE format('REVOKE ALL ON %I.%I FROM %I', schema_name, part, client);
        END LOOP;
        created := created + 1;
    END LOOP;
    RETURN created;
END
$fn$;

-- active_sessions: one row per session, rewritten by each heartbeat flush.
-- fillfactor 70 leaves room for HOT updates; last_seen is deliberately not
-- indexed so those updates stay HOT.
CREATE TABLE {{schema}}.active_sessions (
    session_id      text        NOT NULL,
    user_id         text        NOT NULL,
    org_id          text,
    ip              inet,
    user_agent      text,
    fingerprint     text,
    geo_country     text,
    geo_region      text,
    geo_city        text,
    geo_lat         double precision,
    geo_lon         double precision,
    geo_accuracy_km integer,
    started_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_seen       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    revoked_at      timestamptz,
    CONSTRAINT active_sessions_pkey PRIMARY KEY (session_id)
) WITH (fillfactor = 70);

CREATE INDEX active_sessions_user_id_idx ON {{schema}}.active_sessions (user_id);

-- user_activity: allowlisted user actions.
CREATE TABLE {{schema}}.user_activity (
    id          uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    user_id     text        NOT NULL,
    session_id  text,
    org_id      text,
    action      text        NOT NULL,
    resource    text,
    metadata    jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT user_activity_pkey PRIMARY KEY (id),
    CONSTRAINT user_activity_metadata_check CHECK ({{schema}}.metadata_ok(metadata))
);

CREATE INDEX user_activity_user_id_created_at_idx ON {{schema}}.user_activity (user_id, created_at);
CREATE INDEX user_activity_created_at_brin ON {{schema}}.user_activity USING brin (created_at);

-- security_alerts: deduplicated alerts. At most one open alert per
-- (rule, subject), across every instance sharing the database:
-- INSERT ... ON CONFLICT (rule, subject) WHERE status = 'open' DO UPDATE.
CREATE TABLE {{schema}}.security_alerts (
    id                 uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    rule               text        NOT NULL,
    subject            text        NOT NULL,
    severity           smallint    NOT NULL DEFAULT 0,
    status             text        NOT NULL DEFAULT 'open',
    count              bigint      NOT NULL DEFAULT 1,
    first_seen         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_seen          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    summary            text        NOT NULL DEFAULT '',
    evidence           jsonb       NOT NULL DEFAULT '{}',
    action_kind        text        NOT NULL DEFAULT '',
    action_duration_ms bigint      NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT security_alerts_pkey PRIMARY KEY (id),
    CONSTRAINT security_alerts_severity_check CHECK (severity BETWEEN 0 AND 4),
    CONSTRAINT security_alerts_status_check CHECK (status IN ('open', 'acknowledged', 'resolved')),
    CONSTRAINT security_alerts_count_check CHECK (count >= 0),
    CONSTRAINT security_alerts_evidence_check CHECK (pg_catalog.jsonb_typeof(evidence) = 'object')
);

CREATE UNIQUE INDEX security_alerts_open_rule_subject_key
    ON {{schema}}.security_alerts (rule, subject) WHERE status = 'open';

-- Every inserted or changed alert is announced on channel secmon_alerts with
-- the alert ID as payload, delivered when the transaction commits.
CREATE FUNCTION {{schema}}.notify_alert() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM pg_notify('secmon_alerts', NEW.id::text);
    RETURN NULL;
END
$fn$;

CREATE TRIGGER security_alerts_notify_insert
    AFTER INSERT ON {{schema}}.security_alerts
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.notify_alert();

CREATE TRIGGER security_alerts_notify_update
    AFTER UPDATE ON {{schema}}.security_alerts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION {{schema}}.notify_alert();
