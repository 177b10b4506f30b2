-- Reverses 006_rollups: the hourly rollups go; the events they were
-- computed from are untouched.
DROP TABLE IF EXISTS {{schema}}.event_pairs_hourly;
DROP TABLE IF EXISTS {{schema}}.events_hourly;
