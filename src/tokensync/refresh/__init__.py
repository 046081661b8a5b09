"""One connection's tokens: refreshed under its lease (refresher.py) and stored for the grant it
came from (storing.py), handed to whoever needs a usable access token (token_source.py), the
outcome of a refresh (outcome.py), and the token sets a run spooled when the database was away
(spooled.py)."""
