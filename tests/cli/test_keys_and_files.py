"""Keys, files and the commands that only read (issue 14): a vanished key file is not silently
replaced, a place that cannot be written is named (exit 2), and `status` / `tokens list` never
create a database or migrate one (exit 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.support import Cli, query_value, run_sql, seed
from tokensync.store.base import migrations

LINE = '{"userId": "u1", "platform": "github", "accessToken": "AT-1", "expiresIn": 60}'


@pytest.fixture
def unwritable(tmp_path: Path) -> Path:
    """A directory path nobody may create: under a read-only one (as a user), or under /sys (as
    root, whom permissions do not stop)."""
    if os.geteuid() != 0:
        parent = tmp_path / "read-only"
        parent.mkdir(mode=0o500)
        return parent / "data"
    candidate = Path("/sys/tokensync-test-data")
    try:
        candidate.mkdir()
    except OSError:
        return candidate
    candidate.rmdir()
    pytest.skip("no directory here that root cannot write")


def embedded(data: Path) -> dict[str, str]:
    """The environment of the embedded default: a data directory, no URL, no key."""
    return {
        "TOKENSYNC_DATA_DIR": str(data),
        "TOKENSYNC_DATABASE_URL": "",
        "TOKENSYNC_ENCRYPTION_KEYS": "",
    }


# -- the key file ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite"])  # key files exist beside SQLite databases only
def test_a_vanished_key_file_is_not_replaced_while_tokens_need_it(
    run_cli: Cli, tmp_path: Path, engine: str
) -> None:
    env = embedded(tmp_path / "data")
    assert run_cli("tokens", "import", stdin=LINE, extra_env=env).code == 0
    key_file = tmp_path / "data" / "tokensync.key"
    key_file.unlink()
    for command in (("refresh-tokens",), ("tokens", "import"), ("keys", "rotate")):
        result = run_cli(*command, stdin=LINE, extra_env=env)
        assert result.code == 2, (command, result.out)
        message = result.json["error"]["message"]
        assert "no encryption key is configured" in message
        assert f"there is no key file at {key_file}" in message
        assert "restore it from your backup" in message
        assert not key_file.exists(), "no new key was made"


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_vanished_key_file_is_refused_on_an_older_schema_too(
    run_cli: Cli, tmp_path: Path, engine: str
) -> None:
    env = embedded(tmp_path / "data")
    assert run_cli("tokens", "import", stdin=LINE, extra_env=env).code == 0
    url = f"sqlite:///{tmp_path / 'data' / 'tokensync.db'}"
    run_sql(url, "DROP INDEX connections_by_status")  # back to the schema before migration 4
    run_sql(url, "DELETE FROM tokensync_schema WHERE version = ?", migrations("sqlite")[-1][0])
    (tmp_path / "data" / "tokensync.key").unlink()
    result = run_cli("refresh-tokens", extra_env=env)
    assert result.code == 2 and "but the database holds tokens" in result.out


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_key_is_made_for_a_database_without_tokens(
    run_cli: Cli, tmp_path: Path, engine: str
) -> None:
    env = embedded(tmp_path / "data")
    assert run_cli("db", "migrate", extra_env=env).code == 0  # a database, but no token
    first = run_cli("refresh-tokens", extra_env=env)
    assert first.code == 0 and "created a new encryption key file" in first.err
    assert (tmp_path / "data" / "tokensync.key").exists()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_vanished_key_file_with_spooled_tokens_is_refused(
    run_cli: Cli, tmp_path: Path, engine: str
) -> None:
    env = embedded(tmp_path / "data")
    spool = tmp_path / "data" / "spool"
    spool.mkdir(parents=True)
    (spool / "20261201T000000000000-x.json").write_text("{}")
    result = run_cli("refresh-tokens", extra_env=env)
    assert result.code == 2 and "the spool holds tokens" in result.json["error"]["message"]


@pytest.mark.parametrize("value", [" , ", ",", " "])
def test_a_key_list_of_separators_is_refused(cli: Cli, value: str) -> None:
    result = cli("tokens", "import", stdin=LINE, extra_env={"TOKENSYNC_ENCRYPTION_KEYS": value})
    assert result.code == 2
    assert "TOKENSYNC_ENCRYPTION_KEYS is set but holds no key" in result.json["error"]["message"]
    assert cli("tokens", "list").json == []


# -- places that cannot be written ----------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite"])  # the embedded default, which lives there
@pytest.mark.parametrize(
    # (keys rotate creates nothing: it finds no database there, test_first_hour.py)
    "command",
    [("refresh-tokens",), ("db", "migrate"), ("tokens", "import")],
)
def test_an_unwritable_data_directory_is_named(
    run_cli: Cli, unwritable: Path, tmp_path: Path, command: tuple[str, ...], engine: str
) -> None:
    lines = tmp_path / "lines.jsonl"
    lines.write_text(LINE)
    args = (*command, str(lines)) if command == ("tokens", "import") else command
    result = run_cli(*args, extra_env=embedded(unwritable))
    assert result.code == 2, result.out
    message = result.json["error"]["message"]
    assert str(unwritable) in message and "TOKENSYNC_DATA_DIR" in message
    assert str(lines) not in message, "the input file is not to blame"


@pytest.mark.parametrize("engine", ["postgres"])
@pytest.mark.parametrize(
    "command", [("refresh-tokens",), ("poll-platforms",), ("tokens", "import")]
)
def test_postgres_with_an_unwritable_data_directory_runs(
    cli: Cli, unwritable: Path, command: tuple[str, ...], engine: str
) -> None:
    """With PostgreSQL the data directory holds only the spool, written when the database fails
    after a provider issued a token: a read-only one (a container's root filesystem) does not
    stop a run that does not need it."""
    result = cli(*command, stdin=LINE, extra_env={"TOKENSYNC_DATA_DIR": str(unwritable)})
    assert result.code == 0, result.out + result.err
    assert not unwritable.exists()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_an_unwritable_home_is_named(
    run_cli: Cli, unwritable: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    env = {**embedded(unwritable), "TOKENSYNC_DATA_DIR": "", "HOME": str(unwritable)}
    result = run_cli("refresh-tokens", extra_env=env)
    assert result.code == 2, result.out
    assert str(unwritable) in result.json["error"]["message"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_database_url_under_a_file_is_named(run_cli: Cli, tmp_path: Path, engine: str) -> None:
    (tmp_path / "plain").write_text("")
    url = f"sqlite:///{tmp_path}/plain/tokensync.db"
    result = run_cli("tokens", "import", stdin=LINE, extra_env={"TOKENSYNC_DATABASE_URL": url})
    assert result.code == 2
    assert (
        f"cannot create the SQLite database {tmp_path}/plain/tokensync.db"
        in (result.json["error"]["message"])
    )


# -- commands that only read ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize(
    "command", [("status",), ("tokens", "list"), ("status", "--format", "table")]
)
def test_reading_a_typo_creates_nothing(
    run_cli: Cli, tmp_path: Path, command: tuple[str, ...], engine: str
) -> None:
    typo = tmp_path / "typo" / "x.db"
    result = run_cli(*command, extra_env={"TOKENSYNC_DATABASE_URL": f"sqlite:///{typo}"})
    assert result.code == 3, result.out
    assert result.json["error"]["code"] == "no_database"
    assert f"no SQLite database at {typo}" in result.json["error"]["message"]
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("command", [("status",), ("tokens", "list")])
def test_reading_an_empty_database_migrates_nothing(
    run_cli: Cli, db_url: str, engine: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A database without the schema (PostgreSQL: an empty database; SQLite: an empty file)."""
    if engine == "sqlite":
        empty = tmp_path / "empty.db"
        empty.write_bytes(b"")
        url = f"sqlite:///{empty}"
    else:
        run_sql(db_url, "DROP SCHEMA public CASCADE")
        run_sql(db_url, "CREATE SCHEMA public")
        url = db_url
    result = run_cli(*command, extra_env={"TOKENSYNC_DATABASE_URL": url})
    assert result.code == 3, result.out
    assert result.json["error"]["code"] == "no_database"
    assert "holds no tokensync schema" in result.json["error"]["message"]
    assert "tokensync db migrate" in result.json["error"]["message"]
    tables = (
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        if engine == "sqlite"
        else "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    )
    assert query_value(url, tables) == 0


def test_reading_an_older_schema_asks_for_a_migration(cli: Cli, db_url: str) -> None:
    latest = migrations("sqlite")[-1][0]
    # A database without the migration that added connections_by_status (6, list_by_status),
    # while a later one (7, events) is applied: branches number their migrations apart.
    # (SQLite's 13 makes connections again, with this index: the first to make it is meant.)
    by_status = min(v for v, sql in migrations("sqlite") if "connections_by_status" in sql)
    assert by_status < latest
    run_sql(db_url, "DROP INDEX connections_by_status")
    run_sql(db_url, "DELETE FROM tokensync_schema WHERE version = ?", by_status)
    for command in (("status",), ("tokens", "list")):
        result = cli(*command)
        assert result.code == 3, result.out
        assert result.json["error"]["code"] == "schema_too_old"
        message = result.json["error"]["message"]
        assert f"without migration {by_status} of this tokensync" in message
        assert "run `tokensync db migrate`" in message
    # A job migrates, as it always has; then reading works again.
    assert cli("refresh-tokens").code == 0
    assert cli("status").json["database"]["schemaVersion"] == latest


def test_reading_works_on_a_current_schema(cli: Cli) -> None:
    seed(cli, ("u", "github"))
    assert cli("status").code == 0 and cli("tokens", "list").code == 0
