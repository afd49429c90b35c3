-- The grants a domain issued are its chain's granted `access.issue` records
-- (GET /v1/domains/{domain}/grants). This partial index holds only those, in seq order, so a
-- page of issued grants reads the page and not the whole chain. An index changes no row:
-- the audit tables stay append-only.
CREATE INDEX audit_events_issued_grants ON audit_events (chain, seq)
  WHERE action = 'access.issue' AND decision = 'granted';
