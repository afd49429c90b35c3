DROP TABLE grant_signing_keys;
