-- Secret metadata only: the values live in the secret backend (OpenBao KV v2, or the local
-- development backend). Who may read a secret is a SpiceDB relationship, not a row here.
CREATE TABLE secrets (
  domain text NOT NULL REFERENCES domains (id),
  name text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
  version integer NOT NULL CHECK (version >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (domain, name)
);

-- Shared rate-limit counters (CUSTOS_RATE_LIMIT_STORE=postgres), so several replicas spend
-- one budget. Counters, not records: rows are overwritten each window.
CREATE TABLE rate_limit_counters (
  key text PRIMARY KEY,
  hits integer NOT NULL,
  reset_at timestamptz NOT NULL
);
