-- tokensync schema 3 (PostgreSQL): every recurring query answered from an index, so that a run
-- costs what is due, not what the table holds (a million connections with nothing due is a
-- handful of index pages, not a scan). Each partial index's WHERE is the one its query repeats.

-- Refresh, by expiry: a token expiring within the window, or a back-off that has ended. A row
-- in back-off is keyed by its next attempt (it is due again then, whatever its expiry).
CREATE INDEX connections_refresh_due ON connections ((COALESCE(next_attempt_at, expires_at)), id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL;
-- Refresh, by age: tokens not renewed for refresh_stale_after (rows in back-off are keyed above).
CREATE INDEX connections_refresh_age ON connections (tokens_updated_at, id)
    WHERE status = 'active' AND refresh_token_enc IS NOT NULL AND next_attempt_at IS NULL;
-- Polling, one platform at a time, the longest overdue first (never polled: first of all).
CREATE INDEX connections_poll_due
    ON connections (platform, (COALESCE(next_poll_at, '-infinity')), id)
    WHERE status = 'active';
-- status: the failing and the re-authorisation lists, newest first, and their counts.
CREATE INDEX connections_failing ON connections (updated_at DESC, id)
    WHERE status = 'active' AND failure_count > 0;
CREATE INDEX connections_needs_reauth ON connections (updated_at DESC, id)
    WHERE status = 'needs_reauth';
-- status: the latest run of each command.
CREATE INDEX runs_latest ON runs (command, id);
