-- tokensync schema 5 (PostgreSQL): when the grant itself ends (a refresh token's own lifetime:
-- `refresh_token_expires_in` of GitHub Apps, Spotify's six months), as the application saved it
-- or the latest refresh reported it. Null: the grant has no known end.
ALTER TABLE connections ADD COLUMN refresh_token_expires_at TIMESTAMPTZ;
