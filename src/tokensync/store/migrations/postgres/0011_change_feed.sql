-- tokensync schema 11 (PostgreSQL): the change feed (`data changes`, store/changes.py). Every
-- change to a polled item (an insert, new content, a tombstone, a resurrection) stamps its row
-- with the id of the transaction that wrote it (change_txn); a row's position in the feed is
-- (change_txn, id). A reader only returns rows whose change_txn is below the oldest transaction
-- still running, so a transaction that commits late can never land behind a position handed out.
-- Rows stored before this migration get 0: they come first, in id order. The constant default
-- rewrites no row; the one set after it only serves rows inserted from now on.
ALTER TABLE user_platform_data ADD COLUMN change_txn xid8 NOT NULL DEFAULT '0';
ALTER TABLE user_platform_data ALTER COLUMN change_txn SET DEFAULT pg_current_xact_id();
-- A page of the feed is a range of this index: it costs what the page holds.
CREATE INDEX user_platform_data_changes ON user_platform_data (change_txn, id);
-- The newest position of a tombstone `data prune` removed: a reader still before it would miss
-- that deletion, and is told to read again from the beginning (position_expired).
CREATE TABLE change_feed (
    singleton     BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    -- SQLite numbers its writing transactions here; PostgreSQL has transaction ids (unused).
    counter       BIGINT NOT NULL DEFAULT 0,
    pruned_txn    xid8 NOT NULL,
    pruned_id     BIGINT NOT NULL
);
INSERT INTO change_feed (pruned_txn, pruned_id) VALUES ('0', 0);
-- data.changed: a poll of a connection's endpoint changed something (store/outbox.py). The CHECK
-- is replaced NOT VALID: no row is read under the table's lock (every one passes it already).
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN ('connection.needs_reauth',
    'connection.recovered', 'connection.failing', 'connection.expiring',
    'connection.disconnected', 'user.erased', 'data.changed')) NOT VALID;
