"""The commands over the store, run as a user runs them, on both engines."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.support.support import Cli, CliResult
from tokensync.crypto import generate_key
from tokensync.store.base import migrations

SECRETS = ("AT-spotify-u1", "RT-spotify-u1", "AT-github-u2", "RT-discord-u3")
LINES = "\n".join(
    [
        json.dumps(
            {
                "userId": "u1",
                "platform": "spotify",
                "accessToken": "AT-spotify-u1",
                "refreshToken": "RT-spotify-u1",
                "expiresAt": "2026-11-28T15:00:00Z",
                "scope": "user-read-recently-played",
                "tokenType": "Bearer",
            }
        ),
        "",
        json.dumps({"userId": "u2", "platform": "github", "accessToken": "AT-github-u2"}),
        json.dumps(
            {
                "userId": "u3",
                "platform": "discord",
                "accessToken": "AT-discord-u3",
                "refreshToken": "RT-discord-u3",
                "expiresIn": 604800,
            }
        ),
    ]
)


def assert_no_secret(*results: CliResult, secrets: tuple[str, ...] = SECRETS) -> None:
    for result in results:
        for secret in secrets:
            assert secret not in result.out and secret not in result.err


def test_import_list_status(run_cli: Cli, key: str) -> None:
    imported = run_cli("tokens", "import", stdin=LINES)
    assert imported.code == 0, imported.out
    assert imported.json == {"success": True, "imported": 3, "inserted": 3, "updated": 0}

    listed = run_cli("tokens", "list")
    assert listed.code == 0
    rows = listed.json
    assert [(r["userId"], r["platform"], r["status"]) for r in rows] == [
        ("u1", "spotify", "active"),
        ("u2", "github", "active"),
        ("u3", "discord", "active"),
    ]
    assert rows[0]["expiresAt"] == "2026-11-28T15:00:00Z"
    assert rows[1]["expiresAt"] is None and rows[1]["hasRefreshToken"] is False
    assert run_cli("tokens", "list", "--platform", "discord").json[0]["userId"] == "u3"

    status = run_cli("status")
    assert status.code == 0
    doc = status.json
    assert doc["connections"]["total"] == 3
    assert doc["connections"]["byPlatform"]["spotify"] == {"active": 1}
    assert doc["soonestExpiry"][0]["userId"] == "u1"
    assert doc["needsReauth"] == {"count": 0, "connections": []}
    assert_no_secret(imported, listed, status, secrets=(*SECRETS, key))


def test_reimport_replaces_and_reactivates(run_cli: Cli) -> None:
    run_cli("tokens", "import", stdin=LINES)
    again = run_cli("tokens", "import", stdin=LINES.splitlines()[0])
    assert again.json == {"success": True, "imported": 1, "inserted": 0, "updated": 1}


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "line 3: not valid JSON"),
        ('{"userId": "u9", "platform": "spotify"}', "line 3: missing field accessToken"),
        ('{"userId": "u9", "platform": "myspace", "accessToken": "x"}', "line 3: unknown platform"),
        (
            '{"userId": "u9", "platform": "github", "accessToken": "x", "expiresAt": "soon"}',
            "line 3: expiresAt",
        ),
        ('{"userId": "u9", "platform": "github", "access_token": "x"}', "line 3: unknown field"),
        ('["a list"]', "line 3: expected a JSON object"),
    ],
)
def test_a_bad_line_fails_the_whole_import(run_cli: Cli, bad_line: str, message: str) -> None:
    lines = LINES.splitlines()[:2] + [bad_line] + LINES.splitlines()[2:]
    result = run_cli("tokens", "import", stdin="\n".join(lines))
    assert result.code == 2
    assert result.json["success"] is False
    assert result.json["error"]["code"] == "invalid_import"
    assert message in result.json["error"]["message"]
    assert run_cli("tokens", "list").json == [], "nothing was written"
    assert_no_secret(result)


def test_import_from_a_file_and_a_missing_file(run_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "tokens.jsonl"
    path.write_text(LINES)
    assert run_cli("tokens", "import", str(path)).json["imported"] == 3
    missing = run_cli("tokens", "import", str(tmp_path / "nope.jsonl"))
    assert missing.code == 2 and "cannot read" in missing.json["error"]["message"]


def test_keys_rotate_moves_every_row_to_the_new_key(run_cli: Cli, key: str) -> None:
    run_cli("tokens", "import", stdin=LINES)
    new = generate_key()
    both = {"TOKENSYNC_ENCRYPTION_KEYS": f"{new},{key}"}
    rotated = run_cli("keys", "rotate", extra_env=both)
    assert rotated.code == 0
    assert rotated.json == {
        "success": True,
        "keys": 2,
        "rotated": 3,
        "alreadyCurrent": 0,
        "changedMeanwhile": 0,
        "failed": 0,
        "failures": [],
    }
    again = run_cli("keys", "rotate", extra_env=both)
    assert (again.json["rotated"], again.json["alreadyCurrent"]) == (0, 3)
    # The old key can go: every token still opens with the new one alone.
    only_new = run_cli("keys", "rotate", extra_env={"TOKENSYNC_ENCRYPTION_KEYS": new})
    assert only_new.json["alreadyCurrent"] == 3 and only_new.json["failed"] == 0
    assert_no_secret(rotated, again, only_new, secrets=(*SECRETS, key, new))


def test_a_wrong_key_names_the_connections(run_cli: Cli, key: str) -> None:
    run_cli("tokens", "import", stdin=LINES)
    wrong = generate_key()
    result = run_cli("keys", "rotate", extra_env={"TOKENSYNC_ENCRYPTION_KEYS": wrong})
    assert result.code == 1
    failures = result.json["failures"]
    assert {f["userId"] for f in failures} == {"u1", "u2", "u3"}
    assert "cannot decrypt the token of connection" in failures[0]["error"]["message"]
    assert "Traceback" not in result.err
    assert_no_secret(result, secrets=(*SECRETS, key, wrong))


def test_keys_generate_is_bare(run_cli: Cli) -> None:
    result = run_cli("keys", "generate")
    assert result.code == 0
    assert len(result.out.strip()) == 44 and result.out.count("\n") == 1


def test_db_migrate(run_cli: Cli) -> None:
    result = run_cli("db", "migrate")
    assert result.code == 0
    latest = migrations("sqlite")[-1][0]
    assert result.json["success"] is True and result.json["schemaVersion"] == latest
    assert result.json["applied"] == []


def test_schema_newer_than_program_exits_3(run_cli: Cli, db_url: str) -> None:
    from datetime import UTC, datetime

    from tokensync.store import open_store

    store = open_store(db_url)
    with store.transaction():
        store._run("record_version", {"version": 42, "now": datetime.now(UTC)})
    store.close()
    result = run_cli("status")
    assert result.code == 3
    assert result.json["error"]["code"] == "schema_too_new"


def test_unreachable_database_exits_3_without_the_password(run_cli: Cli) -> None:
    result = run_cli(
        "status", extra_env={"TOKENSYNC_DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/db"}
    )
    assert result.code == 3
    assert result.json["success"] is False and result.json["error"]["code"] == "database_error"
    assert "hunter2" not in result.out + result.err


def test_bad_key_is_a_usage_error(run_cli: Cli) -> None:
    result = run_cli(
        "tokens", "import", stdin=LINES, extra_env={"TOKENSYNC_ENCRYPTION_KEYS": "short-key"}
    )
    assert result.code == 2
    assert result.json["error"]["code"] == "config_error"
    assert "short-key" not in result.out + result.err


def test_usage_errors_print_json_and_exit_2(run_cli: Cli) -> None:
    for args in (
        ("refresh-tokens", "--bogus"),
        ("refresh-tokens", "--platform", "myspace"),
        ("refresh-tokens", "--results", "some"),
        ("refresh-tokens", "--window", "soon"),
    ):
        result = run_cli(*args)
        assert result.code == 2, args
        assert result.json["success"] is False
        assert result.json["error"]["code"] == "usage_error"


def test_version(run_cli: Cli) -> None:
    result = run_cli("--version")
    assert result.code == 0 and result.out.startswith("tokensync ")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_embedded_default_creates_a_private_key_file(
    run_cli: Cli, tmp_path: Path, engine: str
) -> None:
    data = tmp_path / "fresh"
    env = {
        "TOKENSYNC_DATA_DIR": str(data),
        "TOKENSYNC_DATABASE_URL": "",
        "TOKENSYNC_ENCRYPTION_KEYS": "",
    }
    result = run_cli("refresh-tokens", extra_env=env)
    assert result.code == 0 and result.json["tokensChecked"] == 0
    imported = run_cli("tokens", "import", stdin=LINES, extra_env=env)
    assert imported.code == 0
    key_file, db_file = data / "tokensync.key", data / "tokensync.db"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
    assert "created a new encryption key file" in result.err + imported.err
    assert run_cli("tokens", "list", extra_env=env).json[0]["userId"] == "u1"


@pytest.mark.parametrize("engine", ["postgres"])
def test_postgres_without_a_key_exits_2(run_cli: Cli, engine: str) -> None:
    result = run_cli("tokens", "import", stdin=LINES, extra_env={"TOKENSYNC_ENCRYPTION_KEYS": ""})
    assert result.code == 2
    assert "no encryption key" in result.json["error"]["message"]


def test_status_as_a_table_for_people(run_cli: Cli) -> None:
    lines = (
        LINES
        + "\n"
        + json.dumps(
            {
                "userId": "[bold]mallory",
                "platform": "spotify",
                "accessToken": "AT-x",
                "expiresIn": 5,
            }
        )
    )
    run_cli("tokens", "import", stdin=lines)
    result = run_cli("status", "--format", "table")
    assert result.code == 0
    assert "Connections by platform and status" in result.out
    assert "Needing re-authorisation (0)" in result.out
    assert "[bold]mallory" in result.out, "user ids are shown as written, not as markup"
    assert_no_secret(result)
    bad = run_cli("status", "--format", "xml")
    assert bad.code == 2 and bad.json["error"]["code"] == "usage_error"
