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
-- The feed for programs that read the database without tokensync (clients/node's readChanges):
-- SELECT tokensync_read_changes(after, max) returns the page `data changes --after AFTER --limit
-- MAX` prints, as one jsonb {changes, next, hasMore} (after NULL: from the beginning). STABLE:
-- every statement inside sees the calling query's snapshot, so the horizon and the rows agree.
-- A position older than what was pruned raises SQLSTATE TS001, message 'position_expired: ...';
-- one that is not a position raises 22023.
CREATE FUNCTION tokensync_read_changes(after text, max integer) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    start_txn xid8 := '0';
    start_id bigint := 0;
    horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
    feed change_feed%ROWTYPE;
    rows jsonb;
    more boolean;
    last_txn xid8;
    last_id bigint;
BEGIN
    IF max IS NULL OR max < 1 THEN
        RAISE EXCEPTION 'max must be at least 1' USING ERRCODE = '22023';
    END IF;
    IF after IS NOT NULL THEN
        IF after !~ '^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$' THEN
            RAISE EXCEPTION 'not a position of the change feed: %', left(after, 40)
                USING ERRCODE = '22023';
        END IF;
        start_txn := CAST(split_part(after, '-', 1) AS xid8);
        start_id := CAST(split_part(after, '-', 2) AS bigint);
        SELECT * INTO feed FROM change_feed;
        IF (start_txn, start_id) < (feed.pruned_txn, feed.pruned_id) THEN
            RAISE EXCEPTION 'position_expired: position % is older than the tombstones data prune '
                'removed: read the feed again from the beginning', after
                USING ERRCODE = 'TS001';
        END IF;
    END IF;
    WITH page AS (
        SELECT change_txn, id, user_id, platform, endpoint, item_key, data, deleted_at,
            deleted_reason, fetched_at
        FROM user_platform_data
        WHERE (change_txn, id) > (start_txn, start_id) AND change_txn < horizon
        ORDER BY change_txn, id LIMIT max + 1),
    numbered AS (SELECT page.*, row_number() OVER (ORDER BY change_txn, id) AS n FROM page)
    SELECT COALESCE(jsonb_agg(
            jsonb_build_object(
                'position', CAST(change_txn AS text) || '-' || id,
                'op', CASE WHEN deleted_at IS NULL THEN 'upsert' ELSE 'delete' END,
                'userId', user_id, 'platform', platform, 'endpoint', endpoint,
                'itemKey', item_key,
                'changedAt', to_char(COALESCE(deleted_at, fetched_at) AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
            || CASE WHEN deleted_at IS NULL THEN jsonb_build_object('data', data)
                ELSE jsonb_build_object('deletedReason', deleted_reason) END
            ORDER BY n) FILTER (WHERE n <= max), '[]'),
        COUNT(*) > max,
        (array_agg(change_txn ORDER BY n) FILTER (WHERE n <= max))[max],
        (array_agg(id ORDER BY n) FILTER (WHERE n <= max))[max]
    INTO rows, more, last_txn, last_id
    FROM numbered;
    IF NOT more THEN
        IF (horizon, 0) > (start_txn, start_id) THEN
            last_txn := horizon;
            last_id := 0;
        ELSE
            last_txn := start_txn;
            last_id := start_id;
        END IF;
    END IF;
    RETURN jsonb_build_object('changes', rows, 'next', CAST(last_txn AS text) || '-' || last_id,
        'hasMore', more);
END
$$;
