-- While it holds relationships the migration runner refuses this down (it would revoke every
-- grant the next time the embedded engine starts) unless data loss is allowed explicitly.
DROP TABLE authz_relationships;
