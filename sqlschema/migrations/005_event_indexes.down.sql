-- Reverses 005_event_indexes.
DROP INDEX IF EXISTS {{schema}}.security_events_ip_created_at_idx;
DROP INDEX IF EXISTS {{schema}}.security_events_type_created_at_idx;
DROP INDEX IF EXISTS {{schema}}.security_events_created_at_id_idx;
