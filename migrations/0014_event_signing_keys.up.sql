-- Each domain signs the events it sends its nodes (docs/design.md, "Signed events") with an
-- Ed25519 key of its own, apart from its grant key: a node verifying events trusts only keys
-- published with custos_use "event", so an event key can never pass for a grant key, nor a
-- grant key for an event key. The same shape and rules as grant_signing_keys (0004), copied
-- from it: the domain and kid checks, the private key stored only wrapped by the secret
-- backend (bound to (domain, kid) by its own context, custos/v1/event-key:<domain>:<kid>),
-- retired_at set when a newer key takes over, and at most one active key per domain (the
-- partial unique index), even with several replicas creating one at once.
CREATE TABLE event_signing_keys (LIKE grant_signing_keys INCLUDING ALL);
