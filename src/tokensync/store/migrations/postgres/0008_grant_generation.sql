-- tokensync schema 8 (PostgreSQL): which grant a row holds, and whether a refresh of it is in
-- flight.
-- grant_generation counts the grants the application wrote (tokens import, save_grant): one that
-- brings a refresh token adds one. Every write of refreshed tokens names the generation it was
-- refreshed from, so a refresh of an older grant can never overwrite a newer one.
-- lease_sent_at: when the lease holder sent the row's refresh token (set by the check just before
-- sending, cleared when the outcome is written). A lease whose holder is gone is taken over at
-- once while nothing was sent; a sent row keeps its lease until it lapses by the database's clock.
ALTER TABLE connections ADD COLUMN grant_generation BIGINT NOT NULL DEFAULT 1;
ALTER TABLE connections ADD COLUMN lease_sent_at TIMESTAMPTZ;
