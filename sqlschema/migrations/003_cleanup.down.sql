-- Reverses 003_cleanup.
DROP FUNCTION IF EXISTS {{schema}}.cleanup_old_security_data(interval, interval, interval, interval, timestamptz);
