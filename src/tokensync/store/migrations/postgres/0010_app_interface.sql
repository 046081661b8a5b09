-- tokensync schema 10 (PostgreSQL): the interface of applications in other languages
-- (docs/node.md). An application holds the encryption keys and a database role that can call
-- these functions and read the documented columns of connections, and nothing else
-- (tokensync_grant_app_role below). The functions run as the role that migrated (SECURITY
-- DEFINER), with a search path of this schema alone, set at the end of this file.

-- When an application asked for its token to be refreshed (tokensync_request_refresh): the row is
-- due for refresh at once, for the next run and for `tokens get`, whatever its expiry. Cleared
-- by every write of new tokens. Its own partial index keeps the due queries index-backed.
ALTER TABLE connections ADD COLUMN refresh_requested_at TIMESTAMPTZ;
CREATE INDEX connections_refresh_requested ON connections (refresh_requested_at, id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL
      AND refresh_requested_at IS NOT NULL;

-- The grant an OAuth callback received, encrypted by the application (docs/storage-format.md),
-- written as TokenClient.save_grant and `tokens import` write it, in one transaction: created, or
-- replaced and active again. A refresh token makes it a new grant (its generation one more, and
-- the lease any run holds on the older grant ended: a refresh of that grant in flight is never
-- stored over it); none (NULL) keeps the stored refresh token, its grant end and its generation.
-- A connection that was not active is recovered: connection.recovered goes into the outbox.
-- Returns the connection's id, its grant generation now, and whether it was created.
CREATE FUNCTION tokensync_save_grant(
    p_user_id TEXT,
    p_platform TEXT,
    p_access_token_enc TEXT,
    p_refresh_token_enc TEXT,
    p_expires_at TIMESTAMPTZ,
    p_scope TEXT DEFAULT NULL,
    p_token_type TEXT DEFAULT 'Bearer',
    p_refresh_token_expires_at TIMESTAMPTZ DEFAULT NULL)
RETURNS TABLE (connection_id BIGINT, grant_generation BIGINT, created BOOLEAN)
LANGUAGE plpgsql SECURITY DEFINER VOLATILE
AS $$
DECLARE
    keep BOOLEAN := p_refresh_token_enc IS NULL;
    found_id BIGINT;
    found_status TEXT;
    generation BIGINT;
BEGIN
    -- The same limits as `tokens import` (connections/token_import.py), checked where the SQL can.
    IF p_user_id IS NULL OR btrim(p_user_id) = '' OR length(p_user_id) > 255
        OR p_user_id ~ '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'tokensync_save_grant: user_id must be 1 to 255 characters, no control '
            'characters' USING ERRCODE = '22023';
    END IF;
    IF p_platform IS NULL OR p_platform !~ '^[a-z][a-z0-9_]{0,63}$' THEN
        RAISE EXCEPTION 'tokensync_save_grant: platform must be a platform name such as spotify'
            USING ERRCODE = '22023';
    END IF;
    IF p_access_token_enc IS NULL OR p_access_token_enc !~ '^gAAAAA[A-Za-z0-9_=-]+$'
        OR (p_refresh_token_enc IS NOT NULL
            AND p_refresh_token_enc !~ '^gAAAAA[A-Za-z0-9_=-]+$') THEN
        RAISE EXCEPTION 'tokensync_save_grant: the tokens must be ciphertexts (Fernet tokens, '
            'docs/storage-format.md)' USING ERRCODE = '22023';
    END IF;
    IF p_token_type IS NULL OR btrim(p_token_type) = '' OR length(p_token_type) > 64
        OR p_token_type ~ '[\x01-\x1f\x7f]'
        OR length(p_scope) > 8192 OR p_scope ~ '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'tokensync_save_grant: token_type (1 to 64 characters) or scope (at '
            'most 8192) is not plain text' USING ERRCODE = '22023';
    END IF;
    LOOP
        SELECT c.id, c.status INTO found_id, found_status FROM connections AS c
        WHERE c.user_id = p_user_id AND c.platform = p_platform FOR UPDATE;
        EXIT WHEN found_id IS NOT NULL;
        INSERT INTO connections (
            user_id, platform, access_token_enc, refresh_token_enc, token_type, scope,
            expires_at, refresh_token_expires_at, status, tokens_updated_at, created_at,
            updated_at)
        VALUES (p_user_id, p_platform, p_access_token_enc, p_refresh_token_enc, p_token_type,
            p_scope, p_expires_at, p_refresh_token_expires_at, 'active', now(), now(), now())
        ON CONFLICT (user_id, platform) DO NOTHING
        RETURNING id INTO found_id;
        IF found_id IS NOT NULL THEN
            RETURN QUERY SELECT found_id, CAST(1 AS BIGINT), true;
            RETURN;
        END IF;
        -- Another writer added it meanwhile: lock and replace that row.
    END LOOP;
    IF found_status <> 'active' THEN
        -- As import_recovered in queries.sql writes it (store/outbox.py: DELIVERY_WINDOW).
        INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, status,
            attempts, next_attempt_at, give_up_at)
        VALUES ('evt_' || replace(CAST(gen_random_uuid() AS TEXT), '-', ''),
            'connection.recovered', p_user_id, found_id,
            jsonb_build_object('connectionId', found_id, 'userId', p_user_id,
                'platform', p_platform, 'previousStatus', found_status),
            now(), 'pending', 0, now(), now() + interval '3 days');
    END IF;
    -- import_update in queries.sql, for one row.
    UPDATE connections AS c SET
        access_token_enc = p_access_token_enc,
        refresh_token_enc = CASE WHEN keep THEN c.refresh_token_enc ELSE p_refresh_token_enc END,
        token_type = p_token_type,
        scope = p_scope,
        expires_at = p_expires_at,
        refresh_token_expires_at = CASE
            WHEN keep THEN COALESCE(p_refresh_token_expires_at, c.refresh_token_expires_at)
            ELSE p_refresh_token_expires_at END,
        status = 'active',
        tokens_updated_at = now(),
        last_error_code = NULL,
        last_error_message = NULL,
        failure_count = 0,
        next_attempt_at = NULL,
        streak_started_at = NULL,
        failing_noticed_at = NULL,
        grant_end_noticed_at = CASE
            WHEN keep AND c.refresh_token_expires_at IS NOT DISTINCT FROM
                COALESCE(p_refresh_token_expires_at, c.refresh_token_expires_at)
            THEN c.grant_end_noticed_at END,
        grant_generation = CASE WHEN keep THEN c.grant_generation ELSE c.grant_generation + 1 END,
        lease_owner = CASE WHEN keep THEN c.lease_owner END,
        lease_expires_at = CASE WHEN keep THEN c.lease_expires_at END,
        lease_sent_at = CASE WHEN keep THEN c.lease_sent_at END,
        refresh_requested_at = NULL,
        updated_at = now()
    WHERE c.id = found_id
    RETURNING c.grant_generation INTO generation;
    RETURN QUERY SELECT found_id, generation, false;
END
$$;

-- Make a connection due for refresh at once: the next refresh-tokens run, or a `tokens get`
-- anywhere, refreshes it first (under its lease, as every refresh). Returns what was done:
-- 'requested' (or already), 'not_found', 'needs_reauth' or 'disabled' (the user must connect
-- again), 'not_refreshable' (no refresh token stored).
CREATE FUNCTION tokensync_request_refresh(p_user_id TEXT, p_platform TEXT)
RETURNS TEXT
LANGUAGE plpgsql SECURITY DEFINER VOLATILE
AS $$
DECLARE
    found_status TEXT;
    refreshable BOOLEAN;
BEGIN
    UPDATE connections AS c SET refresh_requested_at = COALESCE(c.refresh_requested_at, now())
    WHERE c.user_id = p_user_id AND c.platform = p_platform AND c.status = 'active'
      AND c.refresh_token_enc IS NOT NULL;
    IF FOUND THEN
        RETURN 'requested';
    END IF;
    SELECT c.status, c.refresh_token_enc IS NOT NULL INTO found_status, refreshable
    FROM connections AS c WHERE c.user_id = p_user_id AND c.platform = p_platform;
    IF found_status IS NULL THEN
        RETURN 'not_found';
    ELSIF found_status <> 'active' THEN
        RETURN found_status;
    END IF;
    RETURN 'not_refreshable';
END
$$;

-- What an application's role may do, granted to `role_name` (a role the operator created:
-- docs/node.md): call the two functions above, and read the documented columns of connections
-- (docs/storage-format.md). Run by the role that migrates (it owns the tables).
CREATE FUNCTION tokensync_grant_app_role(role_name TEXT)
RETURNS VOID
LANGUAGE plpgsql SECURITY INVOKER VOLATILE
AS $$
DECLARE
    target TEXT := quote_ident(role_name);
BEGIN
    EXECUTE 'GRANT USAGE ON SCHEMA ' || quote_ident(current_schema()) || ' TO ' || target;
    EXECUTE 'GRANT SELECT (id, user_id, platform, status, access_token_enc, token_type, scope, '
        || 'expires_at, grant_generation) ON connections TO ' || target;
    EXECUTE 'GRANT EXECUTE ON FUNCTION tokensync_save_grant(TEXT, TEXT, TEXT, TEXT, '
        || 'TIMESTAMPTZ, TEXT, TEXT, TIMESTAMPTZ), tokensync_request_refresh(TEXT, TEXT) TO '
        || target;
END
$$;

-- Nobody else calls them (PostgreSQL lets every role execute a new function unless told).
REVOKE ALL ON FUNCTION tokensync_save_grant(TEXT, TEXT, TEXT, TEXT, TIMESTAMPTZ, TEXT, TEXT,
    TIMESTAMPTZ) FROM PUBLIC;
REVOKE ALL ON FUNCTION tokensync_request_refresh(TEXT, TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION tokensync_grant_app_role(TEXT) FROM PUBLIC;

-- A SECURITY DEFINER function resolves names in this schema alone, then pg_temp last: a caller
-- cannot put a table or function of its own in the way.
DO $$
DECLARE
    path TEXT := quote_ident(current_schema()) || ', pg_temp';
BEGIN
    EXECUTE 'ALTER FUNCTION tokensync_save_grant(TEXT, TEXT, TEXT, TEXT, TIMESTAMPTZ, TEXT, '
        || 'TEXT, TIMESTAMPTZ) SET search_path = ' || path;
    EXECUTE 'ALTER FUNCTION tokensync_request_refresh(TEXT, TEXT) SET search_path = ' || path;
END
$$;
