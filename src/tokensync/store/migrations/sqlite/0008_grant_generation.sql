-- tokensync schema 8 (SQLite): the grant a row holds, and the refresh in flight (see the
-- PostgreSQL migration of the same number).
ALTER TABLE connections ADD COLUMN grant_generation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE connections ADD COLUMN lease_sent_at TEXT;
