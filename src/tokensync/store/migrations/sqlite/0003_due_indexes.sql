-- tokensync schema 3 (SQLite): every recurring query answered from an index (see the PostgreSQL
-- migration of the same number for what each one serves). Timestamps are text here: '' sorts
-- before every time, as '-infinity' does there.
CREATE INDEX connections_refresh_due ON connections ((COALESCE(next_attempt_at, expires_at)), id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL;
CREATE INDEX connections_refresh_age ON connections (tokens_updated_at, id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL AND next_attempt_at IS NULL;
CREATE INDEX connections_poll_due ON connections (platform, (COALESCE(next_poll_at, '')), id)
    WHERE status = 'active';
CREATE INDEX connections_failing ON connections (updated_at DESC, id)
    WHERE status = 'active' AND failure_count > 0;
CREATE INDEX connections_needs_reauth ON connections (updated_at DESC, id)
    WHERE status = 'needs_reauth';
CREATE INDEX runs_latest ON runs (command, id);
