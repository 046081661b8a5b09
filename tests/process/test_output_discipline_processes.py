"""One JSON document on stdout whatever happens (issue 14), tokensync run as a program: stderr
closed, stdout full, a reader that leaves early, a signal in the middle of an import. The same
discipline in process is tests/cli/test_output_discipline.py."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.support.contract import check_output
from tests.support.support import Cli, query_value, seed
from tokensync.store.sqlite import sqlite_path

ROOT = Path(__file__).resolve().parents[2]


def process_env(env: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}
    out["PYTHONPATH"] = str(ROOT)
    return out


def shell(command: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run tokensync through bash, so that redirections such as 2>&- apply to it."""
    return subprocess.run(
        ["bash", "-c", command],
        input=stdin,
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


TOKENSYNC = f"{sys.executable} -m tokensync"


def one_document(stdout: str, args: str) -> dict[str, object]:
    """The one document of `tokensync ARGS`, checked against its schema."""
    document: dict[str, object] = json.loads(stdout)
    assert stdout.count("\n") == 1, "exactly one line: one document"
    check_output(args.split(), stdout)
    return document


@pytest.mark.parametrize(
    "args", ["refresh-tokens", "poll-platforms", "status", "tokens import", "-v refresh-tokens"]
)
def test_a_closed_stderr_changes_nothing(env: dict[str, str], args: str) -> None:
    line = '{"userId": "u", "platform": "github", "accessToken": "a"}'
    done = shell(f"{TOKENSYNC} {args} 2>&-", env, stdin=line)
    assert done.returncode == 0, done.stdout
    assert one_document(done.stdout, args)["success"] is True


# A bug, simulated: the traceback -v asks for goes to stderr, and nowhere if stderr is closed.
_BROKEN = (
    "import tokensync.connections.status as s, tokensync.cli.main as c\n"
    "def boom(*args, **kw): raise RuntimeError('a bug')\n"
    "s.read_status = boom\n"
    "import sys; sys.argv[0] = 'tokensync'; c.run()\n"
)


@pytest.mark.parametrize("stderr", ["2>&-", "2>/dev/null", ""])
def test_a_bug_with_v_never_puts_a_traceback_on_stdout(env: dict[str, str], stderr: str) -> None:
    done = shell(f'{sys.executable} -c "{_BROKEN}" -v status {stderr}', env)
    assert done.returncode == 1
    document = one_document(done.stdout, "status")
    assert document["error"] == {
        "code": "internal_error",
        "message": "unexpected RuntimeError; run with -v for the traceback",
    }
    if not stderr:
        assert "Traceback" in done.stderr and "RuntimeError: a bug" in done.stderr


@pytest.mark.parametrize(
    "args", ["status", "tokens list", "tokens import", "--version", "keys generate"]
)
def test_a_full_stdout_is_said_on_stderr(env: dict[str, str], args: str) -> None:
    line = '{"userId": "u", "platform": "github", "accessToken": "a"}'
    done = shell(f"{TOKENSYNC} {args} > /dev/full", env, stdin=line)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "tokensync: cannot write to stdout: No space left on device; the output is lost"
    ]


def test_a_reader_that_leaves_early(cli: Cli, env: dict[str, str]) -> None:
    seed(cli, *[(f"u{i}", "github") for i in range(3000)])
    done = shell(f"{TOKENSYNC} tokens list | head -c 100 > /dev/null; echo ${{PIPESTATUS[0]}}", env)
    assert done.stdout.strip() == "1"
    assert "Traceback" not in done.stderr and "cannot write to stdout" in done.stderr


def import_is_open(db_url: str) -> Callable[[], bool]:
    """Whether an import's transaction is open in the database (it holds the write lock)."""
    if db_url.startswith("sqlite"):
        import sqlite3

        def locked() -> bool:
            db = sqlite3.connect(sqlite_path(db_url), timeout=0)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                db.close()

        return locked

    def open_transaction() -> bool:
        with psycopg.connect(db_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tokensync' "
                "AND xact_start IS NOT NULL AND datname = current_database()"
            ).fetchone()
        return bool(row and row[0])

    return open_transaction


def wait_for(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.05)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_an_import_writes_nothing(
    cli: Cli, env: dict[str, str], db_url: str, sig: signal.Signals, code: int
) -> None:
    seed(cli, ("before", "github"))
    process = subprocess.Popen(
        [sys.executable, "-m", "tokensync", "tokens", "import"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=process_env(env),
    )
    assert process.stdin is not None
    lines = "".join(
        f'{{"userId": "u{i}", "platform": "github", "accessToken": "a{i}"}}\n' for i in range(6000)
    )
    process.stdin.write(lines.encode())  # more than a chunk: some of it is in the database
    process.stdin.flush()
    wait_for(import_is_open(db_url), "the import's transaction")
    time.sleep(0.2)  # the first chunk is being written
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    document = one_document(out.decode(), "tokens import")
    assert document["success"] is False and document["timestamp"]
    assert document["error"] == {
        "code": "interrupted",
        "message": f"stopped by {sig.name} before the import was committed: nothing was imported",
    }
    assert b"Traceback" not in err
    assert query_value(db_url, "SELECT count(*) FROM connections") == 1
