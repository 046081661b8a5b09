-- tokensync schema 10 (SQLite): an application's request for a refresh (see the PostgreSQL
-- migration of the same number). SQLite has no functions of its own: an application writes
-- through the statements of clients/node/sql/sqlite.sql (docs/node.md), each one transaction.
ALTER TABLE connections ADD COLUMN refresh_requested_at TEXT;
CREATE INDEX connections_refresh_requested ON connections (refresh_requested_at, id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL
      AND refresh_requested_at IS NOT NULL;
