-- tokensync schema 13 (PostgreSQL): the provider's id of the account behind each connection
-- (providerUserId: GitHub's numeric user id, Google's `sub`), never required. NULL: not known.
ALTER TABLE connections ADD COLUMN provider_user_id TEXT;
