-- tokensync schema 13 (PostgreSQL): revocations the platforms push (store/revocations.py).
-- The provider's id of the account behind each connection (providerUserId: GitHub's numeric
-- user id, Google's `sub`), never required; NULL: not known. A revocation names an account, and
-- finds its connections from this index.
ALTER TABLE connections ADD COLUMN provider_user_id TEXT;
CREATE INDEX connections_provider_user ON connections (provider_user_id, platform)
    WHERE provider_user_id IS NOT NULL;
-- Google's security events name a revoked refresh token by a hash of it, or by its first 16
-- characters: keyed digests of both (token_digests.py), under the key `refresh_digest_key` names,
-- for the grant `refresh_digest_generation` (a digest of an older grant is stale), find the
-- connection from these indexes without decrypting any row.
ALTER TABLE connections ADD COLUMN refresh_token_digest TEXT;
ALTER TABLE connections ADD COLUMN refresh_prefix_digest TEXT;
ALTER TABLE connections ADD COLUMN refresh_digest_key TEXT;
ALTER TABLE connections ADD COLUMN refresh_digest_generation BIGINT;
CREATE INDEX connections_refresh_digest ON connections (refresh_token_digest)
    WHERE refresh_token_digest IS NOT NULL;
CREATE INDEX connections_refresh_prefix_digest ON connections (refresh_prefix_digest)
    WHERE refresh_prefix_digest IS NOT NULL;
-- `revoked`: the user withdrew consent at the provider (no refresh, no poll; the tokens are
-- cleared). The CHECKs are replaced NOT VALID: no row is read under the table's lock (every one
-- passes them already).
ALTER TABLE connections DROP CONSTRAINT connections_status_check;
ALTER TABLE connections ADD CONSTRAINT connections_status_check
    CHECK (status IN ('active', 'needs_reauth', 'disabled', 'revoked')) NOT VALID;
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN ('connection.needs_reauth',
    'connection.recovered', 'connection.failing', 'connection.expiring',
    'connection.disconnected', 'user.erased', 'data.changed', 'connection.revoked')) NOT VALID;
-- Each delivery of a revocation already applied, by its source's id (GitHub's X-GitHub-Delivery,
-- a security event token's jti): the same delivery again changes nothing.
CREATE TABLE revocation_deliveries (
    source       TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
CREATE INDEX revocation_deliveries_age ON revocation_deliveries (received_at);
-- A grant an import or save_grant replaced, to be revoked at the provider once the new one is
-- stored (refresh/old_grants.py): its tokens (encrypted, bound to the connection's user and
-- platform as they were), and the attempts so far. A row goes once the grant is revoked (or
-- found to be the same grant, or not revocable alone), or with its connection.
CREATE TABLE replaced_grants (
    id                BIGSERIAL PRIMARY KEY,
    connection_id     BIGINT NOT NULL,
    user_id           TEXT NOT NULL,
    platform          TEXT NOT NULL,
    access_token_enc  TEXT NOT NULL,
    refresh_token_enc TEXT NOT NULL,
    replaced_at       TIMESTAMPTZ NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TIMESTAMPTZ NOT NULL,
    last_error        TEXT
);
CREATE INDEX replaced_grants_due ON replaced_grants (next_attempt_at, id);
CREATE INDEX replaced_grants_connection ON replaced_grants (connection_id);
