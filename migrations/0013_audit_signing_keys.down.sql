-- Refused by the migration runner while the table holds keys (they verify what was signed),
-- unless data loss is allowed explicitly.
DROP TABLE audit_signing_keys;
DROP FUNCTION custos_audit_signing_key_change();
