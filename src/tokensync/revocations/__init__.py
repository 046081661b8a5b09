"""Revocations the platforms push: one delivery read (delivery.py), verified and read by its
source (github.py: the `github_app_authorization` webhook), and applied once (ingest.py): the
account's connections marked `revoked` (store/revocations.py)."""
