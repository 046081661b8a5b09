"""Helpers, not tests: the test provider (provider.py) and its payloads (payloads.py), the
PostgreSQL server (pg_server.py), processes (processes.py), a TCP proxy (tcp_proxy.py), webhook
receivers (webhook_receiver.py), hostile servers (hostile.py), the output contract (contract.py),
the feed writer (feed_writer.py), node_steps.mjs, and what every tier shares (support.py). Every
tier and bench/ may import these; they import no test module."""
