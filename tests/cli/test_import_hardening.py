"""`tokens import` against hostile and careless input (issue 14), on both engines: each bad line
ends with exit 2, `line N: ...`, one JSON document, and the store exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.support import Cli, CliResult, connection, run_sql, tokens
from tokensync.store import importing

GOOD = {"userId": "u1", "platform": "github", "accessToken": "AT-1", "refreshToken": "RT-1"}


def line(**fields: object) -> str:
    return json.dumps({**GOOD, **fields})


def listing(cli: Cli) -> list[dict[str, object]]:
    result = cli("tokens", "list")
    assert result.code == 0, result.out
    rows: list[dict[str, object]] = result.json
    return rows


def refused(result: CliResult, message: str) -> None:
    assert result.code == 2, result.out + result.err
    document = result.json
    assert document["success"] is False and document["timestamp"]
    assert document["error"]["code"] == "invalid_import"
    assert message in document["error"]["message"], document["error"]["message"]
    assert "Traceback" not in result.err


@pytest.fixture
def before(cli: Cli) -> list[dict[str, object]]:
    """A connection stored before each refused import: it must come out unchanged."""
    seeded = cli("tokens", "import", stdin=line(userId="kept", expiresIn=3600))
    assert seeded.code == 0, seeded.out
    return listing(cli)


BAD_LINES = [
    ('{"userId": "u2", "platform": "github", "accessToken": "x", "expiresIn": NaN}', "line 2: "),
    ('{"userId": "u2", "platform": "github", "accessToken": "x", "expiresIn": 1e400}', "line 2: "),
    (line(userId="u2", expiresIn=1e20), "line 2: expiresIn must be a number of seconds"),
    (line(userId="u2", expiresIn=-1), "line 2: expiresIn must be a number of seconds"),
    (line(userId="u2", expiresIn="3600"), "line 2: expiresIn must be a number of seconds"),
    (line(userId="u2", expiresIn=True), "line 2: expiresIn must be a number of seconds"),
    (line(userId="u2", expiresAt="9999-12-31T23:59:59-14:00"), "line 2: expiresAt must be a time"),
    (line(userId="u2", expiresAt="0001-01-01T00:00:00Z"), "line 2: expiresAt must be a time"),
    (line(userId="u2", expiresAt="2200-01-01T00:00:00Z"), "line 2: expiresAt must be a time"),
    (line(userId="u2", expiresAt="1969-12-31T23:59:59Z"), "line 2: expiresAt must be a time"),
    (line(userId="u2", expiresAt=1700000000), "line 2: expiresAt must be an ISO 8601 time"),
    (line(userId="u2", expiresAt="soon"), "line 2: expiresAt must be an ISO 8601 time"),
    (
        line(userId="u2", refreshTokenExpiresAt="9999-12-31T23:59:59-14:00"),
        "line 2: refreshTokenExpiresAt must be a time",
    ),
    (
        line(userId="u2", refreshTokenExpiresIn=1e20),
        "line 2: refreshTokenExpiresIn must be a number of seconds",
    ),
    (
        line(userId="u2", refreshTokenExpiresIn=60, refreshTokenExpiresAt="2027-01-01T00:00:00Z"),
        "line 2: give refreshTokenExpiresAt or refreshTokenExpiresIn, not both",
    ),
    ('{"userId": "u2", "platform": "github", "accessToken": "\\ud800"}', "line 2: not valid JSON"),
    ('{"userId": "\\udfff", "platform": "github", "accessToken": "x"}', "line 2: not valid JSON"),
    (line(userId="u\u0000x"), "line 2: userId must not hold control characters"),
    (line(userId="u2", scope="read\u0000write"), "line 2: scope must not hold control characters"),
    (line(userId="u2", tokenType="Bearer\n"), "line 2: tokenType must not hold control"),
    (line(userId="u" * 256), "line 2: userId is longer than 255 characters"),
    (line(userId="u2", accessToken="a" * 70_000), "line 2: accessToken is longer than 65536"),
    (line(userId="u2", refreshToken="r" * 70_000), "line 2: refreshToken is longer than 65536"),
    (line(userId="u2", refreshToken=""), "line 2: refreshToken must be a non-empty string"),
    (line(userId="u2", refreshToken=7), "line 2: refreshToken must be a non-empty string"),
    (line(userId="u2", scope=["a"]), "line 2: scope must be a string"),
    (line(userId="u2", platform="x" * 100), "line 2: platform is longer than 64 characters"),
    (line(userId="u2", platform="nope"), "line 2: unknown platform 'nope'"),
    (line(userId="   "), "line 2: missing field userId"),
    (line(userId="u2", extra="x" * 1000), "line 2: unknown field(s) 'extra'"),
    ("[1, 2]", "line 2: expected a JSON object"),
    ("null", "line 2: expected a JSON object"),
    ("{" * 2000, "line 2: not valid JSON"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_LINES)
def test_a_bad_line_changes_nothing(
    cli: Cli, before: list[dict[str, object]], bad: str, message: str
) -> None:
    text = "\n".join([line(userId="kept", refreshToken="RT-NEW"), bad, line(userId="u3")])
    refused(cli("tokens", "import", stdin=text), message)
    assert listing(cli) == before


def test_the_first_bad_line_is_the_one_named(cli: Cli, before: list[dict[str, object]]) -> None:
    text = "\n".join([line(userId=f"u{i}") for i in range(6000)] + ["{oops", "{oops"])
    refused(cli("tokens", "import", stdin=text), "line 6001: not valid JSON")
    assert listing(cli) == before


def test_bytes_that_are_not_utf8(cli: Cli, before: list[dict[str, object]]) -> None:
    text = line(userId="u2").encode() + b"\n" + line(userId="u3").encode()[:-2] + b'\xff"}'
    refused(cli("tokens", "import", stdin=text), "line 2: not UTF-8 text")
    latin1 = json.dumps({**GOOD, "userId": "Jos\u00e9"}, ensure_ascii=False).encode("latin-1")
    refused(cli("tokens", "import", stdin=latin1), "line 1: not UTF-8 text")
    assert listing(cli) == before


def test_a_30_mb_field_is_never_read_whole(cli: Cli, before: list[dict[str, object]]) -> None:
    huge = line(userId="u2", accessToken="a" * 30_000_000)
    refused(cli("tokens", "import", stdin=line(userId="u1") + "\n" + huge), "line 2: longer than")
    assert listing(cli) == before


def test_a_byte_order_mark_and_crlf_are_fine(cli: Cli) -> None:
    text = "\ufeff" + line(userId="u1") + "\r\n\r\n" + line(userId="u2") + "\r\n"
    result = cli("tokens", "import", stdin=text)
    assert result.code == 0 and result.json["imported"] == 2


def test_the_same_connection_twice_is_refused_with_both_lines(
    cli: Cli, before: list[dict[str, object]]
) -> None:
    text = "\n".join([line(userId="a"), line(userId="b"), "", line(userId="a", accessToken="AT-2")])
    refused(cli("tokens", "import", stdin=text), "lines 1 and 4 are both user 'a' on github")
    # The same user on another platform is another connection.
    ok = cli(
        "tokens", "import", stdin=line(userId="a") + "\n" + line(userId="a", platform="discord")
    )
    assert ok.code == 0 and ok.json == {
        "success": True,
        "imported": 2,
        "inserted": 2,
        "updated": 0,
    }


def test_a_duplicate_across_chunks_names_both_lines(
    cli: Cli, before: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import is applied a chunk at a time; a duplicate of a line in an earlier chunk is
    still refused with both numbers, and the earlier chunks are rolled back too."""
    monkeypatch.setattr(importing, "CHUNK_ROWS", 3)
    lines = [line(userId=f"u{i}") for i in range(10)] + [line(userId="u4")]
    refused(cli("tokens", "import", stdin="\n".join(lines)), "lines 5 and 11 are both user 'u4'")
    assert listing(cli) == before
    within = [line(userId=f"u{i}") for i in range(7)] + [line(userId="u6")]
    refused(cli("tokens", "import", stdin="\n".join(within)), "lines 7 and 8 are both user 'u6'")
    assert listing(cli) == before


def test_chunks_add_up(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "CHUNK_ROWS", 4)
    first = cli("tokens", "import", stdin="\n".join(line(userId=f"u{i}") for i in range(10)))
    assert first.json == {"success": True, "imported": 10, "inserted": 10, "updated": 0}
    again = "\n".join(line(userId=f"u{i}") for i in range(5, 15))
    assert cli("tokens", "import", stdin=again).json == {
        "success": True,
        "imported": 10,
        "inserted": 5,
        "updated": 5,
    }
    assert [r["userId"] for r in listing(cli)] == [f"u{i}" for i in range(15)]


def test_a_reimport_without_refresh_token_keeps_the_stored_one(
    cli: Cli, db_url: str, key: str
) -> None:
    cli("tokens", "import", stdin=line(userId="g", platform="youtube", refreshToken="RT-g"))
    # Google sends no new refresh token on a second consent: the line leaves it out.
    again = {k: v for k, v in GOOD.items() if k != "refreshToken"}
    result = cli(
        "tokens",
        "import",
        stdin=json.dumps({**again, "userId": "g", "platform": "youtube", "accessToken": "AT-g2"}),
    )
    assert result.code == 0 and result.json["updated"] == 1
    assert tokens(db_url, key, "g", "youtube") == ("AT-g2", "RT-g")
    # An explicit null removes it.
    result = cli(
        "tokens",
        "import",
        stdin=json.dumps({**again, "userId": "g", "platform": "youtube", "refreshToken": None}),
    )
    assert result.code == 0
    assert tokens(db_url, key, "g", "youtube") == ("AT-1", None)
    assert connection(db_url, "g", "youtube").refresh_token_enc is None
    # A new connection without one has none.
    cli("tokens", "import", stdin=json.dumps({**again, "userId": "n"}))
    assert tokens(db_url, key, "n", "github") == ("AT-1", None)


def test_a_reimport_without_refresh_token_keeps_the_grants_end_too(cli: Cli, db_url: str) -> None:
    """The grant's end belongs to the refresh token: a line that keeps the token keeps its end
    (unless it gives one); a line with a new refresh token and no end has none."""
    ends = "2027-01-01T00:00:00+00:00"
    first = line(userId="g", refreshToken="RT-g", refreshTokenExpiresAt=ends)
    assert cli("tokens", "import", stdin=first).code == 0
    kept = {k: v for k, v in GOOD.items() if k != "refreshToken"}
    assert cli("tokens", "import", stdin=json.dumps({**kept, "userId": "g"})).code == 0
    end = connection(db_url, "g", "github").refresh_token_expires_at
    assert end is not None and end.isoformat() == ends
    later = "2027-06-01T00:00:00+00:00"
    moved = json.dumps({**kept, "userId": "g", "refreshTokenExpiresAt": later})
    assert cli("tokens", "import", stdin=moved).code == 0
    end = connection(db_url, "g", "github").refresh_token_expires_at
    assert end is not None and end.isoformat() == later
    assert cli("tokens", "import", stdin=line(userId="g", refreshToken="RT-new")).code == 0
    assert connection(db_url, "g", "github").refresh_token_expires_at is None


def test_a_grant_without_refresh_token_keeps_the_stored_one(
    cli: Cli, db_url: str, key: str, env: dict[str, str]
) -> None:
    """An OAuth callback's token response (the Python API's save_grant) goes through the same
    import: Google's second consent, without refresh_token (or with an empty one), keeps it."""
    from tokensync.client import TokenClient
    from tokensync.settings import load_settings

    cli("tokens", "import", stdin=line(userId="g", platform="youtube", refreshToken="RT-g"))
    settings = load_settings(env)
    with TokenClient(settings) as client:
        for grant in (
            {"access_token": "AT-2", "expires_in": "3599"},
            {"access_token": "AT-3", "expires_in": 3599, "refresh_token": ""},
        ):
            counts = client.save_grant("g", "youtube", grant)
            assert (counts.inserted, counts.updated) == (0, 1)
    assert tokens(db_url, key, "g", "youtube") == ("AT-3", "RT-g")


def test_a_reimport_reactivates_and_clears_the_errors(cli: Cli, db_url: str) -> None:
    cli("tokens", "import", stdin=line(userId="d"))
    dead = "UPDATE connections SET status = 'needs_reauth', failure_count = 3, last_error_code = ?"
    assert run_sql(db_url, dead, "invalid_grant") == 1
    assert connection(db_url, "d", "github").status == "needs_reauth"
    result = cli("tokens", "import", stdin=line(userId="d", expiresIn=60))
    assert result.code == 0 and result.json["updated"] == 1
    conn = connection(db_url, "d", "github")
    assert (conn.status, conn.failure_count, conn.last_error_code) == ("active", 0, None)
    assert conn.expires_at is not None


def test_expiries_at_the_edges_of_the_range(cli: Cli, db_url: str) -> None:
    text = "\n".join(
        [
            line(userId="a", expiresAt="1970-01-01T00:00:00Z"),
            line(userId="b", expiresAt="2199-12-31T23:59:59.999999+00:00"),
            line(userId="c", expiresAt="2026-11-28T15:00:00+14:00"),
            line(userId="d", expiresAt="2026-11-28T15:00:00"),
            line(userId="e", expiresIn=0),
            line(userId="f", expiresIn=86400.5),
        ]
    )
    result = cli("tokens", "import", stdin=text)
    assert result.code == 0, result.out
    by_user = {r["userId"]: r["expiresAt"] for r in listing(cli)}
    assert by_user["a"] == "1970-01-01T00:00:00Z"
    assert by_user["b"] == "2199-12-31T23:59:59Z"
    assert by_user["c"] == "2026-11-28T01:00:00Z"
    assert by_user["d"] == "2026-11-28T15:00:00Z"


def test_an_unreadable_file_names_the_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("tokens", "import", str(tmp_path))  # a directory
    assert result.code == 2 and f"cannot read {tmp_path}" in result.json["error"]["message"]
