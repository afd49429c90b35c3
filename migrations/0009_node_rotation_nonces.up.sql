-- Nonces of NSK rotation requests (docs/nsk-rotation.md), remembered for as long as their
-- timestamps are acceptable, so that a captured request cannot be replayed through this or
-- any other replica. A nonce is bound to its node: the same value from another node is a
-- different request. Expired rows are deleted as new ones arrive.
CREATE TABLE node_rotation_nonces (
  node_id uuid NOT NULL REFERENCES nodes (id),
  nonce text NOT NULL CHECK (nonce ~ '^[A-Za-z0-9_-]{22,64}$'),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (node_id, nonce)
);
CREATE INDEX node_rotation_nonces_expiry ON node_rotation_nonces (expires_at);
