"""Platform tests: each platform adapter against strict respx (tests/platforms/support.py and the
payloads of tests/support/payloads.py). No database, no process. May use tests.support."""
