-- tokensync schema 4 (PostgreSQL): tombstones. A polled item the platform no longer has keeps its
-- row, with when and why it went (deleted_at, deleted_reason); live data is deleted_at IS NULL.
-- `generation` numbers an endpoint's walks over its whole list (sync_state) and says which walk
-- last saw an item (user_platform_data): the batch that ends a walk tombstones the rest.
-- Each ADD COLUMN has a constant default or none, so no row is rewritten; the CHECK is added
-- NOT VALID, so no row is read under the table's lock (every existing row is NULL there).
ALTER TABLE user_platform_data
    ADD COLUMN deleted_at TIMESTAMPTZ,
    ADD COLUMN deleted_reason TEXT,
    ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_platform_data ADD CONSTRAINT user_platform_data_deleted_reason
    CHECK (deleted_reason IN ('absent_from_snapshot', 'deleted_at_source', 'absent_after_resync'))
    NOT VALID;
ALTER TABLE sync_state ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
-- data prune: the tombstones older than a date, oldest first, without reading live rows.
CREATE INDEX user_platform_data_tombstones ON user_platform_data (deleted_at)
    WHERE deleted_at IS NOT NULL;
