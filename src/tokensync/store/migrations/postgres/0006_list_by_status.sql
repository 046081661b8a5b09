-- tokensync schema 6 (PostgreSQL): `tokens list --status S` pages by id within one status, so a
-- rare status (needs_reauth among a million active rows) costs its page, not a walk over the
-- primary key past every row of the other statuses.
CREATE INDEX connections_by_status ON connections (status, id);
