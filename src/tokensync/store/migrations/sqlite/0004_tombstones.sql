-- tokensync schema 4 (SQLite): tombstones (see the PostgreSQL migration of the same number).
ALTER TABLE user_platform_data ADD COLUMN deleted_at TEXT;
ALTER TABLE user_platform_data ADD COLUMN deleted_reason TEXT
    CHECK (deleted_reason IN ('absent_from_snapshot', 'deleted_at_source', 'absent_after_resync'));
ALTER TABLE user_platform_data ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
CREATE INDEX user_platform_data_tombstones ON user_platform_data (deleted_at)
    WHERE deleted_at IS NOT NULL;
