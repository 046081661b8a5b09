"""The test suite, in tiers (one directory each, see docs/development.md): unit, store, jobs,
platforms, cli and process; support holds the helpers they share. No test file sits here."""
