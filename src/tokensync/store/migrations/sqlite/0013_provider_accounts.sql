-- tokensync schema 13 (SQLite): the provider's id of the account behind each connection (see the
-- PostgreSQL migration of the same number).
ALTER TABLE connections ADD COLUMN provider_user_id TEXT;
