-- tokensync schema 1 (SQLite). Timestamps are UTC text, YYYY-MM-DDTHH:MM:SS.ffffffZ, so that they sort.
CREATE TABLE connections (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              TEXT NOT NULL,
    platform             TEXT NOT NULL,
    access_token_enc     TEXT NOT NULL,
    refresh_token_enc    TEXT,
    token_type           TEXT NOT NULL DEFAULT 'Bearer',
    scope                TEXT,
    expires_at           TEXT,
    status               TEXT NOT NULL DEFAULT 'active'
                         CHECK (status IN ('active', 'needs_reauth', 'disabled')),
    tokens_updated_at    TEXT NOT NULL,
    last_refreshed_at    TEXT,
    last_error_code      TEXT,
    last_error_message   TEXT,
    failure_count        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      TEXT,
    lease_owner          TEXT,
    lease_expires_at     TEXT,
    poll_lease_owner     TEXT,
    poll_lease_expires_at TEXT,
    next_poll_at         TEXT,
    last_sync_at         TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (user_id, platform)
);
CREATE INDEX connections_expiry ON connections (status, expires_at);
CREATE INDEX connections_platform ON connections (platform, status);

CREATE TABLE user_platform_data (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        TEXT NOT NULL,
    platform       TEXT NOT NULL,
    endpoint       TEXT NOT NULL,
    item_key       TEXT NOT NULL,
    data           TEXT NOT NULL CHECK (json_valid(data)),
    first_seen_at  TEXT NOT NULL,
    fetched_at     TEXT NOT NULL,
    UNIQUE (user_id, platform, endpoint, item_key)
);

CREATE TABLE sync_state (
    user_id          TEXT NOT NULL,
    platform         TEXT NOT NULL,
    endpoint         TEXT NOT NULL,
    cursor           TEXT,
    etag             TEXT,
    extra            TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
    last_poll_at     TEXT,
    last_success_at  TEXT,
    last_error_code  TEXT,
    PRIMARY KEY (user_id, platform, endpoint)
);

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT NOT NULL UNIQUE,
    command      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    success      INTEGER,
    exit_code    INTEGER,
    summary      TEXT CHECK (summary IS NULL OR json_valid(summary))
);
CREATE INDEX runs_command ON runs (command, started_at);
