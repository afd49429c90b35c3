-- Decommissioned nodes (DELETE /v1/domains/{domain}/nodes/{id}): the row stays, so the node's
-- history (its audit records, its keys' ages) still names it, with a status no verb leaves.
-- decommissioned_at is set exactly when the status is 'decommissioned'.
ALTER TABLE nodes DROP CONSTRAINT nodes_status_check;
ALTER TABLE nodes ADD CONSTRAINT nodes_status_check CHECK (status IN ('active', 'quarantined', 'decommissioned'));
ALTER TABLE nodes ADD COLUMN decommissioned_at timestamptz;
ALTER TABLE nodes ADD CONSTRAINT nodes_decommissioned_at_check CHECK ((status = 'decommissioned') = (decommissioned_at IS NOT NULL));

-- A node's last secret read, for the node read APIs: the newest granted `secret.read` record
-- whose actor is `node:<id>`, found by one backward index step per node instead of a write on
-- the read path. Partial: only those records are indexed.
CREATE INDEX audit_events_granted_secret_reads ON audit_events (chain, actor, at) WHERE action = 'secret.read' AND decision = 'granted';
