-- Capstan server schema, version 2: support access, service keys, richer audit entries.

-- The real person and support identity behind an entry, its instant in milliseconds (for
-- time filters), and the tenants it is about.
ALTER TABLE audit ADD COLUMN staff TEXT;
ALTER TABLE audit ADD COLUMN support_identifier TEXT;
ALTER TABLE audit ADD COLUMN at_ms INTEGER;
CREATE INDEX IF NOT EXISTS audit_at_ms ON audit(at_ms);
CREATE INDEX IF NOT EXISTS audit_actor ON audit(actor);
CREATE TABLE IF NOT EXISTS audit_tenant (
  seq INTEGER NOT NULL REFERENCES audit(seq),
  tenant INTEGER NOT NULL,
  PRIMARY KEY (seq, tenant)
);
CREATE INDEX IF NOT EXISTS audit_tenant_by_tenant ON audit_tenant(tenant, seq);

ALTER TABLE changes ADD COLUMN support_identifier TEXT;

-- Vendor support staff: not users of the site; a password and a TOTP secret each.
CREATE TABLE IF NOT EXISTS staff (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  fullname TEXT,
  password_hash TEXT NOT NULL,
  totp_secret TEXT NOT NULL,
  totp_last_step INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);

-- Sessions now belong to a site user, a staff account or (never) both.
CREATE TABLE IF NOT EXISTS staff_sessions (
  token_hash TEXT PRIMARY KEY,
  staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL
);

-- Service keys: backends that ask questions; they never edit.
CREATE TABLE IF NOT EXISTS api_keys (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  created_by INTEGER
);

CREATE TABLE IF NOT EXISTS support_requests (
  id INTEGER PRIMARY KEY,
  staff_id INTEGER NOT NULL REFERENCES staff(id),
  reason TEXT NOT NULL,
  scope TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'allowed', 'denied')),
  created_at TEXT NOT NULL,
  decided_by INTEGER,
  decided_at TEXT,
  note TEXT
);

CREATE TABLE IF NOT EXISTS support_grants (
  id INTEGER PRIMARY KEY,
  request_id INTEGER NOT NULL UNIQUE REFERENCES support_requests(id),
  staff_id INTEGER NOT NULL REFERENCES staff(id),
  identifier TEXT NOT NULL UNIQUE,
  user_id INTEGER NOT NULL,
  role_id INTEGER NOT NULL,
  scope TEXT NOT NULL,
  granted_by INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  expires_ms INTEGER NOT NULL,
  revoked_at TEXT,
  -- The temporary user has been deleted from the site (after expiry or revoke).
  user_removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS support_grants_open ON support_grants(user_removed, expires_ms);
