-- tokensync schema 12 (SQLite): the items of a connection `tokens disconnect` removes stay in the
-- change feed as tombstones, deleted_reason 'disconnected' (see the PostgreSQL migration of the
-- same number, which also lets an application's role read the feed). SQLite cannot change a
-- CHECK in place: user_platform_data is made again with the new one, its rows, its
-- AUTOINCREMENT counter (an id, a place in the feed, is never used twice) and its indexes.
CREATE TABLE user_platform_data_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        TEXT NOT NULL,
    platform       TEXT NOT NULL,
    endpoint       TEXT NOT NULL,
    item_key       TEXT NOT NULL,
    data           TEXT NOT NULL CHECK (json_valid(data)),
    first_seen_at  TEXT NOT NULL,
    fetched_at     TEXT NOT NULL,
    deleted_at     TEXT,
    deleted_reason TEXT CHECK (deleted_reason IN ('absent_from_snapshot', 'deleted_at_source',
                       'absent_after_resync', 'disconnected')),
    generation     INTEGER NOT NULL DEFAULT 0,
    change_txn     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, platform, endpoint, item_key)
);
INSERT INTO user_platform_data_new (id, user_id, platform, endpoint, item_key, data,
    first_seen_at, fetched_at, deleted_at, deleted_reason, generation, change_txn)
SELECT id, user_id, platform, endpoint, item_key, data, first_seen_at, fetched_at, deleted_at,
    deleted_reason, generation, change_txn
FROM user_platform_data;
INSERT INTO sqlite_sequence (name, seq) SELECT 'user_platform_data_new', seq FROM sqlite_sequence
WHERE name = 'user_platform_data'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'user_platform_data_new');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'user_platform_data')
WHERE name = 'user_platform_data_new'
  AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'user_platform_data');
DROP TABLE user_platform_data;
ALTER TABLE user_platform_data_new RENAME TO user_platform_data;
CREATE INDEX user_platform_data_tombstones ON user_platform_data (deleted_at)
    WHERE deleted_at IS NOT NULL;
CREATE INDEX user_platform_data_changes ON user_platform_data (change_txn, id);
