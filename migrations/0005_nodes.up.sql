-- Fleet nodes and their secret keys. node_secret_keys holds no plaintext key material: the
-- SHA-256 of each bearer secret and the wrap_key wrapped by the secret backend, nothing else
-- (DESIGN.md, "Nodes, NSK and the bearer"); the drizzle table carries a compile-time guard and
-- an integration test checks this live schema the same way.
CREATE TABLE nodes (
  id uuid PRIMARY KEY,
  domain text NOT NULL REFERENCES domains (id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'quarantined')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nodes_domain ON nodes (domain);

CREATE TABLE node_secret_keys (
  kid text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{8,64}$'),
  node_id uuid NOT NULL REFERENCES nodes (id),
  bearer_secret_sha256 text NOT NULL CHECK (bearer_secret_sha256 ~ '^[0-9a-f]{64}$'),
  wrapped_wrap_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set when a rotation supersedes this key: it keeps working until then (the grace period).
  retires_at timestamptz
);
CREATE INDEX node_secret_keys_node ON node_secret_keys (node_id);
