-- The audit log: one hash chain per domain plus the `platform` chain (DESIGN.md, "Audit log").
--
-- Every table here is strictly append-only. The chain head is not stored as a mutable row:
-- it is the chain's last event, found through the primary key. `audit_chains` holds one
-- immutable row per chain whose only job is to be locked (SELECT … FOR UPDATE) by whichever
-- process appends next, so appends from many processes serialise per chain and never fork it.

CREATE TABLE audit_chains (
  chain text PRIMARY KEY CHECK (chain ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  -- SHA-256 of "custos/audit/genesis/v1:" || chain, hex: what the first event links to.
  genesis text NOT NULL CHECK (genesis ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_events (
  chain text NOT NULL REFERENCES audit_chains (chain),
  seq bigint NOT NULL CHECK (seq >= 1),
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  resource text NOT NULL,
  decision text NOT NULL CHECK (decision IN ('granted', 'denied', 'recorded')),
  reason text NOT NULL,
  request_id text NOT NULL,
  details jsonb NOT NULL,
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  PRIMARY KEY (chain, seq)
);

-- Signed heads, kept here for convenience; an auditor keeps copies outside the database,
-- which is what makes them evidence against a DBA who recomputes the chain.
CREATE TABLE audit_checkpoints (
  chain text NOT NULL REFERENCES audit_chains (chain),
  seq bigint NOT NULL CHECK (seq >= 0),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  signed_at timestamptz NOT NULL,
  key_id text NOT NULL,
  checkpoint jsonb NOT NULL,
  PRIMARY KEY (chain, seq, signed_at)
);

CREATE FUNCTION custos_refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'custos: % on % is refused: the audit log is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'feature_not_supported';
END
$$;

CREATE TRIGGER audit_chains_append_only BEFORE UPDATE OR DELETE ON audit_chains
  FOR EACH ROW EXECUTE FUNCTION custos_refuse_audit_change();
CREATE TRIGGER audit_chains_no_truncate BEFORE TRUNCATE ON audit_chains
  FOR EACH STATEMENT EXECUTE FUNCTION custos_refuse_audit_change();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION custos_refuse_audit_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION custos_refuse_audit_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION custos_refuse_audit_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION custos_refuse_audit_change();
