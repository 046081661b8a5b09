"""examples/node/read-token.mjs reads what tokensync wrote, as docs/storage-format.md describes it,
and refuses a ciphertext copied into another row. Skipped, saying why, without node."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.support.support import Cli, seed
from tokensync.crypto import generate_key
from tokensync.store.sqlite import sqlite_path

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "node" / "read-token.mjs"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the example is not run"
)
COLUMNS = "user_id, platform, status, expires_at, access_token_enc"


def row(db_url: str, user: str, platform: str) -> dict[str, Any]:
    """The row as an application's database client returns it, in JSON."""
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db:
            db.row_factory = sqlite3.Row
            found = db.execute(
                f"SELECT {COLUMNS} FROM connections WHERE user_id = ? AND platform = ?",
                (user, platform),
            ).fetchone()
            return dict(found)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        found = conn.execute(
            f"SELECT {COLUMNS} FROM connections WHERE user_id = %s AND platform = %s",
            (user, platform),
        ).fetchone()
        assert found is not None
        expires = found["expires_at"]
        return {**found, "expires_at": expires.isoformat() if expires else None}


def node(record: object, keys: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, str(SCRIPT)],
        input=json.dumps(record),
        env={"TOKENSYNC_ENCRYPTION_KEYS": keys, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_node_decrypts_what_tokensync_wrote_and_refuses_a_swapped_row(
    run_cli: Cli, db_url: str, key: str
) -> None:
    seed(run_cli, ("u1", "spotify"), ("u2", "spotify"), expires_in=3600)
    mine, theirs = row(db_url, "u1", "spotify"), row(db_url, "u2", "spotify")

    read = node([mine], key)
    assert (read.returncode, read.stdout, read.stderr) == (0, "AT-spotify-u1\n", "")

    swapped = node({**mine, "access_token_enc": theirs["access_token_enc"]}, key)
    assert swapped.returncode == 1 and swapped.stdout == ""
    assert "belongs to another connection" in swapped.stderr

    wrong = node(mine, generate_key())
    assert wrong.returncode == 1 and "no configured key opens" in wrong.stderr


def test_node_reads_rows_under_either_key_while_a_rotation_runs(
    run_cli: Cli, db_url: str, key: str
) -> None:
    seed(run_cli, ("u1", "discord"), expires_in=3600)
    new = generate_key()
    keys = f"{new},{key}"
    old_row = row(db_url, "u1", "discord")
    assert node(old_row, keys).stdout == "AT-discord-u1\n"
    rotated = run_cli("keys", "rotate", extra_env={"TOKENSYNC_ENCRYPTION_KEYS": keys})
    assert rotated.json["rotated"] == 1
    new_row = row(db_url, "u1", "discord")
    assert new_row["access_token_enc"] != old_row["access_token_enc"]
    assert node(new_row, new).stdout == "AT-discord-u1\n", "the new key alone reads it now"


def test_node_will_not_hand_out_an_unusable_token(run_cli: Cli, db_url: str, key: str) -> None:
    seed(run_cli, ("u1", "github"), expires_in=30)
    soon = node(row(db_url, "u1", "github"), key)
    assert soon.returncode == 2 and "tokensync tokens get" in soon.stderr and soon.stdout == ""
    dead = node({**row(db_url, "u1", "github"), "status": "needs_reauth"}, key)
    assert dead.returncode == 2 and "reconnect" in dead.stderr
