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
-- data.changed: a poll of a connection's endpoint changed something (store/outbox.py). SQLite
-- cannot change a CHECK in place: the events table is made again with the new type, its rows,
-- its AUTOINCREMENT counter (an id is never used twice) and its indexes.
CREATE TABLE events_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT NOT NULL UNIQUE,
    seq              INTEGER UNIQUE,
    type             TEXT NOT NULL CHECK (type IN ('connection.needs_reauth',
                         'connection.recovered', 'connection.failing', 'connection.expiring',
                         'connection.disconnected', 'user.erased', 'data.changed')),
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
