"""The command line's conventions and the refusals before any write: a key that opens nothing,
settings read whenever their option is absent, global options after the command (exactly), choices
and examples in --help, `tokens list --format table`, `tokens import --dry-run`, the problems
`status` flags, the default config file, and the sync client inside a running loop."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from pathlib import Path
from typing import get_args

import pytest
from typer.main import get_command

from tests.support.support import CLIENT_ENV, Cli, connection, query_value, seed
from tokensync.cli import options as cli_options
from tokensync.cli.jobs import _Typed, job_options
from tokensync.cli.main import app
from tokensync.cli.options import hoist_global_options
from tokensync.client import RunningLoopError, TokenClient
from tokensync.crypto import generate_key
from tokensync.errors import WrongKeyError
from tokensync.jobs.options import FAIL_ON, KEEP
from tokensync.platforms.catalog import credential_variables
from tokensync.runtime.job_kinds import POLL, REFRESH
from tokensync.settings import load_settings

ROOT = get_command(app)


def line(user: str, platform: str = "spotify", expires_in: int = 3600) -> str:
    return json.dumps(
        {
            "userId": user,
            "platform": platform,
            "accessToken": f"AT-{user}",
            "refreshToken": f"RT-{user}",
            "expiresIn": expires_in,
        }
    )


# Two tokens, expiring in 5 and in 30 minutes.
SOON_AND_LATER = line("u_5", expires_in=300) + "\n" + line("u_30", expires_in=1800)


# -- a key that opens nothing ------------------------------------------------------------------


def test_an_import_with_a_key_that_opens_nothing_is_refused_before_writing(
    cli: Cli, db_url: str, key: str
) -> None:
    seed(cli, ("u_1", "spotify"))
    before = connection(db_url, "u_1", "spotify").access_token_enc
    other = {"TOKENSYNC_ENCRYPTION_KEYS": generate_key()}
    result = cli("tokens", "import", stdin=line("u_1") + "\n" + line("u_2"), extra_env=other)
    assert result.code == 2, result.out
    assert result.json["error"]["code"] == "wrong_key"
    assert "TOKENSYNC_ENCRYPTION_KEYS" in result.json["error"]["message"]
    assert result.err.startswith("tokensync: wrong_key: none of the 1 key(s)")
    assert connection(db_url, "u_1", "spotify").access_token_enc == before
    assert query_value(db_url, "SELECT count(*) FROM connections") == 1, "u_2 not written"
    # The new key first and the old one after it (a rotation under way) opens them: accepted.
    rotating = {"TOKENSYNC_ENCRYPTION_KEYS": f"{generate_key()},{key}"}
    assert cli("tokens", "import", stdin=line("u_2"), extra_env=rotating).code == 0


@pytest.mark.parametrize("job", ["refresh-tokens", "poll-platforms"])
def test_a_job_with_a_key_that_opens_nothing_stops_before_claiming(
    cli: Cli, db_url: str, job: str
) -> None:
    seed(cli, ("u_1", "spotify"))
    other = {"TOKENSYNC_ENCRYPTION_KEYS": generate_key()}
    result = cli(job, "--force", extra_env=other)
    assert result.code == 2, result.out
    assert result.json["error"]["code"] == "wrong_key"
    row = connection(db_url, "u_1", "spotify")
    assert (row.failure_count, row.lease_owner, row.last_error_code) == (0, None, None)
    # A dry run decrypts nothing and needs no key: it still reports what is due.
    assert cli(job, "--dry-run", extra_env=other).code == 0


def test_save_grant_with_a_key_that_opens_nothing_raises_and_writes_nothing(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    seed(cli, ("u_1", "spotify"))
    settings = load_settings(
        {
            "TOKENSYNC_DATABASE_URL": db_url,
            "TOKENSYNC_DATA_DIR": str(tmp_path / "data"),
            "TOKENSYNC_ENCRYPTION_KEYS": generate_key(),
        }
    )
    grant = {"access_token": "AT-new", "refresh_token": "RT-new", "expires_in": 3600}
    with TokenClient(settings) as client, pytest.raises(WrongKeyError) as refused:
        client.save_grant("u_2", "spotify", grant)
    assert refused.value.code == "wrong_key"
    assert query_value(db_url, "SELECT count(*) FROM connections") == 1


# -- settings mean what they say ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "option", "due"),
    [
        (None, None, 1),  # the default window, 10 minutes: only the token of 5 minutes
        ('refresh_window = "1h"', None, 2),  # the setting, read when --window is absent
        (None, "1h", 2),  # the option alone
        ('refresh_window = "1h"', "10m", 1),  # both: the option wins
    ],
)
def test_refresh_window_and_window(
    cli: Cli, tmp_path: Path, config: str | None, option: str | None, due: int
) -> None:
    cli("tokens", "import", stdin=SOON_AND_LATER)
    env = {}
    if config is not None:
        (tmp_path / "c.toml").write_text(config + "\n")
        env["TOKENSYNC_CONFIG"] = str(tmp_path / "c.toml")
    window = ["--window", option] if option else []
    result = cli("refresh-tokens", "--dry-run", *window, extra_env=env)
    assert result.code == 0, result.out
    assert result.json["tokensChecked"] == due


@pytest.mark.parametrize(
    ("config", "option", "refresh", "poll"),
    [
        (None, None, 64, 16),
        ("concurrency = 7", None, 7, 7),
        (None, 3, 3, 3),
        ("concurrency = 7", 3, 3, 3),
    ],
)
def test_concurrency_and_its_option(
    tmp_path: Path, config: str | None, option: int | None, refresh: int, poll: int
) -> None:
    environ = {"TOKENSYNC_DATA_DIR": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "none")}
    if config is not None:
        (tmp_path / "c.toml").write_text(config + "\n")
        environ["TOKENSYNC_CONFIG"] = str(tmp_path / "c.toml")
    settings = load_settings(environ)
    typed = _Typed(
        platforms=[],
        users=[],
        dry_run=False,
        concurrency=option,
        max_duration=None,
        results="all",
        metrics_file=None,
        ping_url=None,
        force=False,
        fail_on="any",
    )
    assert job_options(REFRESH, typed, settings).concurrency == refresh
    assert job_options(POLL, typed, settings).concurrency == poll


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize(("in_config", "in_option"), [(True, False), (False, True), (True, True)])
def test_database_url_and_its_option(
    run_cli: Cli, tmp_path: Path, in_config: bool, in_option: bool, engine: str
) -> None:
    configured, given = tmp_path / "configured.db", tmp_path / "given.db"
    env = {"TOKENSYNC_DATABASE_URL": ""}
    if in_config:
        (tmp_path / "c.toml").write_text(f'database_url = "sqlite:///{configured}"\n')
        env["TOKENSYNC_CONFIG"] = str(tmp_path / "c.toml")
    option = ["--database-url", f"sqlite:///{given}"] if in_option else []
    assert run_cli("db", "migrate", *option, extra_env=env).code == 0
    assert given.exists() == in_option
    assert configured.exists() == (in_config and not in_option)


def test_the_default_config_file_is_read_and_an_explicit_one_wins(cli: Cli, tmp_path: Path) -> None:
    cli("tokens", "import", stdin=SOON_AND_LATER)
    default = tmp_path / "config" / "tokensync" / "config.toml"  # XDG_CONFIG_HOME of the tests
    default.parent.mkdir(parents=True)
    default.write_text('refresh_window = "1h"\n')
    assert cli("refresh-tokens", "--dry-run").json["tokensChecked"] == 2
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('refresh_window = "1m"\n')
    assert cli("--config", str(explicit), "refresh-tokens", "--dry-run").json["tokensChecked"] == 0
    by_env = cli("refresh-tokens", "--dry-run", extra_env={"TOKENSYNC_CONFIG": str(explicit)})
    assert by_env.json["tokensChecked"] == 0


# -- global options after the command, exactly -------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (["status", "--database-url", "X"], ["--database-url", "X", "status"]),
        (["status", "--database-url=X", "-v"], ["--database-url=X", "-v", "status"]),
        (["refresh-tokens", "-vv", "--dry-run"], ["-vv", "refresh-tokens", "--dry-run"]),
        (
            ["tokens", "get", "--user", "-v", "--platform", "spotify", "-q"],
            ["-q", "tokens", "get", "--user", "-v", "--platform", "spotify"],
        ),
        (
            ["tokens", "import", "--", "--config"],
            ["tokens", "import", "--", "--config"],
        ),
        (
            ["-v", "users", "erase", "u_1", "--config", "c.toml"],
            ["-v", "--config", "c.toml", "users", "erase", "u_1"],
        ),
        (["--config", "c.toml", "status"], ["--config", "c.toml", "status"]),
        (["status", "--database-url"], ["status", "--database-url"]),  # click says it lacks a value
        (["tokens", "list", "--format", "table"], ["tokens", "list", "--format", "table"]),
        ([], []),
    ],
)
def test_global_options_are_moved_before_the_command(typed: list[str], meant: list[str]) -> None:
    assert hoist_global_options(ROOT, typed) == meant


def test_global_options_after_the_command_reach_it(cli: Cli, tmp_path: Path) -> None:
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert cli("db", "migrate", "--database-url", elsewhere).json["success"] is True
    result = cli("status", "--database-url", elsewhere, "-q")
    assert result.code == 0, result.out
    missing = cli("status", "--database-url", f"sqlite:///{tmp_path / 'missing.db'}", "-q")
    assert (missing.code, missing.err) == (3, "")


# -- help: choices and examples ----------------------------------------------------------------


def commands() -> list[list[str]]:
    found = []
    for name, command in getattr(ROOT, "commands", {}).items():
        sub = getattr(command, "commands", None)
        if isinstance(sub, dict):
            found += [[name, leaf] for leaf in sub]
        else:
            found.append([name])
    return found


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_every_command_has_two_examples_in_its_help(run_cli: Cli, command: list[str]) -> None:
    shown = run_cli(*command, "--help")
    assert shown.code == 0
    examples = shown.out.split("Examples:", 1)[1].strip().splitlines()
    assert len(examples) == 2, shown.out
    assert all("tokensync" in example for example in examples)


def test_choices_are_shown_in_help(run_cli: Cli) -> None:
    assert "<json|jsonl|table>" in run_cli("tokens", "list", "--help").out
    assert "<json|table>" in run_cli("status", "--help").out
    job = run_cli("refresh-tokens", "--help").out
    assert "<all|failures|none>" in job and "<any|operator>" in job
    wrong = run_cli("refresh-tokens", "--results", "some")
    assert wrong.code == 2 and wrong.json["error"]["code"] == "usage_error"
    assert get_args(cli_options.Results) == KEEP and get_args(cli_options.FailOnChoice) == FAIL_ON


# -- tokens list --format table, tokens import --dry-run ---------------------------------------


def test_tokens_list_as_a_table(cli: Cli) -> None:
    seed(cli, ("u_1", "spotify"), ("u_2", "github"))
    table = cli("tokens", "list", "--format", "table", "--status", "active")
    assert table.code == 0
    assert "userId" in table.out and "platform" in table.out
    rows = [row for row in table.out.splitlines() if "u_" in row]
    assert len(rows) == 2 and "spotify" in rows[0] and "github" in rows[1]
    assert "AT-" not in table.out and "RT-" not in table.out


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_dry_run_import_checks_counts_and_creates_nothing(
    run_cli: Cli, tmp_path: Path, engine: str
) -> None:
    db = tmp_path / "never.db"
    embedded = {"TOKENSYNC_DATABASE_URL": f"sqlite:///{db}", "TOKENSYNC_ENCRYPTION_KEYS": ""}
    lines = "\n".join([line("u_1"), line("u_2", "github"), line("u_1", "github")])
    result = run_cli("tokens", "import", "--dry-run", stdin=lines, extra_env=embedded)
    assert result.code == 0, result.out
    assert result.json == {"success": True, "dryRun": True, "connections": 3}
    twice = "\n".join([line("u_1"), line("u_2"), line("u_1")])
    refused = run_cli("tokens", "import", "--dry-run", stdin=twice, extra_env=embedded)
    assert refused.code == 2 and refused.json["error"]["code"] == "invalid_import"
    assert "lines 1 and 3 are both user 'u_1' on spotify" in refused.json["error"]["message"]
    bad = run_cli("tokens", "import", "--dry-run", stdin="{", extra_env=embedded)
    assert bad.code == 2 and bad.json["error"]["message"].startswith("line 1: not valid JSON")
    assert not db.exists() and not db.with_suffix(".key").exists()


# -- status flags what will make the jobs fail -------------------------------------------------


def test_status_lists_the_platforms_the_jobs_will_fail(run_cli: Cli, cli: Cli) -> None:
    seed(cli, ("u_1", "spotify"), ("u_2", "github"))
    only_github = {k: v for k, v in CLIENT_ENV.items() if "GITHUB" in k}
    status = run_cli("status", extra_env=only_github)
    assert status.code == 0
    (problem,) = status.json["problems"]
    assert problem["code"] == "missing_client_credentials" and problem["platform"] == "spotify"
    assert "TOKENSYNC_SPOTIFY_CLIENT_ID" in problem["message"]
    assert (
        "problem missing_client_credentials"
        in run_cli("status", "--format", "table", extra_env=only_github).out
    )
    assert cli("status").json["problems"] == []


def test_status_refuses_a_webhook_url_without_its_secret(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "hook.toml"
    config.write_text('webhook_url = "https://hooks.example.com/in"\n')
    result = cli("status", extra_env={"TOKENSYNC_CONFIG": str(config)})
    assert result.code == 2 and result.json["error"]["code"] == "config_error"
    assert "TOKENSYNC_WEBHOOK_SECRET" in result.json["error"]["message"]


def test_google_platforms_name_their_shared_credentials_too() -> None:
    for name in ("youtube", "google_gmail", "google_calendar"):
        names = credential_variables(name)
        assert f"TOKENSYNC_{name.upper()}_CLIENT_ID" in names
        assert "TOKENSYNC_GOOGLE_CLIENT_ID and TOKENSYNC_GOOGLE_CLIENT_SECRET" in names
    assert "GOOGLE" not in credential_variables("spotify")


# -- the sync client inside a running loop -----------------------------------------------------


def test_the_sync_client_inside_a_running_loop_says_to_use_the_async_one(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    seed(cli, ("u_1", "spotify"))
    settings = load_settings(
        {"TOKENSYNC_DATABASE_URL": db_url, "TOKENSYNC_DATA_DIR": str(tmp_path / "data")}
    )

    async def inside() -> None:
        with pytest.raises(RunningLoopError, match="AsyncTokenClient"):
            TokenClient(settings).open()
        client = TokenClient(settings)
        client._runner = asyncio.Runner()  # opened elsewhere, called here
        with pytest.raises(RunningLoopError, match=r"tokens\.get_token\(") as raised:
            client.get_token("u_1", "spotify")
        client._runner.close()
        assert raised.value.code == "running_event_loop"

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        asyncio.run(inside())
        gc.collect()
    assert not [w for w in seen if "never awaited" in str(w.message)]
