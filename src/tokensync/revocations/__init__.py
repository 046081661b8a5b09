"""Revocations the platforms push: one delivery read (delivery.py), verified and read by its
source (github.py: the `github_app_authorization` webhook; google_risc.py: Google's security
event tokens, with google_keys.py for Google's keys and token_match.py for a refresh token Google
names), and applied once (ingest.py): the connections marked `revoked` (store/revocations.py)."""
