DROP TABLE node_secret_keys;
DROP TABLE nodes;
