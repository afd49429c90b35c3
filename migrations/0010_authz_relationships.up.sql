-- The relationships Custos writes, kept durably when the SpiceDB engine runs embedded (in
-- process memory): the engine is restored from this table at start. With a SpiceDB server
-- the server's own datastore is the durable copy and this table stays empty.
CREATE TABLE authz_relationships (
  resource_type text NOT NULL,
  resource_id   text NOT NULL,
  relation      text NOT NULL,
  subject_type  text NOT NULL,
  subject_id    text NOT NULL,
  written_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (resource_type, resource_id, relation, subject_type, subject_id)
);
