"""CLI tests: the commands (and the Python client) run in this process as a user runs them, through
the cli / run_cli fixtures of tests/conftest.py, on both engines, with strict respx or a server on
loopback in a thread. No tokensync process. May use tests.support."""
