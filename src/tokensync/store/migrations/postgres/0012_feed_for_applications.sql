-- tokensync schema 12 (PostgreSQL): the change feed for an application's role. The role the
-- operator grants with tokensync_grant_app_role (migration 0010, docs/node.md) may now call
-- tokensync_read_changes (migration 0011), which runs as the role that migrated, as the write
-- functions do: the application reads the feed without reading user_platform_data itself.
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
