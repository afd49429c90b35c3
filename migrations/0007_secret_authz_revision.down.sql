ALTER TABLE secrets DROP COLUMN authz_revision;
