-- tokensync's writes and reads for applications, on SQLite (docs/node.md). On PostgreSQL the same
-- writes are the functions tokensync_save_grant and tokensync_request_refresh (migration 0010),
-- and the read of the change feed tokensync_read_changes (0011); SQLite has none, so an
-- application runs these statements itself, with named parameters, each write in one
-- transaction that takes the write lock first (BEGIN IMMEDIATE), the feed's two reads in one
-- read transaction: database.js and changes.js do.
--
-- Times are text as tokensync writes them (2026-11-28T14:07:30.123456Z, UTC); :keep is 1 when
-- the grant brings no refresh token (the stored one is kept, and its generation), else 0.
-- `-- name: x` starts a statement, which runs to the next.

-- name: find_connection
-- Save a grant, 1: the connection, if it exists, and its status.
SELECT id, status FROM connections WHERE user_id = :user_id AND platform = :platform

-- name: insert_grant
-- Save a grant, 2 (none was found): the new connection, generation 1.
INSERT INTO connections (
    user_id, platform, access_token_enc, refresh_token_enc, token_type, scope,
    expires_at, refresh_token_expires_at, status, tokens_updated_at, created_at, updated_at)
VALUES (:user_id, :platform, :access_token_enc, :refresh_token_enc, :token_type, :scope,
    :expires_at, :refresh_token_expires_at, 'active', :now, :now, :now)
RETURNING id

-- name: recovered_event
-- Save a grant, 2 (one was found and was not active): connection.recovered into the outbox, as
-- tokensync writes it (:event_id is evt_ and 32 hex digits; :give_up_at three days after :now).
INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, status,
    attempts, next_attempt_at, give_up_at)
VALUES (:event_id, 'connection.recovered', :user_id, :id,
    json_object('connectionId', :id, 'userId', :user_id, 'platform', :platform,
        'previousStatus', :previous_status),
    :now, 'pending', 0, :now, :give_up_at)

-- name: replace_grant
-- Save a grant, 3 (one was found): the new tokens, active again. A refresh token is a new grant:
-- its generation one more, and any lease on the older grant ended (a refresh of it in flight is
-- then never stored over this one).
UPDATE connections SET
    access_token_enc = :access_token_enc,
    refresh_token_enc = CASE WHEN :keep THEN refresh_token_enc ELSE :refresh_token_enc END,
    token_type = :token_type,
    scope = :scope,
    expires_at = :expires_at,
    refresh_token_expires_at = CASE
        WHEN :keep THEN COALESCE(:refresh_token_expires_at, refresh_token_expires_at)
        ELSE :refresh_token_expires_at END,
    status = 'active',
    tokens_updated_at = :now,
    last_error_code = NULL,
    last_error_message = NULL,
    failure_count = 0,
    next_attempt_at = NULL,
    streak_started_at = NULL,
    failing_noticed_at = NULL,
    grant_end_noticed_at = CASE
        WHEN :keep AND refresh_token_expires_at IS
            COALESCE(:refresh_token_expires_at, refresh_token_expires_at)
        THEN grant_end_noticed_at END,
    grant_generation = CASE WHEN :keep THEN grant_generation ELSE grant_generation + 1 END,
    lease_owner = CASE WHEN :keep THEN lease_owner END,
    lease_expires_at = CASE WHEN :keep THEN lease_expires_at END,
    lease_sent_at = CASE WHEN :keep THEN lease_sent_at END,
    refresh_requested_at = NULL,
    updated_at = :now
WHERE id = :id
RETURNING grant_generation

-- name: request_refresh
-- Ask for a refresh: the connection is due at once, for the next run and for `tokens get`. No
-- row changed: read_token says why (none, not active, or no refresh token).
UPDATE connections SET refresh_requested_at = COALESCE(refresh_requested_at, :now)
WHERE user_id = :user_id AND platform = :platform AND status = 'active'
  AND refresh_token_enc IS NOT NULL

-- name: read_token
-- The documented columns of a connection (docs/storage-format.md).
SELECT id, user_id, platform, status, access_token_enc, token_type, scope, expires_at,
    grant_generation
FROM connections WHERE user_id = :user_id AND platform = :platform

-- name: change_horizon
-- Read the change feed, 1 (in one read transaction with 2, so that both see one snapshot): how
-- far it may be read (past the last writing transaction committed: SQLite has one writer at a
-- time) and the newest position `data prune` removed (a reader before it has expired).
SELECT counter + 1 AS horizon, pruned_txn, pruned_id FROM change_feed

-- name: read_changes
-- Read the change feed, 2: up to :limit changes after the position (:txn, :id), below
-- :horizon, in the order of the index user_platform_data_changes. One more than a page is
-- asked for, to know whether more follow.
SELECT change_txn AS txn, id, user_id, platform, endpoint, item_key, data, deleted_at,
    deleted_reason, fetched_at
FROM user_platform_data
WHERE (change_txn, id) > (:txn, :id) AND change_txn < :horizon
ORDER BY change_txn, id LIMIT :limit
