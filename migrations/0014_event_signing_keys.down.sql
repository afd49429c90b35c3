-- Refused by the migration runner while the table holds keys (nodes pin them), unless data
-- loss is allowed explicitly.
DROP TABLE event_signing_keys;
