-- The audit log must outlive every schema change: reversing this migration is refused, and
-- the refusal comes first so that nothing has been touched when it is raised.
DO $$
BEGIN
  RAISE EXCEPTION 'custos: the audit log is append-only; its migration refuses to be reversed'
    USING ERRCODE = 'feature_not_supported';
END
$$;
