"""One JSON document on stdout whatever happens (issue 14): stderr closed, stdout full, a signal
in the middle of an import, a listing cut short, and error documents that are dated."""

from __future__ import annotations

import json
import os
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
from tokensync.errors import Interrupted, StorageError
from tokensync.store.base import Store
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


# -- stderr closed, stdout full -------------------------------------------------------------------


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
    "import tokensync.connections.status as s, tokensync.cli.app as c\n"
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


# -- signals during an import ---------------------------------------------------------------------


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


# -- a listing cut short --------------------------------------------------------------------------


@pytest.fixture
def failing_second_page(monkeypatch: pytest.MonkeyPatch) -> Callable[[BaseException], None]:
    """Pages of two rows; the second page fails with the given exception."""
    defaults = dict(Store.iter_connections.__kwdefaults__ or {})
    monkeypatch.setattr(Store.iter_connections, "__kwdefaults__", {**defaults, "page": 2})
    original = Store.connection_page

    def arm(failure: BaseException) -> None:
        calls = []

        def page(self: Store, *args: object) -> object:
            calls.append(args)
            if len(calls) == 2:
                raise failure
            return original(self, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(Store, "connection_page", page)

    return arm


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_listing_cut_by_the_database_stays_well_formed_and_says_so(
    cli: Cli, failing_second_page: Callable[[BaseException], None], fmt: str
) -> None:
    seed(cli, ("a", "github"), ("b", "github"), ("c", "github"))
    failing_second_page(StorageError("PostgreSQL: server closed the connection unexpectedly"))
    result = cli("tokens", "list", "--format", fmt)
    assert result.code == 3
    if fmt == "json":
        assert [r["userId"] for r in json.loads(result.out)] == ["a", "b"]
    else:
        assert [json.loads(line)["userId"] for line in result.out.splitlines()] == ["a", "b"]
    assert result.err.strip().splitlines() == [
        "tokensync: tokens list was cut short after 2 row(s) (database_error: PostgreSQL: "
        "server closed the connection unexpectedly); the output is incomplete"
    ]


def test_a_listing_cut_by_a_signal(
    cli: Cli, failing_second_page: Callable[[BaseException], None]
) -> None:
    seed(cli, ("a", "github"), ("b", "github"), ("c", "github"))
    failing_second_page(Interrupted(signal.SIGTERM))
    result = cli("tokens", "list")
    assert result.code == 143
    assert len(json.loads(result.out)) == 2
    assert "stopped by SIGTERM" in result.err


def test_a_listing_that_fails_before_its_first_row_is_an_error_document(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(cli, ("a", "github"))

    def gone(self: Store, *args: object) -> object:
        raise StorageError("SQLite (tokensync.db): disk I/O error")

    monkeypatch.setattr(Store, "connection_page", gone)
    result = cli("tokens", "list")
    assert result.code == 3
    assert result.json["error"]["code"] == "database_error" and result.json["timestamp"]


# -- error documents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "cron_type"),
    [
        (("refresh-tokens", "--window", "soon"), 2, "token-refresh"),
        (("refresh-tokens", "--bogus"), 2, "token-refresh"),
        (("poll-platforms", "--results", "most"), 2, "platform-polling"),
        (("poll-platforms", "--ping-url", "ftp://hc/uuid-secret"), 2, "platform-polling"),
        (("refresh-tokens", "--max-duration", "99999999999d"), 2, "token-refresh"),
        (("status", "--format", "xml"), 2, None),
        (("tokens", "list", "--status", "asleep"), 2, None),
        (("tokens", "list", "--format", "csv"), 2, None),
        (("tokens", "list", "--limit", "0"), 2, None),
        (("nonsense",), 2, None),
    ],
)
def test_error_documents_are_dated_and_name_their_job(
    cli: Cli, args: tuple[str, ...], code: int, cron_type: str | None
) -> None:
    result = cli(*args)
    assert result.code == code, result.out
    document = result.json
    assert document["success"] is False and document["error"]["code"]
    assert document["timestamp"].endswith("Z") and len(document["timestamp"]) == 20
    assert document.get("cronType") == cron_type
    assert "uuid-secret" not in result.out + result.err


def test_a_connection_command_that_fails_is_dated(cli: Cli) -> None:
    """tokens get (and disconnect) of a connection that does not exist: exit 1, and the document
    is dated like every other error document."""
    result = cli("tokens", "get", "--user", "nobody", "--platform", "github")
    assert result.code == 1, result.out
    assert result.json["error"]["code"] == "not_found"
    assert result.json["timestamp"].endswith("Z") and result.json["userId"] == "nobody"


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_job_that_cannot_reach_its_database_names_its_job(run_cli: Cli, engine: str) -> None:
    url = {"TOKENSYNC_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/db"}
    for command, cron_type in (
        ("refresh-tokens", "token-refresh"),
        ("poll-platforms", "platform-polling"),
    ):
        result = run_cli(command, extra_env=url)
        assert result.code == 3
        assert result.json["cronType"] == cron_type and result.json["timestamp"]


def test_the_crontab_jq_filters_read_error_documents_too(cli: Cli) -> None:
    """Each jq filter of crontab.example reads its command's documents: a run's and an error's."""
    if not os.path.exists("/usr/bin/jq"):
        pytest.skip("jq is not installed")
    unreachable = ("--database-url", "postgresql://u@127.0.0.1:1/x")
    documents = {
        "refresh": [
            cli("refresh-tokens").out,
            cli("refresh-tokens", "--window", "soon").out,
            cli(*unreachable, "refresh-tokens").out,
        ],
        "status": [cli("status").out, cli(*unreachable, "status").out],
    }
    filters = {"refresh": [], "status": []}  # type: dict[str, list[str]]
    for line in (ROOT / "crontab.example").read_text().splitlines():
        if "jq -c '" not in line:
            continue
        jq_filter = line.split("jq -c '", 1)[1].split("'", 1)[0]
        filters["status" if "tokensync status" in line else "refresh"].append(jq_filter)
    assert filters["refresh"] and filters["status"]
    for kind, kind_filters in filters.items():
        for jq_filter in kind_filters:
            for document in documents[kind]:
                done = subprocess.run(
                    ["/usr/bin/jq", "-c", jq_filter],
                    input=document,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert done.returncode == 0, (jq_filter, document, done.stderr)
                assert json.loads(done.stdout), done.stdout
