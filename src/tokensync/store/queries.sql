-- The store's SQL, shared by both engines; queries.py reads it at start-up.
--
-- `-- name: get_connection` starts a named query, which runs to the next such line; the code runs
-- it by that name. `-- fragment: connection_columns` starts a piece that others include as
-- {connection_columns}. Any other {name} is a dialect piece the engine supplies (`dialect` in
-- sqlite.py and postgres.py). Values are only ever :name parameters, never formatted in: braces
-- only include SQL written here or in an engine.
-- A line that starts with -- is a comment, left out of the SQL; the first under a header says what
-- the query does. No trailing semicolons: fragments go inside other statements.

-- fragment: connection_columns
-- Every column of a Connection (models.py), in its order.
id, user_id, platform, access_token_enc, refresh_token_enc, token_type, scope, expires_at,
status, tokens_updated_at, last_refreshed_at, last_error_code, last_error_message,
failure_count, next_attempt_at, lease_owner, lease_expires_at, last_sync_at, created_at,
updated_at, refresh_token_expires_at, next_poll_at, poll_lease_expires_at, streak_started_at,
grant_generation, lease_sent_at, refresh_requested_at, provider_user_id

-- fragment: refresh_digests_kept
-- The digests of the stored refresh token (token_digests.py) stay while it does; a new one makes
-- them unknown (a revocation then reads the token itself, and writes them anew).
refresh_token_digest = CASE WHEN CAST(:refresh_token_enc AS TEXT) IS NULL
                            THEN refresh_token_digest END,
refresh_prefix_digest = CASE WHEN CAST(:refresh_token_enc AS TEXT) IS NULL
                             THEN refresh_prefix_digest END

-- fragment: due_refresh
-- A connection due for a token refresh, not leased, and not refreshed already in this run: its
-- token expires within the window, it is stale, or an application asked for a refresh
-- (tokensync_request_refresh, docs/node.md).
-- :retry_before is :now, unless --force looks past every back-off (and the window) at once.
-- Whether a lease is free is the engine's {lease_free}: judged by the clock every worker shares
-- (PostgreSQL's own), and by whether its holder still lives.
status = 'active' AND refresh_token_enc IS NOT NULL
AND ((expires_at IS NOT NULL AND expires_at <= :due_before)
     OR tokens_updated_at <= :stale_before OR refresh_requested_at IS NOT NULL)
AND (next_attempt_at IS NULL OR next_attempt_at <= :retry_before)
AND {lease_free}
AND tokens_updated_at <= :run_started
AND (:all_platforms OR {platform_in})
AND (:all_users OR {user_in})

-- fragment: due_poll
-- An active connection of :platform due for polling by :due_before (never polled: first of all),
-- and not being polled, from the index connections_poll_due. :due_before is when the run started:
-- a row this run polled is due again only after that, however short poll_interval, so a run polls
-- it once. --force moves it poll_interval later: every row but those this run claimed.
status = 'active' AND platform = :platform
AND COALESCE(next_poll_at, {never}) < :due_before
AND (poll_lease_expires_at IS NULL OR poll_lease_expires_at <= :now)
AND (:all_users OR {user_in})

-- fragment: item_insert
-- Items come as parallel arrays of keys and data ({item_rows}): one statement per batch. An item
-- is stamped with the generation of the endpoint's walk (never lowered, in item_conflict: a run
-- that lost its lease must not undo a newer walk's stamp); one that comes back loses its tombstone.
INSERT INTO user_platform_data (user_id, platform, endpoint, item_key, data,
    first_seen_at, fetched_at, generation, change_txn)
SELECT :user_id, :platform, :endpoint, item_key, data, :now, :now, :generation, {change_mark}
FROM ({item_rows}) AS items

-- fragment: item_conflict
-- A row whose data changed or that came back is `touched` (its fetched_at moves); one only
-- stamped is not. A touched row takes this transaction's place in the change feed (change_txn).
ON CONFLICT (user_id, platform, endpoint, item_key) DO UPDATE SET
    data = excluded.data,
    fetched_at = CASE
        WHEN user_platform_data.data IS DISTINCT FROM excluded.data
            OR user_platform_data.deleted_at IS NOT NULL THEN excluded.fetched_at
        ELSE user_platform_data.fetched_at END,
    change_txn = CASE
        WHEN user_platform_data.data IS DISTINCT FROM excluded.data
            OR user_platform_data.deleted_at IS NOT NULL THEN excluded.change_txn
        ELSE user_platform_data.change_txn END,
    generation = {greatest}(user_platform_data.generation, excluded.generation),
    deleted_at = NULL, deleted_reason = NULL
WHERE user_platform_data.data IS DISTINCT FROM excluded.data
    OR user_platform_data.deleted_at IS NOT NULL
    OR user_platform_data.generation < excluded.generation
RETURNING (first_seen_at = fetched_at) AS inserted, (fetched_at = :now) AS touched

-- fragment: item_upsert
-- The items of a batch (SQLite needs a WHERE between a SELECT and ON CONFLICT).
{item_insert} WHERE true {item_conflict}

-- fragment: sync_state_upsert
-- A successful poll's cursor, which clears the endpoint's last error. A batch of a walk is saved
-- only while the generation stored is still the one its run started from (:walking_from): if
-- another run moved it, this one lost its lease, and touches nothing.
INSERT INTO sync_state (user_id, platform, endpoint, cursor, etag, extra, generation,
    last_poll_at, last_success_at, last_error_code)
VALUES (:user_id, :platform, :endpoint, :cursor, :etag, :extra, :generation, :now, :now, NULL)
ON CONFLICT (user_id, platform, endpoint) DO UPDATE SET
    cursor = excluded.cursor, etag = excluded.etag, extra = excluded.extra,
    generation = {greatest}(sync_state.generation, excluded.generation),
    last_poll_at = excluded.last_poll_at, last_success_at = excluded.last_success_at,
    last_error_code = NULL
WHERE :any_generation OR sync_state.generation = :walking_from

-- fragment: dead_since_issued
-- A grant marked dead after spooled tokens were issued stays marked, with its error: the provider
-- refused it later than that token set was made. The newer tokens are stored all the same.
status = 'needs_reauth' AND updated_at > :issued_at

-- name: schema_versions
-- The migrations applied, oldest first.
SELECT version FROM tokensync_schema ORDER BY version

-- name: record_version
-- Note that a migration was applied.
INSERT INTO tokensync_schema (version, applied_at) VALUES (:version, :now)

-- fragment: streak_ended
-- A refresh failure streak is over (a success, a new grant, a dead grant): the next one is new.
streak_started_at = NULL, failing_noticed_at = NULL

-- name: lock_connection
-- A connection's names, status and grant before a change that may revive it, its row held.
SELECT id, user_id, platform, status, grant_generation FROM connections
WHERE id = :id {for_update}

-- name: import_nested_loops
-- PostgreSQL only: an import's joins are a small chunk probing a unique index (postgres.py).
SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off

-- name: create_import_staging
-- The staging table of one import: rows stream in, then one UPDATE and one INSERT take them.
-- Temporary, so private to this connection; dropped at the end and by a rollback.
CREATE TEMP TABLE import_staging (
    line BIGINT NOT NULL, user_id TEXT NOT NULL, platform TEXT NOT NULL,
    access_token_enc TEXT NOT NULL, refresh_token_enc TEXT, keep_refresh BOOLEAN NOT NULL,
    token_type TEXT NOT NULL, scope TEXT, expires_at TIMESTAMPTZ,
    refresh_token_expires_at TIMESTAMPTZ, provider_user_id TEXT, refresh_token_digest TEXT,
    refresh_prefix_digest TEXT, refresh_digest_key TEXT)

-- name: create_import_seen
-- The connections an import has written so far, and the line of each: a later chunk's line that
-- names one again is refused with both line numbers.
CREATE TEMP TABLE import_seen (
    user_id TEXT NOT NULL, platform TEXT NOT NULL, line BIGINT NOT NULL,
    PRIMARY KEY (user_id, platform))

-- name: copy_import_staging
-- PostgreSQL only: the rows of an import, streamed with COPY (store.importing.STAGING_COLUMNS).
COPY import_staging (line, user_id, platform, access_token_enc, refresh_token_enc,
    keep_refresh, token_type, scope, expires_at, refresh_token_expires_at, provider_user_id,
    refresh_token_digest, refresh_prefix_digest, refresh_digest_key)
FROM STDIN

-- name: stage_import_row
-- SQLite: one staged row (executemany streams them through one prepared statement).
INSERT INTO import_staging (line, user_id, platform, access_token_enc, refresh_token_enc,
    keep_refresh, token_type, scope, expires_at, refresh_token_expires_at, provider_user_id,
    refresh_token_digest, refresh_prefix_digest, refresh_digest_key)
VALUES (:line, :user_id, :platform, :access_token_enc, :refresh_token_enc, :keep_refresh,
    :token_type, :scope, :expires_at, :refresh_token_expires_at, :provider_user_id,
    :refresh_token_digest, :refresh_prefix_digest, :refresh_digest_key)

-- name: remember_import_keys
-- The staged connections, for the duplicate check: a key already there (an earlier line of this
-- chunk, or of an earlier one) is not inserted, and the count falls short. Lines in order, so the
-- first of two is the one kept.
INSERT INTO import_seen (user_id, platform, line)
SELECT user_id, platform, line FROM import_staging WHERE true ORDER BY line
ON CONFLICT (user_id, platform) DO NOTHING

-- name: find_import_duplicate
-- Once remember_import_keys fell short: the first staged line whose connection an earlier line
-- named, and that earlier line.
SELECT seen.line AS first, s.line, s.user_id, s.platform
FROM import_staging AS s JOIN import_seen AS seen
    ON seen.user_id = s.user_id AND seen.platform = s.platform AND seen.line <> s.line
ORDER BY s.line LIMIT 1

-- name: import_recovered
-- Before import_update, in the chunk's transaction: a connection.recovered event for each staged
-- connection that exists and is not active (a dead grant connected again), in line order. Every
-- staged connection that exists is locked first (PostgreSQL), so that one marked dead meanwhile
-- is seen as such; a new connection is no recovery.
WITH existing AS MATERIALIZED (
    SELECT c.id, c.user_id, c.platform, c.status, s.line
    FROM import_staging AS s JOIN connections AS c
        ON c.user_id = s.user_id AND c.platform = s.platform
    ORDER BY c.id {for_update_of_c})
INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, status,
    attempts, next_attempt_at, give_up_at)
SELECT {new_event_id}, 'connection.recovered', user_id, id,
    {json_object}('connectionId', id, 'userId', user_id, 'platform', platform,
        'previousStatus', status),
    :now, 'pending', 0, :now, :give_up_at
FROM existing WHERE status <> 'active' ORDER BY line

-- name: import_replaced_grants
-- Before import_update: the grants the staged lines replace with another (a line with a refresh
-- token, over a stored one), on the platforms whose revocation ends that grant alone
-- (:platforms), kept to be revoked once the import is committed (refresh/old_grants.py).
INSERT INTO replaced_grants (connection_id, user_id, platform, access_token_enc,
    refresh_token_enc, replaced_at, next_attempt_at)
SELECT id, user_id, platform, access_token_enc, refresh_token_enc, :now, :now
FROM (SELECT c.id, c.user_id, c.platform, c.access_token_enc, c.refresh_token_enc
      FROM import_staging AS s JOIN connections AS c
          ON c.user_id = s.user_id AND c.platform = s.platform
      WHERE NOT s.keep_refresh AND s.refresh_token_enc IS NOT NULL
          AND c.refresh_token_enc IS NOT NULL AND c.status <> 'revoked') AS old
WHERE {platform_in}
ORDER BY id

-- name: due_replaced_grants
-- Replaced grants due for an attempt (of these connections, or all), the oldest first.
SELECT id, connection_id, user_id, platform, access_token_enc, refresh_token_enc, replaced_at,
    attempts
FROM replaced_grants
WHERE next_attempt_at <= :now AND (:all_connections OR {connection_in})
ORDER BY next_attempt_at, id LIMIT :limit

-- name: drop_replaced_grant
-- A replaced grant is done with: revoked, the same grant, or given up.
DELETE FROM replaced_grants WHERE id = :id

-- name: replaced_grant_failed
-- An attempt to revoke a replaced grant failed: the next one after :next_attempt_at.
UPDATE replaced_grants SET attempts = attempts + 1, next_attempt_at = :next_attempt_at,
    last_error = :error
WHERE id = :id

-- name: delete_replaced_grants
-- The replaced grants of a connection being deleted (disconnect, erase).
DELETE FROM replaced_grants WHERE connection_id = :id

-- name: import_update
-- Replace the tokens of the staged connections that exist and set them active again; a line
-- without refreshToken keeps the stored one, and the grant's end stored with it unless the line
-- gives one. A new grant ends any failure streak, and its end is yet to be announced (a kept
-- refresh token keeps its grant's notice, unless the line gives another end). A line with a
-- refresh token is a new grant: its generation is one more, and the lease any run holds on the
-- older grant ends (that run can store nothing of the older grant here any more). The account id a
-- line gives is stored; a line that gives none keeps the stored one with the stored grant, and
-- clears it with a new grant (a new grant may be another account's).
UPDATE connections SET
    access_token_enc = s.access_token_enc,
    refresh_token_enc = CASE WHEN s.keep_refresh THEN connections.refresh_token_enc
                             ELSE s.refresh_token_enc END,
    token_type = s.token_type,
    scope = s.scope,
    expires_at = s.expires_at,
    refresh_token_expires_at = CASE
        WHEN s.keep_refresh THEN COALESCE(s.refresh_token_expires_at,
                                          connections.refresh_token_expires_at)
        ELSE s.refresh_token_expires_at END,
    status = 'active',
    tokens_updated_at = :now,
    last_error_code = NULL,
    last_error_message = NULL,
    failure_count = 0,
    next_attempt_at = NULL,
    {streak_ended},
    grant_end_noticed_at = CASE
        WHEN s.keep_refresh AND connections.refresh_token_expires_at IS NOT DISTINCT FROM
            COALESCE(s.refresh_token_expires_at, connections.refresh_token_expires_at)
        THEN connections.grant_end_noticed_at END,
    grant_generation = CASE WHEN s.keep_refresh THEN connections.grant_generation
                            ELSE connections.grant_generation + 1 END,
    lease_owner = CASE WHEN s.keep_refresh THEN connections.lease_owner END,
    lease_expires_at = CASE WHEN s.keep_refresh THEN connections.lease_expires_at END,
    lease_sent_at = CASE WHEN s.keep_refresh THEN connections.lease_sent_at END,
    refresh_requested_at = NULL,
    provider_user_id = CASE WHEN s.keep_refresh
        THEN COALESCE(s.provider_user_id, connections.provider_user_id)
        ELSE s.provider_user_id END,
    refresh_token_digest = CASE WHEN s.keep_refresh THEN connections.refresh_token_digest
                                ELSE s.refresh_token_digest END,
    refresh_prefix_digest = CASE WHEN s.keep_refresh THEN connections.refresh_prefix_digest
                                 ELSE s.refresh_prefix_digest END,
    refresh_digest_key = CASE WHEN s.keep_refresh THEN connections.refresh_digest_key
                              ELSE s.refresh_digest_key END,
    refresh_digest_generation = CASE WHEN s.keep_refresh THEN connections.refresh_digest_generation
                                     ELSE connections.grant_generation + 1 END,
    updated_at = :now
FROM import_staging AS s
WHERE connections.user_id = s.user_id AND connections.platform = s.platform

-- name: import_insert
-- Add the staged connections that import_update did not find; for each, its unique-index
-- insertion is its only probe (one another writer added meanwhile is left out, and counted).
INSERT INTO connections (
    user_id, platform, access_token_enc, refresh_token_enc, token_type, scope,
    expires_at, refresh_token_expires_at, status, tokens_updated_at, created_at, updated_at,
    provider_user_id, refresh_token_digest, refresh_prefix_digest, refresh_digest_key,
    refresh_digest_generation)
SELECT s.user_id, s.platform, s.access_token_enc, s.refresh_token_enc, s.token_type, s.scope,
    s.expires_at, s.refresh_token_expires_at, 'active', :now, :now, :now, s.provider_user_id,
    s.refresh_token_digest, s.refresh_prefix_digest, s.refresh_digest_key, 1
FROM import_staging AS s WHERE true
ON CONFLICT (user_id, platform) DO NOTHING

-- name: clear_import_staging
-- Empty the staging table for the next chunk.
{truncate} import_staging

-- name: drop_import_staging
-- The staging table is done with (a rollback drops it too).
DROP TABLE import_staging

-- name: drop_import_seen
-- The keys of the import are done with (a rollback drops them too).
DROP TABLE import_seen

-- name: note_provider_user
-- The account id a poll learned, for the grant it polled with (a grant written meanwhile may be
-- another account's: left alone).
UPDATE connections SET provider_user_id = :provider_user_id
WHERE id = :id AND grant_generation = :grant
    AND provider_user_id IS DISTINCT FROM :provider_user_id

-- name: list_connections
-- A page of the connections matching the filters, by id (the primary key: a page costs its rows
-- and those the filters skip).
SELECT {connection_columns} FROM connections
WHERE id > :after_id AND (:all_statuses OR {status_in})
  AND (:all_platforms OR {platform_in}) AND (:all_users OR {user_in})
ORDER BY id LIMIT :limit

-- name: list_connections_by_status
-- A page of the connections of one status, by id, from connections_by_status: a rare status
-- costs its page, not a walk over every other row.
SELECT {connection_columns} FROM connections
WHERE status = :status AND id > :after_id
  AND (:all_platforms OR {platform_in}) AND (:all_users OR {user_in})
ORDER BY status, id LIMIT :limit

-- name: has_connections
-- Whether the database holds any connection (and so tokens encrypted with some key).
SELECT EXISTS (SELECT 1 FROM connections) AS present

-- name: newest_ciphertexts
-- The access-token ciphertexts of the newest connections, by the primary key: the sample a
-- keyring is checked against before anything is written: the primary key read backwards, a
-- few rows whatever the table holds (`id > 0`, every id, lets SQLite's plan say so too).
-- A revoked connection holds no token (an empty access_token_enc): not a sample.
SELECT access_token_enc FROM connections WHERE id > 0 AND access_token_enc <> ''
ORDER BY id DESC LIMIT :limit

-- name: get_connection
-- One connection by id.
SELECT {connection_columns} FROM connections WHERE id = :id

-- name: find_connection
-- One connection by its user and platform (the unique index on both): what `tokens get` reads.
SELECT {connection_columns} FROM connections WHERE user_id = :user_id AND platform = :platform

-- name: user_connections
-- Every connection of these users, any status, by id (the unique index's user_id prefix).
SELECT {connection_columns} FROM connections WHERE {user_in} ORDER BY id

-- fragment: refresh_by_expiry
-- Due for refresh by expiry, from its index: a token expiring within the window, or a row whose
-- back-off has ended (keyed by its next attempt). {due_refresh} is the whole condition; the
-- index range only narrows the scan to rows that can meet it.
SELECT id, 0 AS stream, COALESCE(next_attempt_at, expires_at) AS due FROM connections
WHERE status = 'active' AND refresh_token_enc IS NOT NULL
  AND COALESCE(next_attempt_at, expires_at) <= :due_before AND {due_refresh}

-- fragment: refresh_by_age
-- Due for refresh by age (not renewed for refresh_stale_after), from its index.
SELECT id, 1 AS stream, tokens_updated_at AS due FROM connections
WHERE status = 'active' AND refresh_token_enc IS NOT NULL AND next_attempt_at IS NULL
  AND tokens_updated_at <= :stale_before AND {due_refresh}

-- fragment: refresh_by_request
-- Due for refresh because an application asked, from its index; counted with the expiring tokens
-- (a request made at t is a token expiring at t).
SELECT id, 0 AS stream, refresh_requested_at AS due FROM connections
WHERE status = 'active' AND refresh_token_enc IS NOT NULL
  AND refresh_requested_at IS NOT NULL AND {due_refresh}

-- name: find_due_refreshes
-- A page of what claim_due_refreshes would take, without taking it (--dry-run), by id. Each page
-- reads the due rows' index ranges again: a dry run costs what is due, times its pages.
WITH due AS (
    SELECT id FROM ({refresh_by_expiry}) AS by_expiry WHERE id > :after_id
    UNION SELECT id FROM ({refresh_by_age}) AS by_age WHERE id > :after_id
    UNION SELECT id FROM ({refresh_by_request}) AS by_request WHERE id > :after_id
)
SELECT {connection_columns} FROM connections
WHERE id IN (SELECT id FROM due ORDER BY id LIMIT :limit)
ORDER BY id

-- name: claim_due_refreshes
-- Lease up to :limit connections due for refresh to :owner: by expiry, soonest first, then by
-- age. Each stream is an index scan that stops at :limit rows (skipping rows another claim holds).
WITH by_expiry AS ({refresh_by_expiry} ORDER BY due, id LIMIT :limit {skip_locked}),
by_age AS ({refresh_by_age} ORDER BY due, id LIMIT :limit {skip_locked}),
by_request AS ({refresh_by_request} ORDER BY due, id LIMIT :limit {skip_locked})
UPDATE connections SET lease_owner = :owner, lease_expires_at = {lease_until},
    lease_sent_at = NULL
WHERE id IN (
    SELECT id FROM (SELECT id, stream, due FROM by_expiry
                    UNION ALL SELECT id, stream, due FROM by_age
                    UNION ALL SELECT id, stream, due FROM by_request) AS due_rows
    ORDER BY stream, due, id LIMIT :limit)
RETURNING {connection_columns}

-- name: claim_one
-- Lease one active connection that nobody else holds (or extend :owner's own lease). A disconnect
-- leases it whatever its status (:any_status): a dead grant is still revoked and deleted.
UPDATE connections SET lease_owner = :owner, lease_expires_at = {lease_until},
    lease_sent_at = CASE WHEN lease_owner = :owner THEN lease_sent_at END
WHERE id = :id AND (:any_status OR status = 'active')
  AND (lease_owner = :owner OR {lease_free})
RETURNING {connection_columns}

-- name: save_refreshed
-- Store a new token set and end the lease, while the lease or the refresh token used still holds,
-- and only under the grant it was refreshed from: once the application wrote a newer grant, no
-- refresh of the older one is stored. A grant end the refresh reports anew is yet to be announced.
UPDATE connections SET
    access_token_enc = :access_token_enc,
    refresh_token_enc = COALESCE(:refresh_token_enc, refresh_token_enc),
    {refresh_digests_kept},
    expires_at = :expires_at,
    refresh_token_expires_at = COALESCE(:refresh_token_expires_at, refresh_token_expires_at),
    grant_end_noticed_at = CASE
        WHEN refresh_token_expires_at IS NOT DISTINCT FROM
            COALESCE(:refresh_token_expires_at, refresh_token_expires_at)
        THEN grant_end_noticed_at END,
    tokens_updated_at = :now, last_refreshed_at = :now,
    last_error_code = NULL, last_error_message = NULL,
    failure_count = 0, next_attempt_at = NULL, {streak_ended}, updated_at = :now,
    lease_owner = NULL, lease_expires_at = NULL, lease_sent_at = NULL, refresh_requested_at = NULL
WHERE id = :id AND grant_generation = :grant_generation
  AND (lease_owner = :owner OR refresh_token_enc = :previous_refresh_enc)

-- name: apply_spooled
-- Store spooled tokens unless the row got newer tokens since they were issued, or a newer grant
-- (:grant_generation, NULL in entries spooled before schema 8). The lease the spooling run held
-- ends: the outcome of its request is known now.
UPDATE connections SET
    access_token_enc = :access_token_enc,
    refresh_token_enc = COALESCE(:refresh_token_enc, refresh_token_enc),
    {refresh_digests_kept},
    expires_at = :expires_at,
    tokens_updated_at = :issued_at, last_refreshed_at = :issued_at,
    last_error_code = CASE WHEN {dead_since_issued} THEN last_error_code END,
    last_error_message = CASE WHEN {dead_since_issued} THEN last_error_message END,
    failure_count = CASE WHEN {dead_since_issued} THEN failure_count ELSE 0 END,
    next_attempt_at = NULL, {streak_ended},
    status = CASE WHEN {dead_since_issued} THEN status ELSE 'active' END,
    updated_at = :now, lease_owner = NULL, lease_expires_at = NULL, lease_sent_at = NULL,
    refresh_requested_at = NULL
WHERE id = :id AND user_id = :user_id AND platform = :platform
  AND tokens_updated_at < :issued_at
  AND (CAST(:grant_generation AS BIGINT) IS NULL OR grant_generation = :grant_generation)
RETURNING status

-- name: record_failure
-- Count a transient failure, set the back-off and end the lease; return the new count. The first
-- failure of a streak dates it.
UPDATE connections SET
    last_error_code = :code, last_error_message = :message,
    failure_count = failure_count + 1, next_attempt_at = :next_attempt_at,
    streak_started_at = COALESCE(streak_started_at, :now),
    updated_at = :now, lease_owner = NULL, lease_expires_at = NULL, lease_sent_at = NULL
WHERE id = :id AND lease_owner = :owner AND grant_generation = :grant_generation
RETURNING failure_count

-- name: mark_needs_reauth
-- Mark a dead grant, only while the refresh token stored is still the one that failed.
UPDATE connections SET
    status = 'needs_reauth', last_error_code = :code, last_error_message = :message,
    failure_count = failure_count + 1, next_attempt_at = NULL, {streak_ended}, updated_at = :now,
    lease_owner = NULL, lease_expires_at = NULL, lease_sent_at = NULL
WHERE id = :id AND lease_owner = :owner AND status = 'active'
  AND refresh_token_enc = :refresh_token_enc AND grant_generation = :grant_generation
RETURNING id, user_id, platform

-- name: confirm_lease
-- Just before a refresh token is sent: this run still holds the lease (nobody took it over, on
-- whatever clock), and the token it is about to present is still the stored one, of the same
-- grant. The lease is extended to cover the request, and the row marked sent: from now on only
-- the lease's end by the shared clock frees it, never its holder's absence.
UPDATE connections SET lease_expires_at = {lease_until}, lease_sent_at = {lease_now}
WHERE id = :id AND lease_owner = :owner AND grant_generation = :grant_generation
  AND status = 'active' AND refresh_token_enc = :refresh_token_enc

-- name: confirm_leases
-- PostgreSQL only: the lease checks of many rows (confirm_lease, each row with its own owner,
-- grant and token) as one statement, one parse and one answer for all; the ids it confirmed.
-- The same lease clock as confirm_lease's ({lease_now}: the server's).
UPDATE connections AS c
SET lease_expires_at = {lease_now} + make_interval(secs => v.lease_length),
    lease_sent_at = {lease_now}
FROM unnest(CAST(:ids AS bigint[]), CAST(:owners AS text[]), CAST(:generations AS bigint[]),
            CAST(:tokens AS text[]), CAST(:lease_lengths AS double precision[]))
  AS v(id, owner, grant_generation, refresh_token_enc, lease_length)
WHERE c.id = v.id AND c.lease_owner = v.owner AND c.grant_generation = v.grant_generation
  AND c.status = 'active' AND c.refresh_token_enc = v.refresh_token_enc
RETURNING c.id

-- name: renew_leases
-- Extend the leases :owner still holds on these connections; return the ids renewed. A lease is
-- its holder's until another takes it over: one that lapsed untaken is renewed too.
UPDATE connections SET lease_expires_at = {lease_until}
WHERE lease_owner = :owner AND {id_in}
RETURNING id

-- name: database_id
-- The identity this database holds (migration 2).
SELECT database_id FROM tokensync_database

-- name: hold_lease_owner
-- PostgreSQL only: a session advisory lock on a lease owner's name, which shows every other
-- worker that it lives (lease_free in postgres.py) until its connection ends.
SELECT pg_try_advisory_lock(hashtextextended(:owner, 0)) AS held

-- name: drop_lease_owner
-- PostgreSQL only: the lease owner is done.
SELECT pg_advisory_unlock(hashtextextended(:owner, 0)) AS dropped

-- name: database_now
-- PostgreSQL only: the server's clock, which judges every lease.
SELECT statement_timestamp() AS now

-- name: release
-- Give back the leases :owner holds on these connections.
UPDATE connections SET lease_owner = NULL, lease_expires_at = NULL, lease_sent_at = NULL
WHERE lease_owner = :owner AND {id_in}

-- fragment: user_rows
-- One user's rows of a table, of the platforms asked for (all: :all_platforms). Every table that
-- names a user has user_id first in a key: each statement is an index range.
user_id = :user_id AND (:all_platforms OR {platform_in})

-- name: count_user_rows
-- What removing a user's rows (of some platforms) would delete, per table: a dry run's receipt.
-- Items: every row (:all_items, an erase deletes them), or the live ones (a disconnect
-- tombstones those).
SELECT (SELECT COUNT(*) FROM connections WHERE {user_rows}) AS connections,
    (SELECT COUNT(*) FROM sync_state WHERE {user_rows}) AS sync_state,
    (SELECT COUNT(*) FROM user_platform_data WHERE {user_rows}
        AND (:all_items OR deleted_at IS NULL)) AS user_platform_data

-- name: delete_connection
-- Delete a connection whose lease :owner holds, while its tokens are still the ones it revoked:
-- a re-import (a user connecting again) meanwhile is a new grant, and stays.
DELETE FROM connections WHERE id = :id AND lease_owner = :owner
  AND access_token_enc = :access_token_enc
  AND refresh_token_enc IS NOT DISTINCT FROM :refresh_token_enc

-- name: delete_sync_state
-- A user's cursors (of some platforms).
DELETE FROM sync_state WHERE {user_rows}

-- name: delete_items
-- A user's polled items (of some platforms).
DELETE FROM user_platform_data WHERE {user_rows}

-- name: tombstone_disconnected
-- A user's live polled items (of some platforms) whose connection is gone become tombstones
-- ('disconnected') without data (a delete carries none), each taking this transaction's place in
-- the change feed so that a reader drops it.
UPDATE user_platform_data SET data = 'null', deleted_at = :now, deleted_reason = 'disconnected',
    change_txn = {change_mark}
WHERE {user_rows} AND deleted_at IS NULL

-- name: unstamp_items
-- Then the same items, and those tombstoned before, lose their walk's stamp: a connection made
-- again walks from generation 0, and an item it lists again must not keep an older, higher
-- stamp (a stamp is never lowered), or the end of its walk would sweep it as unseen.
UPDATE user_platform_data SET generation = 0 WHERE {user_rows} AND generation <> 0

-- name: count_user_events
-- How many events name a user (an erase's dry run), from events_user; an earlier erase's own
-- user.erased is not theirs to remove.
SELECT COUNT(*) AS n FROM events WHERE user_id = :user_id AND type <> 'user.erased'

-- name: delete_user_events
-- Every event of a user, delivered or not, but the user.erased of an erase (this one's, or an
-- earlier one's not delivered yet): an erase leaves only that.
DELETE FROM events WHERE user_id = :user_id AND type <> 'user.erased'

-- name: token_page
-- A page of connections by id, for re-encryption.
SELECT {connection_columns} FROM connections WHERE id > :after_id ORDER BY id LIMIT :limit

-- name: replace_ciphertexts
-- Swap a connection's ciphertexts for re-encrypted ones, if they are still the ones read.
UPDATE connections SET access_token_enc = :new_access, refresh_token_enc = :new_refresh
WHERE id = :id AND access_token_enc = :old_access
  AND refresh_token_enc IS NOT DISTINCT FROM :old_refresh

-- name: claim_due_polls
-- Lease up to :limit connections of :platform due for polling (their poll lease, not the token
-- lease), the longest overdue first.
UPDATE connections SET poll_lease_owner = :owner, poll_lease_expires_at = :lease_until,
    next_poll_at = :next_poll_at
WHERE id IN (
    SELECT id FROM connections WHERE {due_poll}
    ORDER BY COALESCE(next_poll_at, {never}), id LIMIT :limit {skip_locked})
RETURNING {connection_columns}

-- name: find_due_polls
-- A page of what claim_due_polls would take, without taking it (--dry-run), by id.
SELECT {connection_columns} FROM connections
WHERE id > :after_id AND {due_poll}
ORDER BY id LIMIT :limit

-- name: extend_poll_lease
-- Keep polling a connection that takes long; touches no row if the lease was lost.
UPDATE connections SET poll_lease_expires_at = :lease_until
WHERE id = :id AND poll_lease_owner = :owner

-- name: finish_polls
-- End the poll leases of a group of connections (:ids) this run holds; those whose poll
-- succeeded (:succeeded) get last_sync_at.
UPDATE connections SET poll_lease_owner = NULL, poll_lease_expires_at = NULL,
    last_sync_at = CASE WHEN {succeeded_in} THEN :now ELSE last_sync_at END
WHERE poll_lease_owner = :owner AND {id_in}

-- name: release_polls
-- Give back poll leases of connections this run claimed and never polled.
UPDATE connections SET poll_lease_owner = NULL, poll_lease_expires_at = NULL,
    next_poll_at = NULL
WHERE poll_lease_owner = :owner AND {id_in}

-- name: get_sync_states
-- The stored cursors of one connection's endpoints.
SELECT endpoint, cursor, etag, extra, generation FROM sync_state
WHERE user_id = :user_id AND platform = :platform

-- name: get_sync_states_of
-- The stored cursors of these users' connections to :platform (a claim's batch), from the
-- primary key (user_id, platform, endpoint).
SELECT user_id, endpoint, cursor, etag, extra, generation FROM sync_state
WHERE platform = :platform AND {user_in}

-- name: save_sync_state
-- Move an endpoint's cursor (SQLite: in one transaction with upsert_items).
{sync_state_upsert}

-- name: upsert_items
-- Store a page of items; one row per item inserted or changed.
{item_upsert}

-- name: save_batch
-- PostgreSQL only (a data-modifying WITH): upsert_items and save_sync_state in one statement.
WITH stored AS ({item_upsert}), state AS ({sync_state_upsert}) SELECT inserted, touched FROM stored

-- name: save_batch_announced
-- PostgreSQL only: save_batch, and the data.changed event of the poll the batch ends, in one
-- statement (store/polling.py's Announcement).
WITH stored AS ({item_upsert}), state AS ({sync_state_upsert} RETURNING 1 AS saved),
swept AS (SELECT 1 WHERE false), {data_changed_of_batch}
SELECT inserted, touched FROM stored

-- fragment: walk_batch
-- The parts of save_walk_batch. The items are stored and the walk swept only if the cursor was
-- saved, i.e. the walk is still this run's (`saved` 0: nothing was written). Every part runs on
-- the snapshot the statement began with, so the sweep cannot see this batch's own stamps: it
-- leaves the batch's keys out instead, and so never touches a row the upsert does.
state AS ({sync_state_upsert} RETURNING 1 AS saved),
stored AS ({item_insert} WHERE EXISTS (SELECT 1 FROM state) {item_conflict}),
swept AS (
    UPDATE user_platform_data SET deleted_at = :now, deleted_reason = :reason,
        change_txn = {change_mark}
    WHERE :sweeps AND EXISTS (SELECT 1 FROM state)
      AND user_id = :user_id AND platform = :platform AND endpoint = :endpoint
      AND deleted_at IS NULL AND generation <> :generation AND NOT ({key_in})
    RETURNING 1)

-- fragment: walk_batch_result
-- What save_walk_batch returns: whether the cursor was saved, how many it swept, the items.
SELECT (SELECT COUNT(*) FROM state) AS saved, (SELECT COUNT(*) FROM swept) AS swept,
    stored.inserted, stored.touched
FROM (SELECT 1) AS one LEFT JOIN stored ON true

-- name: save_walk_batch
-- PostgreSQL only: a batch of a walk (one without seen or deleted keys) in one statement, as
-- save_batch for the others.
WITH {walk_batch} {walk_batch_result}

-- name: save_walk_batch_announced
-- PostgreSQL only: save_walk_batch, and the data.changed event of the poll the batch ends.
WITH {walk_batch}, {data_changed_of_batch} {walk_batch_result}

-- fragment: data_changed_of_batch
-- The data.changed event of a poll, written by the statement of the batch that ends it if the
-- poll changed anything: the counts of its earlier batches (:earlier_*) and this batch's (the
-- rows `stored` touched, those `swept`); readUpTo the place just after this transaction's. None
-- if the cursor was refused (`state` empty): then the batch wrote nothing.
announced AS (
    INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, status,
        attempts, next_attempt_at, give_up_at)
    SELECT :event_id, :type, :user_id, :connection_id,
        {with_read_up_to_after} || jsonb_build_object(
            'added', CAST(:earlier_new AS bigint) + n.added,
            'updated', CAST(:earlier_changed AS bigint) + n.updated,
            'deleted', CAST(:earlier_deleted AS bigint) + n.deleted),
        :now, 'pending', 0, :now, :give_up_at
    FROM (SELECT COUNT(*) FILTER (WHERE touched AND inserted) AS added,
            COUNT(*) FILTER (WHERE touched AND NOT inserted) AS updated,
            (SELECT COUNT(*) FROM swept) AS deleted
        FROM stored) AS n
    WHERE EXISTS (SELECT 1 FROM state)
      AND n.added + n.updated + n.deleted
        + CAST(:earlier_new AS bigint) + CAST(:earlier_changed AS bigint)
        + CAST(:earlier_deleted AS bigint) > 0
    RETURNING 1)

-- name: record_poll_error
-- Note a failed poll of an endpoint; its cursor stays where it was.
INSERT INTO sync_state (user_id, platform, endpoint, extra, last_poll_at, last_error_code)
VALUES (:user_id, :platform, :endpoint, :extra, :now, :code)
ON CONFLICT (user_id, platform, endpoint) DO UPDATE SET
    last_poll_at = excluded.last_poll_at, last_error_code = excluded.last_error_code

-- name: known_keys
-- Which of these item keys are stored already and not tombstoned.
SELECT item_key FROM user_platform_data
WHERE user_id = :user_id AND platform = :platform AND endpoint = :endpoint AND {key_in}
  AND deleted_at IS NULL

-- name: stored_data
-- The data of these item keys, those stored and not tombstoned.
SELECT item_key, data FROM user_platform_data
WHERE user_id = :user_id AND platform = :platform AND endpoint = :endpoint AND {key_in}
  AND deleted_at IS NULL

-- name: stamp_seen
-- Count these live items as seen by the walk that is on (listed, their stored copy current).
UPDATE user_platform_data SET generation = :generation
WHERE user_id = :user_id AND platform = :platform AND endpoint = :endpoint AND {key_in}
  AND deleted_at IS NULL AND generation < :generation

-- name: tombstone_keys
-- Tombstone these items, deleted at the source; one tombstoned already keeps its first date.
UPDATE user_platform_data SET deleted_at = :now, deleted_reason = 'deleted_at_source',
    change_txn = {change_mark}
WHERE user_id = :user_id AND platform = :platform AND endpoint = :endpoint AND {key_in}
  AND deleted_at IS NULL

-- name: sweep_walk
-- A walk ended: tombstone the endpoint's live items it did not see. A range of the unique index
-- (user_id, platform, endpoint, item_key): the cost of the connection's own items.
UPDATE user_platform_data SET deleted_at = :now, deleted_reason = :reason,
        change_txn = {change_mark}
WHERE user_id = :user_id AND platform = :platform AND endpoint = :endpoint
  AND deleted_at IS NULL AND generation <> :generation

-- name: count_tombstones
-- How many tombstones are older than :before (data prune --dry-run), from the index of them.
SELECT COUNT(*) AS n FROM user_platform_data
WHERE deleted_at IS NOT NULL AND deleted_at < :before

-- name: prune_tombstones
-- Remove up to :limit tombstones older than :before, oldest first, from the index of them; the
-- feed positions of those removed (note_pruned keeps the newest).
DELETE FROM user_platform_data WHERE id IN (
    SELECT id FROM user_platform_data
    WHERE deleted_at IS NOT NULL AND deleted_at < :before
    ORDER BY deleted_at LIMIT :limit)
RETURNING {txn_text} AS txn, id

-- name: note_pruned
-- A reader still before this position would miss a removed tombstone: it has expired.
UPDATE change_feed SET pruned_txn = {txn_param}, pruned_id = :id
WHERE (pruned_txn, pruned_id) < ({txn_param}, :id)

-- name: bump_change_counter
-- SQLite only: the next writing transaction's number in the feed (one writer at a time).
UPDATE change_feed SET counter = counter + 1

-- name: change_horizon
-- Where a read of the feed may go up to, in the reader's snapshot: below every transaction still
-- running (PostgreSQL), or past the last one committed (SQLite). The newest pruned position too.
SELECT {change_horizon} AS horizon, {pruned_text} AS pruned_txn, pruned_id FROM change_feed

-- name: read_changes
-- A page of the feed after a position (change_txn, id), below the horizon: a range of the index
-- user_platform_data_changes, in its order. Filters only leave rows out of the range read.
SELECT {txn_text} AS txn, id, user_id, platform, endpoint, item_key, data, deleted_at,
    deleted_reason, fetched_at
FROM user_platform_data
WHERE (change_txn, id) > ({txn_param}, :id) AND change_txn < {horizon_param}
  AND (:all_users OR {user_in}) AND (:all_platforms OR {platform_in})
  AND (:all_endpoints OR endpoint = :endpoint)
ORDER BY change_txn, id LIMIT :limit

-- name: status_counts
-- Connections counted by platform and status.
SELECT platform, status, COUNT(*) AS n FROM connections
GROUP BY platform, status ORDER BY platform, status

-- name: soonest_expiries
-- The active connections whose access tokens expire first.
SELECT id, user_id, platform, expires_at FROM connections
WHERE status = 'active' AND expires_at IS NOT NULL
ORDER BY expires_at LIMIT :limit

-- name: failing
-- Active connections whose last refresh failed (transient errors, tokens that cannot be
-- decrypted): what an operator looks at before it becomes a re-authorisation.
SELECT id, user_id, platform, last_error_code, last_error_message, failure_count,
    next_attempt_at, updated_at
FROM connections WHERE status = 'active' AND failure_count > 0
ORDER BY updated_at DESC, id LIMIT :limit

-- name: count_failing
-- How many connections `failing` would list without its limit. Counted in the order of its index
-- (connections_failing): a bare COUNT(*) makes SQLite pick the status index and read every active
-- row.
SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM connections WHERE status = 'active' AND failure_count > 0
    ORDER BY updated_at DESC
) AS failing

-- name: grant_deaths
-- The newest first grants of these platforms that died (invalid_grant): when each connection was
-- made and when its grant was found dead (doctor: grants dying 7 days after they were made mark a
-- Google app still in "Testing"). A later grant's start is not kept, so only first grants count.
SELECT created_at, updated_at FROM connections
WHERE status = 'needs_reauth' AND last_error_code = 'invalid_grant' AND grant_generation = 1
AND {platform_in}
ORDER BY updated_at DESC, id LIMIT :limit

-- name: needs_reauth
-- Connections waiting for their user to reconnect, newest first.
SELECT id, user_id, platform, last_error_code, last_error_message, updated_at
FROM connections WHERE status = 'needs_reauth' ORDER BY updated_at DESC, id LIMIT :limit

-- name: start_run
-- Record that a job run began.
INSERT INTO runs (run_id, command, started_at) VALUES (:run_id, :command, :started_at)

-- name: finish_run
-- Record how a job run ended, with its counts.
UPDATE runs SET finished_at = :finished_at, success = :success, exit_code = :exit_code,
    summary = :summary
WHERE run_id = :run_id

-- name: last_runs
-- The latest run of each of :commands: one probe of runs_latest each, however many runs there are.
SELECT r.run_id, r.command, r.started_at, r.finished_at, r.success, r.exit_code, r.summary
FROM runs r
WHERE r.id IN (SELECT (SELECT MAX(id) FROM runs r2 WHERE r2.command = c.command)
               FROM ({commands}) AS c)
ORDER BY r.command

-- name: count_grant_ends
-- How many active grants end before :ends_before (status), from connections_grant_end.
SELECT COUNT(*) AS n FROM connections
WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL
  AND refresh_token_expires_at <= :ends_before

-- name: grant_ends
-- The active grants that end first, before :ends_before (status), from connections_grant_end.
SELECT id, user_id, platform, refresh_token_expires_at FROM connections
WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL
  AND refresh_token_expires_at <= :ends_before
ORDER BY refresh_token_expires_at, id LIMIT :limit

-- == lifecycle events ===========================================================================

-- fragment: event_columns
-- Every column of a StoredEvent (models.py), in its order.
id, seq, event_id, type, user_id, connection_id, data, created_at, status, attempts,
next_attempt_at, give_up_at, last_attempt_at, last_error, delivered_at

-- fragment: scrub_erased
-- A user.erased event holds its user id only until it is delivered or dead (docs/application.md, erasure).
user_id = CASE WHEN type = 'user.erased' THEN NULL ELSE user_id END,
data = CASE WHEN type = 'user.erased' THEN :scrubbed ELSE data END

-- name: insert_event
-- Write an event, in the transaction of the change it reports; due at once, and for the
-- delivery window.
INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, status,
    attempts, next_attempt_at, give_up_at)
VALUES (:event_id, :type, :user_id, :connection_id, :data, :now, 'pending', 0, :now,
    :give_up_at)

-- name: remember_revocation_delivery
-- A revocation's delivery, by its source's id (store/revocations.py): nothing inserted when it
-- was seen before, and then nothing else changes.
INSERT INTO revocation_deliveries (source, delivery_id, received_at)
VALUES (:source, :delivery_id, :now)
ON CONFLICT (source, delivery_id) DO NOTHING

-- name: account_connections
-- How many connections name an account (on the platforms a revocation is for).
SELECT COUNT(*) AS n FROM connections WHERE provider_user_id = :account AND {platform_in}

-- fragment: revoked
-- A connection revoked: its tokens cleared (an empty access token, no refresh token, no digest of
-- one), the grant's lease ended and its generation moved on (a refresh in flight, or a spooled
-- token set, stores nothing of it), nothing due.
status = 'revoked',
access_token_enc = '',
refresh_token_enc = NULL,
refresh_token_digest = NULL,
refresh_prefix_digest = NULL,
expires_at = NULL,
refresh_token_expires_at = NULL,
last_error_code = 'revoked',
last_error_message = :message,
failure_count = 0,
next_attempt_at = NULL,
{streak_ended},
grant_generation = grant_generation + 1,
lease_owner = NULL,
lease_expires_at = NULL,
lease_sent_at = NULL,
refresh_requested_at = NULL,
tokens_updated_at = :now,
updated_at = :now

-- name: revoke_account
-- The connections of an account (on the platforms a revocation is for) that are not revoked yet,
-- revoked; from the index connections_provider_user.
UPDATE connections SET {revoked}
WHERE provider_user_id = :account AND {platform_in} AND status <> 'revoked'
RETURNING id, user_id, platform, provider_user_id

-- name: revoke_connection
-- One connection whose refresh token a revocation named, revoked while it holds that grant.
UPDATE connections SET {revoked}
WHERE id = :id AND grant_generation = :grant_generation AND status <> 'revoked'
RETURNING id, user_id, platform, provider_user_id

-- name: find_refresh_digest
-- The connections whose stored digest (of Google's hash of the refresh token) is one of these,
-- from the index connections_refresh_digest; the caller keeps those of the current grant.
SELECT id, grant_generation, refresh_digest_generation FROM connections
WHERE {refresh_digest_in}
    AND {platform_in} AND status <> 'revoked'

-- name: find_prefix_digest
-- The same, of the refresh token's first 16 characters (connections_refresh_prefix_digest).
SELECT id, grant_generation, refresh_digest_generation FROM connections
WHERE {prefix_digest_in}
    AND {platform_in} AND status <> 'revoked'

-- name: undigested_refresh_tokens
-- A page, by id, of the connections (of these platforms) with a refresh token whose digests are
-- unknown: never written (another program wrote the token, or an older version), of an older
-- grant, or under a key no longer configured. A revocation reads these tokens themselves.
SELECT {connection_columns} FROM connections
WHERE id > :after_id AND {platform_in} AND refresh_token_enc IS NOT NULL AND status <> 'revoked'
    AND (refresh_token_digest IS NULL OR refresh_prefix_digest IS NULL
         OR refresh_digest_generation IS DISTINCT FROM grant_generation
         OR {digest_key_not_in})
ORDER BY id LIMIT :limit

-- name: note_refresh_digests
-- The digests of a refresh token read by a revocation, stored while the row still holds it.
UPDATE connections SET refresh_token_digest = :hashed, refresh_prefix_digest = :prefix,
    refresh_digest_key = :key, refresh_digest_generation = grant_generation
WHERE id = :id AND refresh_token_enc = :refresh_token_enc

-- name: insert_data_changed
-- A data.changed event (store/changes.py), its readUpTo filled in by the statement itself: the
-- change-feed place of its own transaction, after every change of the poll it reports.
INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, status,
    attempts, next_attempt_at, give_up_at)
VALUES (:event_id, :type, :user_id, :connection_id, {with_read_up_to}, :now, 'pending', 0, :now,
    :give_up_at)

-- name: insert_data_changed_after
-- A data.changed event written in the transaction of the poll's last batch (store/polling.py):
-- its readUpTo is the place just after that transaction's, past every change of the poll.
INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, status,
    attempts, next_attempt_at, give_up_at)
VALUES (:event_id, :type, :user_id, :connection_id, {with_read_up_to_after}, :now, 'pending', 0,
    :now, :give_up_at)

-- name: notice_failing
-- Announce, once a streak, the active connections whose refreshes have failed since before
-- :failing_before, from connections_streak_start. The outer conditions are checked again on the
-- row as it is when locked: a success meanwhile ended the streak.
UPDATE connections SET failing_noticed_at = :now
WHERE id IN (
    SELECT id FROM connections
    WHERE status = 'active' AND streak_started_at IS NOT NULL AND failing_noticed_at IS NULL
      AND streak_started_at <= :failing_before
    ORDER BY streak_started_at LIMIT :limit {skip_locked})
  AND status = 'active' AND failing_noticed_at IS NULL AND streak_started_at <= :failing_before
RETURNING id, user_id, platform, streak_started_at, failure_count, next_attempt_at,
    last_error_code, last_error_message

-- name: notice_expiring
-- Announce, once an end, the active grants that end before :ends_before, from
-- connections_grant_end (a range of the grants ending within expiring_within).
UPDATE connections SET grant_end_noticed_at = :now
WHERE id IN (
    SELECT id FROM connections
    WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL
      AND refresh_token_expires_at <= :ends_before AND grant_end_noticed_at IS NULL
    ORDER BY refresh_token_expires_at LIMIT :limit {skip_locked})
  AND status = 'active' AND grant_end_noticed_at IS NULL
  AND refresh_token_expires_at <= :ends_before
RETURNING id, user_id, platform, refresh_token_expires_at

-- name: lock_event_order
-- Taken before publishing: one publisher at a time, so that positions are given in the order
-- their publishers commit (SQLite's BEGIN IMMEDIATE is that lock already).
{event_order_lock}

-- name: publish_events
-- Number the events committed and not yet numbered, in the order they were written, after the
-- last number given (from events_unpublished and the seq index).
UPDATE events SET seq = numbered.seq
FROM (
    SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM events) + ROW_NUMBER() OVER (ORDER BY id) AS seq
    FROM events WHERE seq IS NULL ORDER BY id LIMIT :limit) AS numbered
WHERE events.id = numbered.id

-- name: claim_event_heads
-- Lease up to :limit events due for delivery, each the oldest pending event of its user: a user's
-- later events wait until it is delivered or dead (in order per user, so per connection). From
-- events_due, each head checked in events_stream; the outer conditions are checked again on the
-- row as it is when locked.
UPDATE events SET lease_owner = :owner, lease_expires_at = :lease_until
WHERE id IN (
    SELECT e.id FROM events e
    WHERE e.status = 'pending' AND e.next_attempt_at <= :now AND e.seq IS NOT NULL
      AND (e.lease_expires_at IS NULL OR e.lease_expires_at <= :now)
      AND NOT EXISTS (
          SELECT 1 FROM events h
          WHERE h.status = 'pending' AND h.user_id = e.user_id AND h.seq < e.seq)
    ORDER BY e.next_attempt_at, e.seq LIMIT :limit {skip_locked})
  AND status = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at <= :now)
RETURNING {event_columns}

-- name: event_delivered
-- A 2xx answered it.
UPDATE events SET status = 'delivered', delivered_at = :now, last_attempt_at = :now,
    attempts = attempts + 1, last_error = NULL, lease_owner = NULL, lease_expires_at = NULL,
    {scrub_erased}
WHERE id = :id AND lease_owner = :owner

-- name: event_failed
-- An attempt failed: try again at :next_attempt_at (give_up_events ends it past its window).
UPDATE events SET attempts = attempts + 1, last_attempt_at = :now, last_error = :error,
    next_attempt_at = :next_attempt_at, lease_owner = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_owner = :owner

-- name: release_events
-- Give back the leases of events this pass claimed and did not send.
UPDATE events SET lease_owner = NULL, lease_expires_at = NULL
WHERE lease_owner = :owner AND {id_in}

-- name: give_up_events
-- The pending events whose delivery window has passed are dead (none in flight), from
-- events_give_up.
UPDATE events SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL, {scrub_erased}
WHERE id IN (
    SELECT id FROM events WHERE status = 'pending' AND give_up_at <= :now
    ORDER BY give_up_at LIMIT :limit)
  AND status = 'pending' AND give_up_at <= :now
  AND (lease_expires_at IS NULL OR lease_expires_at <= :now)

-- name: prune_events
-- Remove up to :limit events done (delivered or dead) before :before, oldest first, from
-- events_finished.
DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE status <> 'pending' AND created_at < :before
    ORDER BY created_at LIMIT :limit)

-- name: list_events
-- A page of published events after :after, of the types asked for, from the seq index.
SELECT {event_columns} FROM events
WHERE seq > :after AND (:all_types OR {type_in})
ORDER BY seq LIMIT :limit

-- name: replay_events
-- Deliver again the events after :after (of the types asked for) that are done, each with a new
-- window; a user.erased event whose user id is gone already is not sent again.
UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = :now,
    give_up_at = :give_up_at, last_error = NULL, delivered_at = NULL,
    lease_owner = NULL, lease_expires_at = NULL
WHERE seq > :after AND status <> 'pending' AND (:all_types OR {type_in})
  AND user_id IS NOT NULL

-- name: unreplayable_events
-- The done events after :after (of the types asked for) that replay_events leaves alone: those
-- naming a user who was erased since (user.erased among them), whose user id is gone.
SELECT COUNT(*) AS n FROM events
WHERE seq > :after AND status <> 'pending' AND (:all_types OR {type_in})
  AND user_id IS NULL

-- name: event_counts
-- The events waiting for delivery and those that died (events_due, events_dead).
SELECT (SELECT COUNT(*) FROM events WHERE status = 'pending') AS pending,
    (SELECT COUNT(*) FROM events WHERE status = 'dead') AS dead

-- name: dead_events
-- The latest events that died undelivered (status), from events_dead.
SELECT {event_columns} FROM events WHERE status = 'dead'
ORDER BY created_at DESC LIMIT :limit

-- name: get_endpoint
-- What is known of a webhook endpoint.
SELECT url_key, host, disabled_at, resumes_at, last_success_at, last_failure_at, last_error
FROM webhook_endpoints WHERE url_key = :url_key

-- name: note_endpoint
-- Record how a delivery went: each time given (not null) is set; a disabling stays until
-- enable_endpoint; the error goes with its failure.
INSERT INTO webhook_endpoints (url_key, host, disabled_at, resumes_at, last_success_at,
    last_failure_at, last_error)
VALUES (:url_key, :host, :disabled_at, :resumes_at, :last_success_at, :last_failure_at,
    :last_error)
ON CONFLICT (url_key) DO UPDATE SET
    host = excluded.host,
    disabled_at = COALESCE(webhook_endpoints.disabled_at, excluded.disabled_at),
    resumes_at = COALESCE(excluded.resumes_at, webhook_endpoints.resumes_at),
    last_success_at = COALESCE(excluded.last_success_at, webhook_endpoints.last_success_at),
    last_failure_at = COALESCE(excluded.last_failure_at, webhook_endpoints.last_failure_at),
    last_error = CASE WHEN excluded.last_failure_at IS NULL THEN webhook_endpoints.last_error
        ELSE excluded.last_error END

-- name: enable_endpoint
-- Deliver to an endpoint again after it answered 410 Gone (events deliver --reenable).
UPDATE webhook_endpoints SET disabled_at = NULL, resumes_at = NULL WHERE url_key = :url_key
