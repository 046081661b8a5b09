"""Job tests: the two jobs (and the webhook delivery) called directly, in process, on a fake clock
with a mock transport or a receiver on loopback (tests/jobs/harness.py). May use tests.support."""
