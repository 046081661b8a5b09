"""What a newcomer meets in the first hour, in real processes: a mistyped database is never
created, a failure is said on stderr too, global options work after the command, a bare command
prints its help, an import from a terminal says what it waits for, a closed stdout fails."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.support.processes import tokensync
from tests.support.support import CLIENT_ENV, with_database

LINE = json.dumps(
    {
        "userId": "u_1",
        "platform": "spotify",
        "accessToken": "at-1",
        "refreshToken": "rt-1",
        "expiresIn": 3600,
    }
)
# Every command that reads or removes, and never creates a database.
NEVER_CREATE = [
    ("users", "erase", "u_1"),
    ("events", "list"),
    ("events", "deliver"),
    ("events", "replay", "--after", "0"),
    ("keys", "rotate"),
    ("tokens", "disconnect", "--user", "u_1", "--platform", "spotify"),
    ("tokens", "get", "--user", "u_1", "--platform", "spotify"),
    ("tokens", "list"),
    ("data", "prune", "--deleted-before", "30d"),
    ("status",),
]


def run(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one tokensync process."""
    process = tokensync(args, env, stdin=subprocess.PIPE)
    out, err = process.communicate(stdin, timeout=120)
    return process.returncode, out, err


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("command", NEVER_CREATE, ids=" ".join)
def test_a_mistyped_database_is_named_and_never_created(
    env: dict[str, str], tmp_path: Path, command: tuple[str, ...], engine: str
) -> None:
    typo = tmp_path / "t" / "typo.db"
    webhook = tmp_path / "webhook.toml"
    webhook.write_text('webhook_url = "https://hooks.example.com/in"\n')
    extra = {
        **CLIENT_ENV,
        "TOKENSYNC_WEBHOOK_SECRET": "whsec_" + "QUJD" * 8,
        "TOKENSYNC_CONFIG": str(webhook),
    }
    code, out, err = run({**env, **extra}, "--database-url", f"sqlite:///{typo}", *command)
    assert code == 3, out + err
    error = json.loads(out)["error"]
    assert error["code"] == "no_database"
    assert str(typo) in error["message"]
    assert err == f"tokensync: no_database: {error['message']}\n"
    assert not typo.parent.exists(), "nothing created: no file, no directory, no key file"


@pytest.mark.parametrize("engine", ["sqlite"])
def test_an_empty_file_is_no_database_for_a_command_that_removes(
    env: dict[str, str], tmp_path: Path, engine: str
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    code, out, _ = run(env, "--database-url", f"sqlite:///{empty}", "users", "erase", "u_1")
    assert code == 3
    assert json.loads(out)["error"]["code"] == "no_database"
    with contextlib.closing(sqlite3.connect(empty)) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,), "no schema"


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize(
    "command", [("refresh-tokens",), ("poll-platforms",), ("tokens", "import"), ("db", "migrate")]
)
def test_the_commands_that_create_a_database_say_so(
    env: dict[str, str], tmp_path: Path, command: tuple[str, ...], engine: str
) -> None:
    new = tmp_path / "new" / "fresh.db"
    code, out, err = run(env, *command, "--database-url", f"sqlite:///{new}", stdin=LINE)
    assert code == 0, out + err
    assert f"tokensync: created a new tokensync database: the SQLite database {new}\n" in err
    assert new.is_file()
    again = run(env, *command, "--database-url", f"sqlite:///{new}", stdin=LINE)
    assert again[0] == 0 and "created" not in again[2], "said once, when it was created"


def test_a_failure_is_one_line_on_stderr_unless_quiet(env: dict[str, str]) -> None:
    assert run(env, "tokens", "import", stdin=LINE)[0] == 0
    code, out, err = run(env, "tokens", "get", "--user", "u_zz", "--platform", "spotify")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "not_found"
    assert err == f"tokensync: not_found: {error['message']}\n"
    assert "u_zz" in err and "spotify" in err
    for quiet in ("-q", "--quiet"):
        code, out, err = run(env, quiet, "tokens", "get", "--user", "u_zz", "--platform", "spotify")
        assert (code, err) == (1, "")
        assert json.loads(out)["error"]["code"] == "not_found", "the document is unchanged"


def test_a_job_whose_items_failed_says_where_to_read_which(env: dict[str, str]) -> None:
    assert run(env, "tokens", "import", stdin=LINE)[0] == 0
    # No client credentials for spotify: the row fails, the run exits 1.
    code, out, err = run(env, "refresh-tokens", "--force")
    assert code == 1, out + err
    assert json.loads(out)["tokensFailed"] == 1
    assert err == (
        "tokensync: failed (exit 1): the JSON document on stdout says which items failed and why\n"
    )


@pytest.mark.parametrize("engine", ["sqlite"])
def test_global_options_work_after_the_command(
    env: dict[str, str], tmp_path: Path, engine: str
) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    assert run(env, "db", "migrate", "--database-url", f"sqlite:///{elsewhere}")[0] == 0
    code, out, _ = run(env, "status", "--database-url", f"sqlite:///{elsewhere}")
    assert code == 0 and json.loads(out)["success"] is True
    code, out, err = run(env, "refresh-tokens", "-v", "--dry-run", "-q")
    assert code == 0, out + err
    assert json.loads(out)["success"] is True
    code, out, err = run(env, "status", "--no-such-option")
    assert code == 2 and "No such option" in err
    code, out, err = run(env, "status", "--no-such-option", "--quiet")
    assert (code, err) == (2, "") and json.loads(out)["error"]["code"] == "usage_error"


def test_a_bare_command_prints_its_help_on_stdout(env: dict[str, str]) -> None:
    code, out, err = run(env)
    assert (code, err) == (0, "")
    assert out.startswith("Usage: tokensync [OPTIONS] COMMAND [ARGS]...")
    for command in ("refresh-tokens", "poll-platforms", "status", "tokens", "events"):
        assert f"  {command} " in out
    code, out, err = run(env, "tokens")
    assert (code, err) == (0, "")
    assert out.startswith("Usage: tokensync tokens [OPTIONS] COMMAND [ARGS]...")
    assert "  import " in out and "  list " in out


@pytest.mark.parametrize("engine", ["sqlite"])
def test_an_import_from_a_terminal_says_what_it_waits_for(
    env: dict[str, str], tmp_path: Path, engine: str
) -> None:
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "tokensync", "tokens", "import"],
            env=env,
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(secondary)
        os.write(primary, LINE.encode() + b"\n\x04")  # a line, then Ctrl-D at a line's start
        out, err = process.communicate(timeout=60)
    finally:
        os.close(primary)
    assert process.returncode == 0, out + err
    assert "tokensync: reading JSON Lines from stdin (the terminal); end with Ctrl-D" in err
    assert json.loads(out)["imported"] == 1


def test_an_import_from_a_pipe_says_nothing_of_terminals(env: dict[str, str]) -> None:
    code, _, err = run(env, "tokens", "import", stdin=LINE)
    assert code == 0 and "terminal" not in err


def test_a_closed_stdout_exits_1_and_says_so(env: dict[str, str]) -> None:
    for args in ("--version", "keys generate"):
        done = subprocess.run(
            ["bash", "-c", f"{sys.executable} -m tokensync {args} >&-"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        assert "tokensync: cannot write to stdout: stdout was closed; the output is lost" in (
            done.stderr
        )


def test_shell_completion_completes_commands_and_choices(env: dict[str, str]) -> None:
    def complete(words: str) -> list[str]:
        completion = {
            **env,
            "_TOKENSYNC_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        process = tokensync([], completion)
        code, out, _ = finish_text(process)
        assert code == 0
        return out.split()

    assert complete("tokensync tok") == ["tokens"]
    assert complete("tokensync tokens list --format ") == ["json", "jsonl", "table"]
    # The shell is told from the parent process: a bash that does not exec its last command.
    shown = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m tokensync --show-completion; exit $?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "_tokensync_completion" in shown.stdout


def finish_text(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a process whose stdout is no JSON document."""
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def on_a_terminal(env: dict[str, str], *args: str, stdin: str) -> tuple[int, str, str]:
    """Run tokensync with stderr on a terminal; (exit code, stdout, what the terminal got)."""
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "tokensync", *args],
            env={**env, "COLUMNS": "120"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=secondary,
            text=True,
        )
        os.close(secondary)
        out, _ = process.communicate(stdin, timeout=120)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the terminal's last writer is gone
            while chunk := os.read(primary, 65536):
                shown += chunk
    finally:
        os.close(primary)
    return process.returncode, out, shown.decode(errors="replace")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_progress_on_a_terminal_counts_the_import_and_the_rotation(
    env: dict[str, str], engine: str
) -> None:
    lines = "\n".join(
        json.dumps(
            {"userId": f"u_{i}", "platform": "spotify", "accessToken": "a", "refreshToken": "r"}
        )
        for i in range(2500)
    )
    code, out, shown = on_a_terminal(env, "tokens", "import", stdin=lines)
    assert code == 0 and json.loads(out)["imported"] == 2500
    assert "tokens import: 2000" in shown
    code, out, shown = on_a_terminal(env, "keys", "rotate", stdin="")
    assert code == 0 and json.loads(out)["success"] is True
    assert "keys rotate: 2500" in shown
    # The jobs' line says how many succeeded and how many failed, never a sum to misread.
    code, out, shown = on_a_terminal(env, "refresh-tokens", "--force", "--user", "u_1", stdin="")
    assert code == 1 and json.loads(out)["tokensFailed"] == 1
    assert "0 succeeded, 1 failed" in shown


@pytest.mark.parametrize("engine", ["postgres"])
@pytest.mark.parametrize("command", [("users", "erase", "u_1"), ("refresh-tokens",)], ids=" ".join)
def test_a_mistyped_postgresql_database_is_named_without_its_password(
    env: dict[str, str], postgres_url: str, command: tuple[str, ...], engine: str
) -> None:
    parts = urlsplit(with_database(postgres_url, "tokensync_typo"))
    netloc = f"{parts.username}:pa55word@{parts.hostname}:{parts.port}"
    typo = urlunsplit(parts._replace(netloc=netloc))
    code, out, err = run(env, *command, "--database-url", typo)
    assert code == 3, out + err
    error = json.loads(out)["error"]
    assert error["code"] == "no_database", error
    assert "the PostgreSQL database tokensync_typo on" in error["message"]
    assert "pa55word" not in out + err


@pytest.mark.parametrize("engine", ["postgres"])
def test_an_empty_postgresql_database_is_no_database_and_stays_empty(
    env: dict[str, str], pg_admin_url: str, engine: str
) -> None:
    name = f"tokensync_empty_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(pg_admin_url, name)
    try:
        for command in (("users", "erase", "u_1"), ("keys", "rotate"), ("status",)):
            code, out, _ = run(env, *command, "--database-url", url)
            assert code == 3, out
            error = json.loads(out)["error"]
            assert error["code"] == "no_database"
            assert f"the PostgreSQL database {name} on" in error["message"]
        with psycopg.connect(url) as db:
            tables = db.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
        assert tables == (0,), "no schema created"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
