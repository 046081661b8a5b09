"""Unit tests: pure functions and small objects, and the repository's own files (examples,
workflows, pins). No database, no tokensync process, no fixture of tests/conftest.py that opens one;
a server on loopback in a thread of the test's own process is fine. May use tests.support."""
