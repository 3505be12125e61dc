-- Capstan server schema, version 1.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The site at a revision (the latest row is the current site).
CREATE TABLE IF NOT EXISTS snapshot (revision INTEGER PRIMARY KEY, json TEXT NOT NULL);
-- Every accepted batch of edits, in order.
CREATE TABLE IF NOT EXISTS changes (
  revision INTEGER PRIMARY KEY,
  ops TEXT NOT NULL,
  by_user INTEGER,
  at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
  user_id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES credentials(user_id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL
);
-- Append-only, hash-chained audit log.
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor INTEGER,
  action TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
