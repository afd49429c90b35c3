-- Dropping stored relationships would revoke every admin, auditor, node membership and
-- reader the next time the embedded engine starts: refuse while any exist.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM authz_relationships) THEN
    RAISE EXCEPTION 'authz_relationships holds relationships; dropping it would revoke every grant'
      USING ERRCODE = '0A000';
  END IF;
END
$$;
DROP TABLE authz_relationships;
