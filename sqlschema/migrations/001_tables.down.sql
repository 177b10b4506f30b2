-- Reverses 001_tables. The schema itself stays: it also holds
-- schema_migrations, which records that this migration was reversed.
DROP TABLE IF EXISTS {{schema}}.security_alerts;
DROP FUNCTION IF EXISTS {{schema}}.notify_alert();
DROP TABLE IF EXISTS {{schema}}.user_activity;
DROP TABLE IF EXISTS {{schema}}.active_sessions;
DROP FUNCTION IF EXISTS {{schema}}.ensure_event_partitions(date, integer);
DROP TABLE IF EXISTS {{schema}}.security_events;
DROP FUNCTION IF EXISTS {{schema}}.metadata_ok(jsonb);
DROP FUNCTION IF EXISTS {{schema}}.metadata_values_fit(jsonb);
