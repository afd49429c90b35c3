DROP INDEX sessions_by_expiry;
DROP INDEX login_attempts_by_expiry;
DROP INDEX login_attempts_by_source;
ALTER TABLE login_attempts DROP COLUMN created_at;
ALTER TABLE login_attempts DROP COLUMN source;
