-- Indexes for reading the event log the way an operator does: the newest
-- events first, a page at a time, narrowed by type or by address.
--
-- * (created_at, id) returns the newest events of any range in order
--   without sorting the range, and serves the (created_at, id) < cursor
--   condition of the next page (pgstore's EventQuery.Before).
-- * (type, created_at) finds one kind of event in a range (failed logins,
--   blocked uploads) without reading the others.
-- * (ip, created_at) finds the events of one address or prefix (ip <<= ...)
--   across the whole log.
--
-- They are created on the partitioned table, so every existing partition
-- gets them here and every partition made later by ensure_event_partitions
-- gets them when it is attached. CREATE INDEX on a partitioned table cannot
-- run CONCURRENTLY: on a large existing log, writers wait while each
-- partition is indexed. Hosts that cannot pause writes create the
-- partitions' indexes first with CREATE INDEX CONCURRENTLY under the names
-- below (security_events_pYYYYMMDD_created_at_id_idx and so on, or any
-- name), and this migration then only attaches them.
CREATE INDEX IF NOT EXISTS security_events_created_at_id_idx
    ON {{schema}}.security_events (created_at, id);
CREATE INDEX IF NOT EXISTS security_events_type_created_at_idx
    ON {{schema}}.security_events (type, created_at);
CREATE INDEX IF NOT EXISTS security_events_ip_created_at_idx
    ON {{schema}}.security_events (ip, created_at);
