"""`tokensync doctor`: is this deployment set up right? Each check says what it found and what
to do (report.py): the database, the schema, the keys, the spool, this host's clock
(checks.py, from the store and the settings), and each platform's client credentials and the
webhook receiver, asked over the network (probes.py)."""
