"""`tokens import` and the outbox, on both engines: the import is applied a chunk at a time, and
each chunk writes a connection.recovered event for every connection it sets active again, in the
import's one transaction. A refused import (a bad line, a duplicate) writes none."""

from __future__ import annotations

import json

import pytest

from tests.support.support import Cli, connection, run_sql
from tokensync.store import importing

# Three lines a chunk: ten lines are four chunks, so the rows below fall in different ones.
CHUNK = 3


def line(user: str, **fields: object) -> str:
    return json.dumps({"userId": user, "platform": "github", "accessToken": f"AT-{user}", **fields})


def lines(users: list[str]) -> str:
    return "\n".join(line(u) for u in users)


def events(cli: Cli) -> list[dict[str, object]]:
    listed = cli("events", "list")
    assert listed.code == 0, listed.out + listed.err
    return [json.loads(text) for text in listed.out.splitlines()]


def recovered(cli: Cli) -> list[tuple[object, object]]:
    found = [e for e in events(cli) if e["type"] == "connection.recovered"]
    return [(e["data"]["userId"], e["data"]["previousStatus"]) for e in found]  # type: ignore[index]


def mark(db_url: str, user: str, status: str) -> None:
    sql = "UPDATE connections SET status = ?, last_error_code = ? WHERE user_id = ?"
    assert run_sql(db_url, sql, status, "invalid_grant", user) == 1


@pytest.fixture
def ten(cli: Cli, db_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """u0..u9 imported and active, then u1 (chunk 1) and u7 (chunk 3) marked dead and u4 (chunk
    2) disabled, by another program: no event says so."""
    monkeypatch.setattr(importing, "CHUNK_ROWS", CHUNK)
    users = [f"u{i}" for i in range(10)]
    first = cli("tokens", "import", stdin=lines(users))
    assert first.code == 0 and first.json["inserted"] == 10, first.out
    mark(db_url, "u1", "needs_reauth")
    mark(db_url, "u7", "needs_reauth")
    mark(db_url, "u4", "disabled")
    assert events(cli) == []
    return users


def test_a_chunked_reimport_recovers_each_dead_connection_once(
    cli: Cli, db_url: str, ten: list[str]
) -> None:
    again = cli("tokens", "import", stdin=lines([*ten, "u10", "u11"]))
    assert again.json == {"success": True, "imported": 12, "inserted": 2, "updated": 10}
    # One event per connection that was not active, in line order, none for the others.
    assert recovered(cli) == [("u1", "needs_reauth"), ("u4", "disabled"), ("u7", "needs_reauth")]
    (event,) = [e for e in events(cli) if e["data"]["userId"] == "u7"]  # type: ignore[index]
    conn = connection(db_url, "u7", "github")
    assert conn.status == "active" and conn.last_error_code is None
    assert event["data"] == {
        "connectionId": conn.id,
        "userId": "u7",
        "platform": "github",
        "previousStatus": "needs_reauth",
    }
    assert str(event["id"]).startswith("evt_") and len(str(event["id"])) == 4 + 32
    assert "AT-u7" not in json.dumps(events(cli))
    # Once active, a connection imported again is no recovery.
    assert cli("tokens", "import", stdin=lines(ten)).code == 0
    assert len(recovered(cli)) == 3


def test_one_dead_connection_reimported_in_a_later_chunk_recovers_once(
    cli: Cli, db_url: str, ten: list[str]
) -> None:
    mark(db_url, "u1", "active")
    mark(db_url, "u4", "active")
    assert cli("tokens", "import", stdin=lines(ten)).code == 0
    assert recovered(cli) == [("u7", "needs_reauth")]
    assert connection(db_url, "u7", "github").status == "active"


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        # A bad line in the last chunk: the chunks before it (u1's, u4's, u7's) were applied.
        (line("u12", expiresIn=-1), "line 13: expiresIn must be a number of seconds"),
        # u1 named again in the last chunk: a duplicate across chunks.
        (line("u1"), "lines 2 and 13 are both user 'u1' on github"),
    ],
)
def test_a_refused_import_writes_no_event(
    cli: Cli, db_url: str, ten: list[str], tail: str, message: str
) -> None:
    text = "\n".join([lines([*ten, "u10", "u11"]), tail])
    result = cli("tokens", "import", stdin=text)
    assert result.code == 2, result.out
    assert result.json["error"]["code"] == "invalid_import"
    assert message in result.json["error"]["message"]
    assert events(cli) == []
    assert connection(db_url, "u1", "github").status == "needs_reauth"
    assert connection(db_url, "u4", "github").status == "disabled"
    assert connection(db_url, "u7", "github").status == "needs_reauth"
