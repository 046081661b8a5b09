"""Acting on one connection now: --force, and why a run selected by --user left a row alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx

from tests.support import payloads as p
from tests.support.support import TOKEN_URLS, Cli, connection, seed

DISCORD_TOKEN = {"access_token": "FRESH", "expires_in": 604800, "refresh_token": "RT2"}


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    """A poll_interval long enough that a second run right after the first finds nothing due."""
    config = tmp_path / "force.toml"
    config.write_text('poll_interval = "30m"\n')
    return config


def when(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_poll_right_after_a_run_says_why_and_force_polls_again(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "discord"), ("u2", "discord"), expires_in=3600)
    guilds = mock_http.get(f"{p.DISCORD}/users/@me/guilds").respond(200, json=[p.discord_guild(1)])
    first = cli("poll-platforms")
    assert first.json["platformCount"] == 2 and "skipped" not in first.json, first.out

    again = cli("poll-platforms", "--user", "u1").json
    assert (again["userCount"], again["platformCount"]) == (0, 0)
    skipped = again["skipped"]
    assert (skipped["count"], skipped["byReason"]) == (1, {"polled_recently": 1})
    (entry,) = skipped["connections"]
    assert (entry["userId"], entry["platform"], entry["reason"]) == (
        "u1",
        "discord",
        "polled_recently",
    )
    next_poll = connection(db_url, "u1", "discord").next_poll_at
    assert next_poll is not None and when(entry["nextDueAt"]) == next_poll.replace(microsecond=0)
    assert when(entry["nextDueAt"]) > datetime.now(UTC) + timedelta(minutes=25)

    dry = cli("poll-platforms", "--user", "u1", "--force", "--dry-run").json
    assert [r["userId"] for r in dry["results"]] == ["u1"] and dry["skipped"]["count"] == 0
    assert guilds.call_count == 2, "a dry run calls nothing"

    forced = cli("poll-platforms", "--user", "u1", "--force").json
    assert (forced["success"], forced["userCount"], forced["platformCount"]) == (True, 1, 1)
    assert forced["skipped"] == {"count": 0, "byReason": {}, "connections": []}
    assert guilds.call_count == 3, "polled once more, u1 only"
    assert connection(db_url, "u2", "discord").next_poll_at == next_poll_of(db_url, "u2")


def next_poll_of(db_url: str, user: str) -> datetime | None:
    return connection(db_url, user, "discord").next_poll_at


def test_refresh_says_what_is_not_due_or_backing_off_and_force_refreshes_them(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "discord"), ("u1", "spotify"), expires_in=3600)
    seed(cli, ("u1", "github"), expires_in=30)
    seed(cli, ("u2", "discord"), expires_in=30)
    mock_http.post(TOKEN_URLS["github"]).respond(503, text="<html>unavailable</html>")
    failed = cli("refresh-tokens", "--user", "u1")
    assert failed.code == 1 and failed.json["tokensFailed"] == 1

    doc = cli("refresh-tokens", "--user", "u1").json
    assert doc["tokensChecked"] == 0
    skipped = {e["platform"]: e for e in doc["skipped"]["connections"]}
    assert doc["skipped"]["byReason"] == {"backing_off": 1, "not_due": 2}
    assert skipped["github"]["reason"] == "backing_off"
    backoff = connection(db_url, "u1", "github").next_attempt_at
    assert backoff is not None
    assert when(skipped["github"]["nextDueAt"]) == backoff.replace(microsecond=0)
    expires = connection(db_url, "u1", "discord").expires_at
    assert expires is not None
    assert skipped["discord"]["reason"] == "not_due"
    due = (expires - timedelta(minutes=10)).replace(microsecond=0)
    assert when(skipped["discord"]["nextDueAt"]) == due
    assert all(e["userId"] == "u1" for e in doc["skipped"]["connections"])

    # Strict respx: spotify, not selected by --platform, would fail the test if it were sent.
    mock_http.routes.clear()
    refreshed = [
        mock_http.post(TOKEN_URLS[name]).respond(200, json=DISCORD_TOKEN)
        for name in ("discord", "github")
    ]
    forced = cli(
        "refresh-tokens", "--user", "u1", "--force", "--platform", "discord", "--platform", "github"
    )
    assert forced.code == 0, forced.out
    assert forced.json["tokensRefreshed"] == 2 and forced.json["skipped"]["count"] == 0
    assert [r.call_count for r in refreshed] == [1, 1]
    assert connection(db_url, "u1", "github").next_attempt_at is None
    assert connection(db_url, "u2", "discord").last_refreshed_at is None, "not selected"


def test_force_leaves_a_dead_grant_alone_and_says_so(cli: Cli, mock_http: respx.MockRouter) -> None:
    seed(cli, ("u1", "spotify"), expires_in=30)
    mock_http.post(TOKEN_URLS["spotify"]).mock(
        side_effect=[
            httpx.Response(400, json={"error": "invalid_grant", "error_description": "revoked"})
        ]
    )
    assert cli("refresh-tokens").json["needsReauth"] == 1
    forced = cli("refresh-tokens", "--user", "u1", "--force")
    assert forced.code == 0 and forced.json["tokensChecked"] == 0
    (entry,) = forced.json["skipped"]["connections"]
    assert (entry["reason"], entry["nextDueAt"]) == ("needs_reauth", None)


def test_results_none_reports_what_was_left_alone_as_counts_only(cli: Cli) -> None:
    """--results none is what a public repository's scheduled workflow publishes: the skipped
    report keeps its counts and reasons, never a user id."""
    seed(cli, ("user-77", "discord"), ("user-77", "spotify"), expires_in=3600)
    doc = cli("refresh-tokens", "--user", "user-77", "--results", "none")
    assert doc.code == 0, doc.out
    assert doc.json["skipped"] == {"count": 2, "byReason": {"not_due": 2}}
    assert "user-77" not in doc.out
    full = cli("refresh-tokens", "--user", "user-77").json["skipped"]
    assert [e["userId"] for e in full["connections"]] == ["user-77", "user-77"]
