-- Capstan server schema, version 3: account and key hardening.

-- Ids of users removed from the site: never given to a new user (a new user must not inherit
-- a former user's password, sessions or log entries).
CREATE TABLE IF NOT EXISTS retired_users (
  user_id INTEGER PRIMARY KEY,
  retired_at TEXT NOT NULL
);

-- Service keys expire and are revoked rather than deleted (the list keeps their history).
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;

-- A disabled staff account cannot sign in.
ALTER TABLE staff ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
