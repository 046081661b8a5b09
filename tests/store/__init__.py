"""Store tests: the store called directly, on both engines (a SQLite file and the PostgreSQL the
suite starts), through the store / db_url / engine fixtures of tests/conftest.py. No command, no
process. May use tests.support."""
