-- The public halves of every audit signing key, active and retired, so that any replica can
-- publish them (GET /v1/audit/keys) and anyone can verify a checkpoint or a mirror manifest
-- without the private key, which stays in CUSTOS_AUDIT_KEY_FILE (docs/design.md, "Audit key").
--
-- A key is valid from valid_from (NULL: a key that signed before it was registered here, i.e.
-- before this migration) until retired_at (NULL: the active key). Rows are never deleted, and
-- the only change allowed is retiring the active key once: a retired key stays published
-- forever, since what it signed stays evidence.
CREATE TABLE audit_signing_keys (
  key_id text PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9_-]{22}$'),
  public_jwk jsonb NOT NULL,
  valid_from timestamptz,
  retired_at timestamptz,
  CHECK (retired_at IS NULL OR valid_from IS NULL OR retired_at >= valid_from)
);
-- At most one active key, even with several replicas registering at once.
CREATE UNIQUE INDEX audit_signing_keys_one_active ON audit_signing_keys ((true)) WHERE retired_at IS NULL;

CREATE FUNCTION custos_audit_signing_key_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.retired_at IS NULL AND NEW.retired_at IS NOT NULL
     AND NEW.key_id = OLD.key_id AND NEW.public_jwk = OLD.public_jwk
     AND NEW.valid_from IS NOT DISTINCT FROM OLD.valid_from THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'custos: % on % is refused: audit keys are only added and retired', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'feature_not_supported';
END
$$;

CREATE TRIGGER audit_signing_keys_retire_only BEFORE UPDATE OR DELETE ON audit_signing_keys
  FOR EACH ROW EXECUTE FUNCTION custos_audit_signing_key_change();
CREATE TRIGGER audit_signing_keys_no_truncate BEFORE TRUNCATE ON audit_signing_keys
  FOR EACH STATEMENT EXECUTE FUNCTION custos_refuse_audit_change();
