-- tokensync schema 6 (SQLite): `tokens list --status S` pages by id within one status (see the
-- PostgreSQL migration of the same number).
CREATE INDEX connections_by_status ON connections (status, id);
