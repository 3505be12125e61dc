-- Capstan server schema, version 4: checkpoints.

-- The site at a revision, so that a start loads the newest checkpoint and replays only the
-- batches after it (the `changes` history stays whole for /changes and the audit). `data` is
-- the capstan/1 snapshot in `format` ("capstan/1+deflate": the JSON, deflate-compressed).
CREATE TABLE IF NOT EXISTS checkpoints (
  revision INTEGER PRIMARY KEY,
  format TEXT NOT NULL,
  data BLOB NOT NULL,
  written_at TEXT NOT NULL
);

-- The client's key of a batch (idempotency: a batch sent again is applied once).
ALTER TABLE changes ADD COLUMN batch_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS changes_batch_id ON changes (batch_id) WHERE batch_id IS NOT NULL;
