-- tokensync schema 11 (SQLite): the change feed (see the PostgreSQL migration of the same
-- number). SQLite has one writer at a time, so a counter bumped by every writing transaction
-- (change_feed.counter) follows commit order: a row's position is (change_txn, id).
ALTER TABLE user_platform_data ADD COLUMN change_txn INTEGER NOT NULL DEFAULT 0;
CREATE INDEX user_platform_data_changes ON user_platform_data (change_txn, id);
CREATE TABLE change_feed (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    counter       INTEGER NOT NULL,
    pruned_txn    INTEGER NOT NULL,
    pruned_id     INTEGER NOT NULL
);
INSERT INTO change_feed (singleton, counter, pruned_txn, pruned_id) VALUES (1, 0, 0, 0);
