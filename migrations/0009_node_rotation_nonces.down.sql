DROP TABLE node_rotation_nonces;
