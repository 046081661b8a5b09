-- tokensync schema 1 (PostgreSQL).
CREATE TABLE connections (
    id                    BIGSERIAL PRIMARY KEY,
    user_id               TEXT NOT NULL,
    platform              TEXT NOT NULL,
    access_token_enc      TEXT NOT NULL,
    refresh_token_enc     TEXT,
    token_type            TEXT NOT NULL DEFAULT 'Bearer',
    scope                 TEXT,
    expires_at            TIMESTAMPTZ,
    status                TEXT NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'needs_reauth', 'disabled')),
    tokens_updated_at     TIMESTAMPTZ NOT NULL,
    last_refreshed_at     TIMESTAMPTZ,
    last_error_code       TEXT,
    last_error_message    TEXT,
    failure_count         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at       TIMESTAMPTZ,
    lease_owner           TEXT,
    lease_expires_at      TIMESTAMPTZ,
    poll_lease_owner      TEXT,
    poll_lease_expires_at TIMESTAMPTZ,
    next_poll_at          TIMESTAMPTZ,
    last_sync_at          TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, platform)
);
CREATE INDEX connections_expiry ON connections (status, expires_at);
CREATE INDEX connections_platform ON connections (platform, status);

CREATE TABLE user_platform_data (
    id             BIGSERIAL PRIMARY KEY,
    user_id        TEXT NOT NULL,
    platform       TEXT NOT NULL,
    endpoint       TEXT NOT NULL,
    item_key       TEXT NOT NULL,
    data           JSONB NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    fetched_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, platform, endpoint, item_key)
);

CREATE TABLE sync_state (
    user_id          TEXT NOT NULL,
    platform         TEXT NOT NULL,
    endpoint         TEXT NOT NULL,
    cursor           TEXT,
    etag             TEXT,
    extra            JSONB NOT NULL DEFAULT '{}',
    last_poll_at     TIMESTAMPTZ,
    last_success_at  TIMESTAMPTZ,
    last_error_code  TEXT,
    PRIMARY KEY (user_id, platform, endpoint)
);

CREATE TABLE runs (
    id           BIGSERIAL PRIMARY KEY,
    run_id       TEXT NOT NULL UNIQUE,
    command      TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    success      BOOLEAN,
    exit_code    INTEGER,
    summary      JSONB
);
CREATE INDEX runs_command ON runs (command, started_at);
