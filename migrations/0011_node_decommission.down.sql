-- Refused by the migration runner while a node is decommissioned (decommissioned_at holds
-- values): reversing would have to make such a node active or quarantined again.
DROP INDEX audit_events_granted_secret_reads;
ALTER TABLE nodes DROP CONSTRAINT nodes_decommissioned_at_check;
ALTER TABLE nodes DROP COLUMN decommissioned_at;
ALTER TABLE nodes DROP CONSTRAINT nodes_status_check;
ALTER TABLE nodes ADD CONSTRAINT nodes_status_check CHECK (status IN ('active', 'quarantined'));
