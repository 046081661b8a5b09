-- tokensync schema 7 (SQLite): lifecycle events and the webhook endpoint (see the PostgreSQL
-- migration of the same number for what each column and index serves).
ALTER TABLE connections ADD COLUMN streak_started_at TEXT;
ALTER TABLE connections ADD COLUMN failing_noticed_at TEXT;
ALTER TABLE connections ADD COLUMN grant_end_noticed_at TEXT;
UPDATE connections SET streak_started_at = updated_at WHERE status = 'active' AND failure_count > 0;

CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT NOT NULL UNIQUE,
    seq              INTEGER UNIQUE,
    type             TEXT NOT NULL CHECK (type IN ('connection.needs_reauth',
                         'connection.recovered', 'connection.failing', 'connection.expiring',
                         'connection.disconnected', 'user.erased')),
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
CREATE INDEX events_unpublished ON events (id) WHERE seq IS NULL;
CREATE INDEX events_due ON events (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX events_stream ON events (user_id, seq) WHERE status = 'pending';
CREATE INDEX events_give_up ON events (give_up_at) WHERE status = 'pending';
CREATE INDEX events_user ON events (user_id);
CREATE INDEX events_finished ON events (created_at) WHERE status <> 'pending';
CREATE INDEX events_dead ON events (created_at) WHERE status = 'dead';

CREATE INDEX connections_streak_start ON connections (streak_started_at)
    WHERE status = 'active' AND streak_started_at IS NOT NULL AND failing_noticed_at IS NULL;
CREATE INDEX connections_grant_end ON connections (refresh_token_expires_at)
    WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL;

CREATE TABLE webhook_endpoints (
    url_key          TEXT NOT NULL PRIMARY KEY,
    host             TEXT NOT NULL,
    disabled_at      TEXT,
    resumes_at     TEXT,
    last_success_at  TEXT,
    last_failure_at  TEXT,
    last_error       TEXT
);
