-- Each domain signs the events it sends its nodes (docs/design.md, "Signed events") with an
-- Ed25519 key of its own, apart from its grant key: a node verifying events trusts only keys
-- published with custos_use "event", so an event key can never be used to forge a grant, nor
-- a grant key an event. Same shape and rules as grant_signing_keys (0004): the private key
-- stored only wrapped by the secret backend, bound to (domain, kid) by its own wrapping
-- context (custos/v1/event-key:<domain>:<kid>); one active key per domain.
CREATE TABLE event_signing_keys (
  domain text NOT NULL CHECK (domain ~ '^[a-z0-9][a-z0-9-]{0,62}$' AND domain <> 'platform'),
  kid text NOT NULL CHECK (kid ~ '^[A-Za-z0-9_-]{8,64}$'),
  public_jwk jsonb NOT NULL,
  wrapped_private_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set when a newer key takes over; the public key stays published while events it signed
  -- may still be in flight (their lifetime, plus the clock leeway).
  retired_at timestamptz,
  PRIMARY KEY (domain, kid)
);
-- At most one active key per domain, even with several replicas creating one at once.
CREATE UNIQUE INDEX event_signing_keys_one_active ON event_signing_keys (domain) WHERE retired_at IS NULL;
