-- Browser sign-in (backend-for-frontend). Neither table holds anything a thief could use:
-- rows are keyed by SHA-256 digests of secrets that only the browser's cookies carry, and the
-- PKCE verifier, state and nonce are derived from the cookie secret when needed.
CREATE TABLE login_attempts (
  id_digest text PRIMARY KEY,
  domain text NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  return_to text NOT NULL,
  acr_values text,
  max_age integer,
  expires_at timestamptz NOT NULL
);

CREATE TABLE sessions (
  id_digest text PRIMARY KEY,
  domain text NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  subject text NOT NULL,
  acr text,
  amr text[] NOT NULL DEFAULT '{}',
  auth_time bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  ended_at timestamptz
);
CREATE INDEX sessions_subject ON sessions (domain, subject);
