-- Reverses 006_rollups: the hourly rollups go (the events they were
-- computed from are untouched) and the retention function returns to its
-- 004 form, kept under another name by 006.
DROP FUNCTION {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz, interval);
ALTER FUNCTION {{schema}}.cleanup_events_and_rows(interval, interval, interval, interval, timestamptz, interval)
    RENAME TO cleanup_old_security_data;

DROP TABLE IF EXISTS {{schema}}.event_pairs_hourly;
DROP TABLE IF EXISTS {{schema}}.events_hourly;
