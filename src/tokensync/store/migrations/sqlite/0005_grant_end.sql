-- tokensync schema 5 (SQLite): when the grant itself ends (see the PostgreSQL migration of the
-- same number). Null: the grant has no known end.
ALTER TABLE connections ADD COLUMN refresh_token_expires_at TEXT;
