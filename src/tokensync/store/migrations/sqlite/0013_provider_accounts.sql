-- tokensync schema 13 (SQLite): the provider's id of the account behind each connection, the
-- keyed digests of Google's identifiers of its refresh token, the `revoked` status,
-- connection.revoked, the revocation deliveries seen, and the replaced grants to revoke (see the
-- PostgreSQL migration of the same number). SQLite cannot change a CHECK in place: connections and events
-- are made again with the new values, their rows, their AUTOINCREMENT counters (an id is never
-- used twice) and their indexes.
CREATE TABLE connections_new (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id                  TEXT NOT NULL,
    platform                 TEXT NOT NULL,
    access_token_enc         TEXT NOT NULL,
    refresh_token_enc        TEXT,
    token_type               TEXT NOT NULL DEFAULT 'Bearer',
    scope                    TEXT,
    expires_at               TEXT,
    status                   TEXT NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active', 'needs_reauth', 'disabled', 'revoked')),
    tokens_updated_at        TEXT NOT NULL,
    last_refreshed_at        TEXT,
    last_error_code          TEXT,
    last_error_message       TEXT,
    failure_count            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at          TEXT,
    lease_owner              TEXT,
    lease_expires_at         TEXT,
    poll_lease_owner         TEXT,
    poll_lease_expires_at    TEXT,
    next_poll_at             TEXT,
    last_sync_at             TEXT,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL,
    refresh_token_expires_at TEXT,
    streak_started_at        TEXT,
    failing_noticed_at       TEXT,
    grant_end_noticed_at     TEXT,
    grant_generation         INTEGER NOT NULL DEFAULT 1,
    lease_sent_at            TEXT,
    refresh_requested_at     TEXT,
    provider_user_id         TEXT,
    refresh_token_digest     TEXT,
    refresh_prefix_digest    TEXT,
    refresh_digest_key       TEXT,
    refresh_digest_generation INTEGER,
    UNIQUE (user_id, platform)
);
INSERT INTO connections_new (id, user_id, platform, access_token_enc, refresh_token_enc,
    token_type, scope, expires_at, status, tokens_updated_at, last_refreshed_at, last_error_code,
    last_error_message, failure_count, next_attempt_at, lease_owner, lease_expires_at,
    poll_lease_owner, poll_lease_expires_at, next_poll_at, last_sync_at, created_at, updated_at,
    refresh_token_expires_at, streak_started_at, failing_noticed_at, grant_end_noticed_at,
    grant_generation, lease_sent_at, refresh_requested_at)
SELECT id, user_id, platform, access_token_enc, refresh_token_enc,
    token_type, scope, expires_at, status, tokens_updated_at, last_refreshed_at, last_error_code,
    last_error_message, failure_count, next_attempt_at, lease_owner, lease_expires_at,
    poll_lease_owner, poll_lease_expires_at, next_poll_at, last_sync_at, created_at, updated_at,
    refresh_token_expires_at, streak_started_at, failing_noticed_at, grant_end_noticed_at,
    grant_generation, lease_sent_at, refresh_requested_at
FROM connections;
INSERT INTO sqlite_sequence (name, seq) SELECT 'connections_new', seq FROM sqlite_sequence
WHERE name = 'connections'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'connections_new');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'connections')
WHERE name = 'connections_new';
DROP TABLE connections;
ALTER TABLE connections_new RENAME TO connections;
CREATE INDEX connections_expiry ON connections (status, expires_at);
CREATE INDEX connections_platform ON connections (platform, status);
CREATE INDEX connections_refresh_due ON connections ((COALESCE(next_attempt_at, expires_at)), id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL;
CREATE INDEX connections_refresh_age ON connections (tokens_updated_at, id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL AND next_attempt_at IS NULL;
CREATE INDEX connections_poll_due ON connections (platform, (COALESCE(next_poll_at, '')), id)
    WHERE status = 'active';
CREATE INDEX connections_failing ON connections (updated_at DESC, id)
    WHERE status = 'active' AND failure_count > 0;
CREATE INDEX connections_needs_reauth ON connections (updated_at DESC, id)
    WHERE status = 'needs_reauth';
CREATE INDEX connections_by_status ON connections (status, id);
CREATE INDEX connections_streak_start ON connections (streak_started_at)
    WHERE status = 'active' AND streak_started_at IS NOT NULL AND failing_noticed_at IS NULL;
CREATE INDEX connections_grant_end ON connections (refresh_token_expires_at)
    WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL;
CREATE INDEX connections_refresh_requested ON connections (refresh_requested_at, id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL
      AND refresh_requested_at IS NOT NULL;
CREATE INDEX connections_provider_user ON connections (provider_user_id, platform)
    WHERE provider_user_id IS NOT NULL;
CREATE INDEX connections_refresh_digest ON connections (refresh_token_digest)
    WHERE refresh_token_digest IS NOT NULL;
CREATE INDEX connections_refresh_prefix_digest ON connections (refresh_prefix_digest)
    WHERE refresh_prefix_digest IS NOT NULL;
CREATE TABLE events_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT NOT NULL UNIQUE,
    seq              INTEGER UNIQUE,
    type             TEXT NOT NULL CHECK (type IN ('connection.needs_reauth',
                         'connection.recovered', 'connection.failing', 'connection.expiring',
                         'connection.disconnected', 'user.erased', 'data.changed',
                         'connection.revoked')),
    user_id          TEXT,
    connection_id    INTEGER,
    data             TEXT NOT NULL CHECK (json_valid(data)),
    created_at       TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    give_up_at       TEXT NOT NULL,
    last_attempt_at  TEXT,
    last_error       TEXT,
    delivered_at     TEXT,
    lease_owner      TEXT,
    lease_expires_at TEXT
);
INSERT INTO events_new (id, event_id, seq, type, user_id, connection_id, data, created_at, status,
    attempts, next_attempt_at, give_up_at, last_attempt_at, last_error, delivered_at,
    lease_owner, lease_expires_at)
SELECT id, event_id, seq, type, user_id, connection_id, data, created_at, status,
    attempts, next_attempt_at, give_up_at, last_attempt_at, last_error, delivered_at,
    lease_owner, lease_expires_at
FROM events;
INSERT INTO sqlite_sequence (name, seq) SELECT 'events_new', seq FROM sqlite_sequence
WHERE name = 'events' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events_new');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'events')
WHERE name = 'events_new';
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_unpublished ON events (id) WHERE seq IS NULL;
CREATE INDEX events_due ON events (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX events_stream ON events (user_id, seq) WHERE status = 'pending';
CREATE INDEX events_give_up ON events (give_up_at) WHERE status = 'pending';
CREATE INDEX events_user ON events (user_id);
CREATE INDEX events_finished ON events (created_at) WHERE status <> 'pending';
CREATE INDEX events_dead ON events (created_at) WHERE status = 'dead';
CREATE TABLE revocation_deliveries (
    source       TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
CREATE INDEX revocation_deliveries_age ON revocation_deliveries (received_at);
CREATE TABLE replaced_grants (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id     INTEGER NOT NULL,
    user_id           TEXT NOT NULL,
    platform          TEXT NOT NULL,
    access_token_enc  TEXT NOT NULL,
    refresh_token_enc TEXT NOT NULL,
    replaced_at       TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TEXT NOT NULL,
    last_error        TEXT
);
CREATE INDEX replaced_grants_due ON replaced_grants (next_attempt_at, id);
CREATE INDEX replaced_grants_connection ON replaced_grants (connection_id);
