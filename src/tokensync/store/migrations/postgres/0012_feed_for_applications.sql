-- tokensync schema 12 (PostgreSQL): the items of a connection `tokens disconnect` removes stay
-- in the change feed as tombstones, deleted_reason 'disconnected'. The CHECK is replaced NOT
-- VALID: no row is read under the table's lock (every one passes it already).
ALTER TABLE user_platform_data DROP CONSTRAINT user_platform_data_deleted_reason;
ALTER TABLE user_platform_data ADD CONSTRAINT user_platform_data_deleted_reason
    CHECK (deleted_reason IN ('absent_from_snapshot', 'deleted_at_source', 'absent_after_resync',
        'disconnected')) NOT VALID;

-- The change feed for an application's role. The role the operator grants with
-- tokensync_grant_app_role (migration 0010, docs/node.md) may now call tokensync_read_changes
-- (migration 0011), which runs as the role that migrated, as the write functions do: the
-- application reads the feed without reading user_platform_data itself.
-- Roles granted before this migration get it when tokensync_grant_app_role runs for them again.
ALTER FUNCTION tokensync_read_changes(text, integer) SECURITY DEFINER;
REVOKE ALL ON FUNCTION tokensync_read_changes(text, integer) FROM PUBLIC;
-- As the other SECURITY DEFINER functions: names resolve in this schema alone, then pg_temp.
DO $$
BEGIN
    EXECUTE 'ALTER FUNCTION tokensync_read_changes(text, integer) SET search_path = '
        || quote_ident(current_schema()) || ', pg_temp';
END
$$;

CREATE OR REPLACE FUNCTION tokensync_grant_app_role(role_name TEXT)
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
        || 'TIMESTAMPTZ, TEXT, TEXT, TIMESTAMPTZ), tokensync_request_refresh(TEXT, TEXT), '
        || 'tokensync_read_changes(TEXT, INTEGER) TO ' || target;
END
$$;
