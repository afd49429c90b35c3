-- Each domain signs its access grants with its own Ed25519 key, so one domain's key
-- compromise stays inside it. The private key is stored only wrapped by the secret backend
-- (OpenBao Transit in production), bound to (domain, kid) by the wrapping context.
CREATE TABLE grant_signing_keys (
  domain text NOT NULL CHECK (domain ~ '^[a-z0-9][a-z0-9-]{0,62}$' AND domain <> 'platform'),
  kid text NOT NULL CHECK (kid ~ '^[A-Za-z0-9_-]{8,64}$'),
  public_jwk jsonb NOT NULL,
  wrapped_private_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set when a newer key takes over; the public key stays published until every grant it
  -- signed has expired.
  retired_at timestamptz,
  PRIMARY KEY (domain, kid)
);
-- At most one active key per domain, even with several replicas creating one at once.
CREATE UNIQUE INDEX grant_signing_keys_one_active ON grant_signing_keys (domain) WHERE retired_at IS NULL;
