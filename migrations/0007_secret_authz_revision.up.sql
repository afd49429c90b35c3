-- The SpiceDB revision (ZedToken) of the latest change to who may read each secret. Every
-- replica checks reads at least as fresh as it, so a reader revoked through one replica is
-- refused on its very next read through any other: a consistency token, not eventual luck.
ALTER TABLE secrets ADD COLUMN authz_revision text;
