-- tokensync schema 7 (PostgreSQL): lifecycle events, written in the transaction of the change each
-- reports (an outbox), with their delivery state; and what tokensync knows of the webhook endpoint.

-- A refresh failure streak: when it began, and when connection.failing said so (once a streak).
-- When connection.expiring said that the grant's current end is near (once an end).
ALTER TABLE connections
    ADD COLUMN streak_started_at TIMESTAMPTZ,
    ADD COLUMN failing_noticed_at TIMESTAMPTZ,
    ADD COLUMN grant_end_noticed_at TIMESTAMPTZ;
-- A streak under way began no later than its last failure.
UPDATE connections SET streak_started_at = updated_at WHERE status = 'active' AND failure_count > 0;

-- `id` is the order of writing; `seq` the order of publishing: given under a lock, in commit
-- order, to the events committed so far (an id is taken before its transaction commits, so ids
-- can commit out of order, and a reader paging by id could step over one still in flight).
-- `user_id` orders a user's deliveries and finds their events on erasure; a user.erased event
-- has it (and its data) removed once delivered or dead.
CREATE TABLE events (
    id               BIGSERIAL PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    seq              BIGINT UNIQUE,
    type             TEXT NOT NULL CHECK (type IN ('connection.needs_reauth',
                         'connection.recovered', 'connection.failing', 'connection.expiring',
                         'connection.disconnected', 'user.erased')),
    user_id          TEXT,
    connection_id    BIGINT,
    data             JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    give_up_at       TIMESTAMPTZ NOT NULL,
    last_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    delivered_at     TIMESTAMPTZ,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ
);
-- Publishing: the events not numbered yet.
CREATE INDEX events_unpublished ON events (id) WHERE seq IS NULL;
-- Delivery: what is due, each user's oldest pending event, what has run out of time.
CREATE INDEX events_due ON events (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX events_stream ON events (user_id, seq) WHERE status = 'pending';
CREATE INDEX events_give_up ON events (give_up_at) WHERE status = 'pending';
-- Erasure: every event of a user.
CREATE INDEX events_user ON events (user_id);
-- Retention, and `status`: the events that are done, and the dead among them.
CREATE INDEX events_finished ON events (created_at) WHERE status <> 'pending';
CREATE INDEX events_dead ON events (created_at) WHERE status = 'dead';

-- The notices: streaks of failures to announce, and grants whose end nears.
CREATE INDEX connections_streak_start ON connections (streak_started_at)
    WHERE status = 'active' AND streak_started_at IS NOT NULL AND failing_noticed_at IS NULL;
CREATE INDEX connections_grant_end ON connections (refresh_token_expires_at)
    WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL;

-- The webhook endpoint, by a hash of its URL (a URL may carry a secret of its own): a 410 Gone
-- disables it, a 429 pauses it, and `status` shows how its deliveries last went.
CREATE TABLE webhook_endpoints (
    url_key          TEXT NOT NULL PRIMARY KEY,
    host             TEXT NOT NULL,
    disabled_at      TIMESTAMPTZ,
    resumes_at     TIMESTAMPTZ,
    last_success_at  TIMESTAMPTZ,
    last_failure_at  TIMESTAMPTZ,
    last_error       TEXT
);
