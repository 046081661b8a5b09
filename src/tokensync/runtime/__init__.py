"""The plumbing every run and command works with: its collaborators (deps.py), the clock, the
store off the event loop (async_store.py), stopping (stop.py), the per-platform caps (limits.py),
the claim-in-batches loop (claim_loop.py), back-off, the clock skew against the database, and the
progress protocol (reportable.py)."""
