"""Fixtures: real SQLite files and a real PostgreSQL server, a database per test from a template."""

from __future__ import annotations

import io
import itertools
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.support.contract import check_output
from tests.support.pg_server import PostgresUnavailable, running_postgres
from tests.support.support import CLIENT_ENV, Cli, CliResult, with_database
from tokensync.cli.main import main
from tokensync.crypto import generate_key
from tokensync.store import Store, open_store

ENGINES = ["sqlite", "postgres"]
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """TOKENSYNC_TEST_DATABASE_URL, or a server this session starts (and removes)."""
    given = os.environ.get("TOKENSYNC_TEST_DATABASE_URL")
    if given:
        yield given
        return
    try:
        with running_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL tests cannot run: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> str:
    """A migrated database that every test's database is cloned from."""
    name = f"tokensync_tpl_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    store = open_store(with_database(pg_admin_url, name))
    store.migrate(datetime.now(UTC))
    store.close()
    return name


@pytest.fixture
def postgres_url(pg_admin_url: str, pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"tokensync_t{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield with_database(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite file for one test."""
    url = f"sqlite:///{tmp_path / 'tokensync.db'}"
    store = open_store(url)
    store.migrate(datetime.now(UTC))
    store.close()
    return url


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine in turn."""
    return str(request.param)


@pytest.fixture
def db_url(engine: str, request: pytest.FixtureRequest) -> str:
    """A migrated database of the engine under test."""
    return str(request.getfixturevalue(f"{engine}_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open store on a migrated database of the engine under test."""
    opened = open_store(db_url)
    yield opened
    opened.close()


@pytest.fixture
def key() -> str:
    """A fresh encryption key."""
    return generate_key()


@pytest.fixture
def env(tmp_path: Path, key: str, db_url: str) -> dict[str, str]:
    """An environment for running tokensync against the database under test."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TOKENSYNC_") and k != "DATABASE_URL"
    }
    environ.update(
        {
            "TOKENSYNC_DATA_DIR": str(tmp_path / "data"),
            # The user's default config file (~/.config/tokensync/config.toml) is never read.
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "TOKENSYNC_DATABASE_URL": db_url,
            "TOKENSYNC_ENCRYPTION_KEYS": key,
        }
    )
    return environ


@pytest.fixture
def run_cli(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """Run tokensync in-process as a user would, with the test's environment."""

    def run(
        *args: str, stdin: str | bytes = "", extra_env: dict[str, str] | None = None
    ) -> CliResult:
        for name in list(os.environ):
            if name.startswith("TOKENSYNC_") or name == "DATABASE_URL":
                monkeypatch.delenv(name)
        for name, value in {**env, **(extra_env or {})}.items():
            monkeypatch.setenv(name, value)
        # A byte stream underneath, as a real stdin has: the import reads bytes.
        data = stdin.encode() if isinstance(stdin, str) else stdin
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        captured = capsys.readouterr()
        check_output(args, captured.out)  # its schema refuses it: this test fails
        return CliResult(int(exit_info.value.code or 0), captured.out, captured.err)

    return run


@pytest.fixture
def cli_config() -> Path | None:
    """The config file every `cli` run reads: none, unless a test module overrides this."""
    return None


@pytest.fixture
def cli(run_cli: Cli, cli_config: Path | None) -> Cli:
    """run_cli with client credentials for every built-in platform (and cli_config, if any)."""
    config = {"TOKENSYNC_CONFIG": str(cli_config)} if cli_config else {}

    def run(
        *args: str, stdin: str | bytes = "", extra_env: dict[str, str] | None = None
    ) -> CliResult:
        # What a test passes wins, so one run can read another config than the module's.
        return run_cli(*args, stdin=stdin, extra_env={**CLIENT_ENV, **config, **(extra_env or {})})

    return run


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (marked anyio) run on asyncio, as tokensync does."""
    return "asyncio"
