-- Sign-in rows are bounded (security hardening, "sign-in rows never expire"): each pending
-- login attempt records the source it came from (an IPv4 address or an IPv6 /64) and when it
-- was stored, so that a source's oldest attempts can be evicted beyond a fixed number; and
-- expired attempts and expired or ended sessions are found through an index when purged.
-- Rows already stored count as one unknown source and expire as before.
ALTER TABLE login_attempts ADD COLUMN source text NOT NULL DEFAULT 'unknown';
ALTER TABLE login_attempts ADD COLUMN created_at timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX login_attempts_by_source ON login_attempts (source, created_at);
CREATE INDEX login_attempts_by_expiry ON login_attempts (expires_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
