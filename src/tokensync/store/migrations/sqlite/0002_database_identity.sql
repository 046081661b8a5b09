-- tokensync schema 2 (SQLite): an identity the database itself holds, so that tokens spooled while
-- it was away find their way back however the next run spells its URL.
CREATE TABLE tokensync_database (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    database_id TEXT NOT NULL
);
INSERT INTO tokensync_database (singleton, database_id) VALUES (1, lower(hex(randomblob(16))));
