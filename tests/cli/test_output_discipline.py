"""One JSON document on stdout whatever happens (issue 14), in process: a listing cut short, and
error documents that are dated (and read by crontab.example's jq filters). Closed stderr, full
stdout and signals, with tokensync run as a program, are
tests/process/test_output_discipline_processes.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.support import Cli, seed
from tokensync.errors import Interrupted, StorageError
from tokensync.store.base import Store

ROOT = Path(__file__).resolve().parents[2]


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
