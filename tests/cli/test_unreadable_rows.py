"""A row another program wrote with a time this program cannot read fails alone (issue 14): the
import that used to write year 1 stopped every job for every user. On both engines: SQLite holds
such a time as text (year 1 as the old import wrote it, or anything at all), PostgreSQL as
'infinity', a BC date or a year past the range."""

from __future__ import annotations

import pytest
import respx

from tests.support.support import TOKEN_URLS, Cli, connection, results_by_user, run_sql, seed

# How each engine's foreign writer spells a time tokensync cannot read, and whether the claim
# finds the row due by it (it compares as text on SQLite, as a time on PostgreSQL).
BAD_TIMES = {
    "sqlite": [
        ("1-01-01T00:00:00.000000Z", True),  # what the old import wrote for 0001-01-01
        ("0001-01-01T00:00:00Z", True),
        ("yesterday", False),
        ("9999-12-31", False),
    ],
    "postgres": [
        ("-infinity", True),
        ("0044-03-15 BC", True),
        ("infinity", False),
        ("2500-01-01", False),
    ],
}


def spoil(db_url: str, user: str, column: str, value: str) -> None:
    sql = f"UPDATE connections SET {column} = ? WHERE user_id = ?"  # column: a name of ours
    if not db_url.startswith("sqlite"):
        sql = sql.replace("= ?", "= CAST(? AS timestamptz)", 1)
    assert run_sql(db_url, sql, value, user) == 1


@pytest.mark.parametrize("which", range(4))
def test_an_unreadable_expiry_fails_its_row_and_nothing_else(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, engine: str, which: int
) -> None:
    seed(cli, ("bad", "discord"), ("good", "discord"))
    value, due = BAD_TIMES[engine][which]
    spoil(db_url, "bad", "expires_at", value)
    mock_http.post(TOKEN_URLS["discord"]).respond(
        200, json={"access_token": "AT-new", "refresh_token": "RT-new", "expires_in": 604800}
    )
    result = cli("refresh-tokens")
    assert "Traceback" not in result.err
    by_user = results_by_user(result.json)
    assert by_user["good"]["success"] is True
    # Nothing was sent for the bad row: only the good one's refresh token went out.
    assert [b"RT-discord-good" in c.request.content for c in mock_http.calls] == [True]
    if due:  # claimed, failed alone, backed off
        assert result.code == 1, result.out
        assert by_user["bad"]["error"]["code"] == "unreadable_row"
        assert "re-import the connection" in by_user["bad"]["error"]["message"]
        assert by_user["bad"]["nextAttemptAt"]
        assert connection(db_url, "bad", "discord").next_attempt_at is not None
    else:
        assert result.code == 0 and "bad" not in by_user
    listed = cli("tokens", "list")
    assert listed.code == 0
    (row,) = [r for r in listed.json if r["userId"] == "bad"]
    assert row["expiresAt"] is None and row["unreadable"] == ["expires_at"]
    assert cli("status").code == 0
    assert cli("keys", "rotate").code == 0
    assert cli("poll-platforms", "--platform", "discord", "--dry-run").code == 0
    # A re-import repairs it.
    repaired = cli(
        "tokens",
        "import",
        stdin='{"userId": "bad", "platform": "discord", "accessToken": "A", "expiresIn": 60}',
    )
    assert repaired.code == 0
    assert connection(db_url, "bad", "discord").unreadable == ()


@pytest.mark.parametrize(
    "column", ["last_sync_at", "last_refreshed_at", "created_at", "refresh_token_expires_at"]
)
def test_other_unreadable_times_are_shown_as_null_and_do_not_stop_a_refresh(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, engine: str, column: str
) -> None:
    seed(cli, ("odd", "discord"))
    spoil(db_url, "odd", column, BAD_TIMES[engine][0][0])
    mock_http.post(TOKEN_URLS["discord"]).respond(
        200, json={"access_token": "AT-new", "refresh_token": "RT-new", "expires_in": 604800}
    )
    result = cli("refresh-tokens")
    assert result.code == 0, result.out
    assert results_by_user(result.json)["odd"]["success"] is True
    (row,) = cli("tokens", "list").json
    camel = {
        "last_sync_at": "lastSyncAt",
        "created_at": "createdAt",
        "refresh_token_expires_at": "refreshTokenExpiresAt",
    }
    if column in camel:
        assert row[camel[column]] is None and row["unreadable"] == [column]
    else:  # the refresh wrote it anew
        assert row["lastRefreshedAt"] and "unreadable" not in row


def test_an_unreadable_expiry_fails_a_poll_alone(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, engine: str
) -> None:
    seed(cli, ("bad", "discord"), expires_in=3600)
    spoil(db_url, "bad", "expires_at", BAD_TIMES[engine][2][0])
    result = cli("poll-platforms", "--platform", "discord")
    assert result.code == 1, result.out
    (entry,) = result.json["results"]
    assert entry["error"]["code"] == "unreadable_row" and entry["results"] == []
    assert not mock_http.calls, "nothing was sent for it"


def test_tokens_get_never_hands_out_a_token_of_unknown_expiry(
    cli: Cli, db_url: str, engine: str
) -> None:
    """An unreadable expiry could be anything: `tokens get` fails (exit 1, unreadable_row)
    rather than hand out a token it cannot vouch for, and prints no token."""
    seed(cli, ("bad", "discord"), expires_in=3600)
    spoil(db_url, "bad", "expires_at", BAD_TIMES[engine][2][0])
    result = cli("tokens", "get", "--user", "bad", "--platform", "discord")
    assert result.code == 1, result.out
    assert result.json["error"]["code"] == "unreadable_row"
    assert "accessToken" not in result.json and "AT-discord-bad" not in result.out


def test_an_unreadable_time_in_status_lists(cli: Cli, db_url: str, engine: str) -> None:
    seed(cli, ("bad", "discord"), ("good", "github"), expires_in=3600)
    run_sql(db_url, "UPDATE connections SET failure_count = 2 WHERE user_id = 'bad'")
    spoil(db_url, "bad", "updated_at", BAD_TIMES[engine][1][0])
    spoil(db_url, "bad", "next_attempt_at", BAD_TIMES[engine][2][0])
    status = cli("status")
    assert status.code == 0, status.out
    failing = status.json["failing"]["connections"]
    assert [(f["userId"], f["nextAttemptAt"]) for f in failing] == [("bad", None)]
    table = cli("status", "--format", "table")
    assert table.code == 0 and "bad" in table.out


@pytest.mark.parametrize("engine", ["sqlite"])
def test_text_that_is_not_a_time_at_all(cli: Cli, db_url: str, engine: str) -> None:
    """SQLite stores whatever it is given: a number, an empty string."""
    seed(cli, ("n", "github"), ("e", "github"))
    run_sql(db_url, "UPDATE connections SET expires_at = 1700000000 WHERE user_id = 'n'")
    run_sql(db_url, "UPDATE connections SET expires_at = '' WHERE user_id = 'e'")
    rows = {r["userId"]: r for r in cli("tokens", "list").json}
    assert rows["n"]["unreadable"] == ["expires_at"] and rows["e"]["unreadable"] == ["expires_at"]


def test_a_year_one_expiry_read_back_prints_four_digits(cli: Cli, db_url: str) -> None:
    """Times in range print as 2026-...Z; the documents never print a year as '1-01-01'."""
    seed(cli, ("u", "github"))
    (row,) = cli("tokens", "list").json
    assert row["expiresAt"][:4].isdigit() and row["expiresAt"].endswith("Z")
