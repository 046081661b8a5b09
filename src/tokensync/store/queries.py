"""The store's SQL as named text with :named parameters, shared by both engines.

Each engine fills the few dialect fragments in braces (list membership, row locking) once, at
start-up; values only ever travel as parameters.
"""

from __future__ import annotations

CONNECTION_COLUMNS = """
    id, user_id, platform, access_token_enc, refresh_token_enc, token_type, scope, expires_at,
    status, tokens_updated_at, last_refreshed_at, last_error_code, last_error_message,
    failure_count, next_attempt_at, lease_owner, lease_expires_at, last_sync_at, created_at,
    updated_at
"""

_DUE_REFRESH = """
    status = 'active' AND refresh_token_enc IS NOT NULL
    AND ((expires_at IS NOT NULL AND expires_at <= :due_before)
         OR tokens_updated_at <= :stale_before)
    AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
    AND (lease_expires_at IS NULL OR lease_expires_at <= :now)
    AND tokens_updated_at <= :run_started
    AND (:all_platforms OR {platform_in})
    AND (:all_users OR {user_in})
"""

# Items come as parallel arrays of keys and data ({item_rows}): one statement per batch.
_UPSERT_ITEMS = """
    INSERT INTO user_platform_data (user_id, platform, endpoint, item_key, data,
        first_seen_at, fetched_at)
    SELECT :user_id, :platform, :endpoint, item_key, data, :now, :now
    FROM ({item_rows}) AS items WHERE true
    ON CONFLICT (user_id, platform, endpoint, item_key) DO UPDATE SET
        data = excluded.data, fetched_at = excluded.fetched_at
    WHERE user_platform_data.data IS DISTINCT FROM excluded.data
    RETURNING (first_seen_at = fetched_at) AS inserted
"""

_SAVE_SYNC_STATE = """
    INSERT INTO sync_state (user_id, platform, endpoint, cursor, etag, extra, last_poll_at,
        last_success_at, last_error_code)
    VALUES (:user_id, :platform, :endpoint, :cursor, :etag, :extra, :now, :now, NULL)
    ON CONFLICT (user_id, platform, endpoint) DO UPDATE SET
        cursor = excluded.cursor, etag = excluded.etag, extra = excluded.extra,
        last_poll_at = excluded.last_poll_at, last_success_at = excluded.last_success_at,
        last_error_code = NULL
"""

# A grant marked dead after spooled tokens were issued stays marked, with its error: the provider
# refused it later than that token set was made. The newer tokens are stored all the same.
_DEAD_SINCE_ISSUED = "status = 'needs_reauth' AND updated_at > :issued_at"
_APPLY_SPOOLED = """
        UPDATE connections SET
            access_token_enc = :access_token_enc,
            refresh_token_enc = COALESCE(:refresh_token_enc, refresh_token_enc),
            expires_at = :expires_at,
            tokens_updated_at = :issued_at, last_refreshed_at = :issued_at,
            last_error_code = CASE WHEN {dead_since_issued} THEN last_error_code END,
            last_error_message = CASE WHEN {dead_since_issued} THEN last_error_message END,
            failure_count = CASE WHEN {dead_since_issued} THEN failure_count ELSE 0 END,
            next_attempt_at = NULL,
            status = CASE WHEN {dead_since_issued} THEN status ELSE 'active' END,
            updated_at = :now
        WHERE id = :id AND user_id = :user_id AND platform = :platform
          AND tokens_updated_at < :issued_at
    """

QUERIES: dict[str, str] = {
    "schema_versions": "SELECT version FROM tokensync_schema ORDER BY version",
    "record_version": (
        "INSERT INTO tokensync_schema (version, applied_at) VALUES (:version, :now)"
    ),
    "upsert_connection": """
        INSERT INTO connections (
            user_id, platform, access_token_enc, refresh_token_enc, token_type, scope,
            expires_at, status, tokens_updated_at, created_at, updated_at)
        VALUES (:user_id, :platform, :access_token_enc, :refresh_token_enc, :token_type, :scope,
            :expires_at, 'active', :now, :now, :now)
        ON CONFLICT (user_id, platform) DO UPDATE SET
            access_token_enc = excluded.access_token_enc,
            refresh_token_enc = excluded.refresh_token_enc,
            token_type = excluded.token_type,
            scope = excluded.scope,
            expires_at = excluded.expires_at,
            status = 'active',
            tokens_updated_at = excluded.tokens_updated_at,
            last_error_code = NULL,
            last_error_message = NULL,
            failure_count = 0,
            next_attempt_at = NULL,
            updated_at = excluded.updated_at
        RETURNING (created_at = updated_at) AS inserted
    """,
    "list_connections": f"""
        SELECT {CONNECTION_COLUMNS} FROM connections
        WHERE id > :after_id AND (:all_platforms OR {{platform_in}}) AND (:all_users OR {{user_in}})
        ORDER BY id LIMIT :limit
    """,
    "get_connection": f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = :id",
    "find_due_refreshes": f"""
        SELECT {CONNECTION_COLUMNS} FROM connections
        WHERE id > :after_id AND {_DUE_REFRESH}
        ORDER BY id LIMIT :limit
    """,
    "claim_due_refreshes": f"""
        UPDATE connections SET lease_owner = :owner, lease_expires_at = :lease_until
        WHERE id IN (
            SELECT id FROM connections WHERE {_DUE_REFRESH}
            ORDER BY expires_at NULLS LAST, id LIMIT :limit {{skip_locked}})
        RETURNING {CONNECTION_COLUMNS}
    """,
    "claim_one": f"""
        UPDATE connections SET lease_owner = :owner, lease_expires_at = :lease_until
        WHERE id = :id AND status = 'active'
          AND (lease_owner = :owner OR lease_expires_at IS NULL OR lease_expires_at <= :now)
        RETURNING {CONNECTION_COLUMNS}
    """,
    "save_refreshed": """
        UPDATE connections SET
            access_token_enc = :access_token_enc,
            refresh_token_enc = COALESCE(:refresh_token_enc, refresh_token_enc),
            expires_at = :expires_at,
            tokens_updated_at = :now, last_refreshed_at = :now,
            last_error_code = NULL, last_error_message = NULL,
            failure_count = 0, next_attempt_at = NULL, updated_at = :now,
            lease_owner = NULL, lease_expires_at = NULL
        WHERE id = :id AND (lease_owner = :owner OR refresh_token_enc = :previous_refresh_enc)
    """,
    "apply_spooled": _APPLY_SPOOLED.replace("{dead_since_issued}", _DEAD_SINCE_ISSUED),
    "record_failure": """
        UPDATE connections SET
            last_error_code = :code, last_error_message = :message,
            failure_count = failure_count + 1, next_attempt_at = :next_attempt_at,
            updated_at = :now, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = :id AND lease_owner = :owner
        RETURNING failure_count
    """,
    "mark_needs_reauth": """
        UPDATE connections SET
            status = 'needs_reauth', last_error_code = :code, last_error_message = :message,
            failure_count = failure_count + 1, next_attempt_at = NULL, updated_at = :now,
            lease_owner = NULL, lease_expires_at = NULL
        WHERE id = :id AND lease_owner = :owner AND status = 'active'
          AND refresh_token_enc = :refresh_token_enc
    """,
    # Just before a refresh token is sent: this run still holds the lease, and the token it is
    # about to present is still the stored one. The lease is extended to cover the request.
    "confirm_lease": """
        UPDATE connections SET lease_expires_at = :lease_until
        WHERE id = :id AND lease_owner = :owner AND lease_expires_at > :now
          AND status = 'active' AND refresh_token_enc = :refresh_token_enc
    """,
    "renew_leases": """
        UPDATE connections SET lease_expires_at = :lease_until
        WHERE lease_owner = :owner AND lease_expires_at > :now AND {id_in}
        RETURNING id
    """,
    "database_id": "SELECT database_id FROM tokensync_database",
    "release": """
        UPDATE connections SET lease_owner = NULL, lease_expires_at = NULL
        WHERE lease_owner = :owner AND {id_in}
    """,
    "token_page": f"""
        SELECT {CONNECTION_COLUMNS} FROM connections WHERE id > :after_id ORDER BY id LIMIT :limit
    """,
    "replace_ciphertexts": """
        UPDATE connections SET access_token_enc = :new_access, refresh_token_enc = :new_refresh
        WHERE id = :id AND access_token_enc = :old_access
          AND refresh_token_enc IS NOT DISTINCT FROM :old_refresh
    """,
    "claim_due_polls": f"""
        UPDATE connections SET poll_lease_owner = :owner, poll_lease_expires_at = :lease_until,
            next_poll_at = :next_poll_at
        WHERE id IN (
            SELECT id FROM connections
            WHERE status = 'active' AND {{pollable_in}}
              AND (next_poll_at IS NULL OR next_poll_at <= :now)
              AND (poll_lease_expires_at IS NULL OR poll_lease_expires_at <= :now)
              AND (:all_platforms OR {{platform_in}}) AND (:all_users OR {{user_in}})
            ORDER BY next_poll_at NULLS FIRST, id LIMIT :limit {{skip_locked}})
        RETURNING {CONNECTION_COLUMNS}
    """,
    "find_due_polls": f"""
        SELECT {CONNECTION_COLUMNS} FROM connections
        WHERE id > :after_id AND status = 'active' AND {{pollable_in}}
          AND (next_poll_at IS NULL OR next_poll_at <= :now)
          AND (poll_lease_expires_at IS NULL OR poll_lease_expires_at <= :now)
          AND (:all_platforms OR {{platform_in}}) AND (:all_users OR {{user_in}})
        ORDER BY id LIMIT :limit
    """,
    "extend_poll_lease": """
        UPDATE connections SET poll_lease_expires_at = :lease_until
        WHERE id = :id AND poll_lease_owner = :owner
    """,
    "finish_poll": """
        UPDATE connections SET poll_lease_owner = NULL, poll_lease_expires_at = NULL,
            last_sync_at = CASE WHEN :success THEN :now ELSE last_sync_at END
        WHERE id = :id AND poll_lease_owner = :owner
    """,
    "release_polls": """
        UPDATE connections SET poll_lease_owner = NULL, poll_lease_expires_at = NULL,
            next_poll_at = NULL
        WHERE poll_lease_owner = :owner AND {id_in}
    """,
    "get_sync_states": """
        SELECT endpoint, cursor, etag, extra, last_poll_at, last_success_at FROM sync_state
        WHERE user_id = :user_id AND platform = :platform
    """,
    "save_sync_state": _SAVE_SYNC_STATE,
    "upsert_items": _UPSERT_ITEMS,
    # PostgreSQL only (data-modifying WITH): both of the above in one statement.
    "save_batch": "WITH stored AS ("
    + _UPSERT_ITEMS
    + "), state AS ("
    + _SAVE_SYNC_STATE
    + ") SELECT inserted FROM stored",
    "record_poll_error": """
        INSERT INTO sync_state (user_id, platform, endpoint, extra, last_poll_at, last_error_code)
        VALUES (:user_id, :platform, :endpoint, :extra, :now, :code)
        ON CONFLICT (user_id, platform, endpoint) DO UPDATE SET
            last_poll_at = excluded.last_poll_at, last_error_code = excluded.last_error_code
    """,
    "known_keys": """
        SELECT item_key FROM user_platform_data
        WHERE user_id = :user_id AND platform = :platform AND endpoint = :endpoint AND {key_in}
    """,
    "count_items": """
        SELECT endpoint, COUNT(*) AS n FROM user_platform_data
        WHERE user_id = :user_id AND platform = :platform GROUP BY endpoint ORDER BY endpoint
    """,
    "status_counts": """
        SELECT platform, status, COUNT(*) AS n FROM connections
        GROUP BY platform, status ORDER BY platform, status
    """,
    "soonest_expiries": """
        SELECT id, user_id, platform, expires_at FROM connections
        WHERE status = 'active' AND expires_at IS NOT NULL
        ORDER BY expires_at LIMIT :limit
    """,
    # Active connections whose last refresh failed (transient errors, tokens that cannot be
    # decrypted): what an operator looks at before it becomes a re-authorisation.
    "failing": """
        SELECT id, user_id, platform, last_error_code, last_error_message, failure_count,
            next_attempt_at, updated_at
        FROM connections WHERE status = 'active' AND failure_count > 0
        ORDER BY updated_at DESC, id LIMIT :limit
    """,
    "count_failing": """
        SELECT COUNT(*) AS n FROM connections WHERE status = 'active' AND failure_count > 0
    """,
    "needs_reauth": """
        SELECT id, user_id, platform, last_error_code, last_error_message, updated_at
        FROM connections WHERE status = 'needs_reauth' ORDER BY updated_at DESC, id LIMIT :limit
    """,
    "start_run": """
        INSERT INTO runs (run_id, command, started_at) VALUES (:run_id, :command, :started_at)
    """,
    "finish_run": """
        UPDATE runs SET finished_at = :finished_at, success = :success, exit_code = :exit_code,
            summary = :summary
        WHERE run_id = :run_id
    """,
    "last_runs": """
        SELECT r.run_id, r.command, r.started_at, r.finished_at, r.success, r.exit_code, r.summary
        FROM runs r
        WHERE r.id = (SELECT MAX(id) FROM runs r2 WHERE r2.command = r.command)
        ORDER BY r.command
    """,
}
