-- Tenants. Admins and auditors are SpiceDB relationships; the lists are kept here too so
-- that a PUT can compute which relationships to remove.
CREATE TABLE domains (
  id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$' AND id <> 'platform'),
  issuer text NOT NULL,
  client_id text NOT NULL,
  admins text[] NOT NULL DEFAULT '{}',
  auditors text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
