"""A refresh-tokens process killed between the dead grant and its delivery, on both engines: the
next run delivers the event, once by id. The receiver runs on loopback in a thread of the test
(tests/support/webhook_receiver.py). The events in process are tests/cli/test_events_cli.py."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.support.processes import tokensync, wait_for
from tests.support.support import CLIENT_ENV, Cli, connection, seed
from tests.support.webhook_receiver import Hooks, configure, threaded_hooks
from tokensync.store.sqlite import sqlite_path, to_text


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    with threaded_hooks() as state:
        yield state


def lapse_event_leases(db_url: str) -> int:
    """Time passes for the leases a dead run held on events: each has ended."""
    ended = datetime.now(UTC) - timedelta(seconds=1)
    sql = "UPDATE events SET lease_expires_at = {p} WHERE lease_owner IS NOT NULL"
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db, db:
            return db.execute(sql.format(p="?"), (to_text(ended),)).rowcount
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(sql.format(p="%s"), (ended,)).rowcount


def test_a_run_killed_after_the_dead_grant_has_it_delivered_by_the_next_once(
    cli: Cli, env: dict[str, str], db_url: str, tmp_path: Path, hooks: Hooks
) -> None:
    run_env = {**env, **CLIENT_ENV, **configure(tmp_path, hooks, webhook=True)}
    seed(cli, ("u1", "discord"))
    hooks.hold_next = True  # the receiver takes the event, and the run dies before its answer
    process = tokensync(["refresh-tokens"], run_env)
    try:
        wait_for(hooks.held.is_set, "the run delivers its event", timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert connection(db_url, "u1", "discord").status == "needs_reauth", "committed before"
    (first,) = hooks.attempts
    hooks.release.set()

    listed = cli("events", "list", extra_env=run_env)
    (line,) = [json.loads(text) for text in listed.out.splitlines()]
    assert line["id"] == first and line["delivery"]["status"] == "pending"

    assert lapse_event_leases(db_url) == 1  # the dead run's lease on its event
    delivered = cli("events", "deliver", extra_env=run_env)
    assert delivered.code == 0, delivered.out
    assert delivered.json["delivered"] == 1 and delivered.json["pending"] == 0
    assert hooks.attempts == [first, first], "sent again, with the same webhook-id"
    assert list(hooks.accepted) == [first] and hooks.rejected == 0
    assert hooks.accepted[first]["type"] == "connection.needs_reauth"

    status = cli("status", extra_env=run_env).json
    assert status["events"] == {"pending": 0, "dead": 0, "latestDead": []}
    assert status["webhook"]["state"] == "ok"
    assert status["webhook"]["host"] == hooks.url.removeprefix("http://")
