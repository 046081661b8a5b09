"""poll-platforms as a whole: storing once, cursors, tokens while polling; both engines."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import respx

from tests.support import payloads as p
from tests.support.support import TOKEN_URLS, Cli, connection, seed, stored_items, tombstones
from tokensync.store.sqlite import from_text, sqlite_path


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    """Every `cli` run here polls what is due at once, at most three pages an endpoint."""
    config = tmp_path / "poll.toml"
    config.write_text('poll_interval = "0s"\nmax_pages = 3\n')
    return config


def endpoint_results(doc: dict, user: str, platform: str) -> dict[str, dict]:  # type: ignore[type-arg]
    (entry,) = [r for r in doc["results"] if r["userId"] == user and r["platform"] == platform]
    return {e["endpoint"]: e for e in entry["results"]}


def mock_spotify(router: respx.MockRouter, token: str = "AT-spotify-u1") -> None:
    auth = {"Authorization": f"Bearer {token}"}
    router.get(f"{p.SPOTIFY}/me/player/recently-played", headers=auth).respond(
        200,
        json=p.spotify_recently_played(
            [(1, "2026-11-28T10:00:00.000Z"), (2, "2026-11-28T09:55:00.000Z")],
            after="1764324000000",
        ),
    )
    router.get(f"{p.SPOTIFY}/me/top/tracks", headers=auth).respond(
        200, json=p.spotify_top_tracks([1, 2, 3])
    )


def test_polls_store_items_once(cli: Cli, mock_http: respx.MockRouter, db_url: str) -> None:
    seed(cli, ("u1", "spotify"), ("u1", "github"), ("u2", "discord"), expires_in=3600)
    mock_spotify(mock_http)
    mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    events = mock_http.get(f"{p.GITHUB}/users/octocat/events").mock(
        side_effect=[
            httpx.Response(
                200,
                json=[p.github_event(i) for i in range(3)],
                headers={"ETag": 'W/"abc"', "X-Poll-Interval": "0"},
            ),
            httpx.Response(304, headers={"ETag": 'W/"abc"'}),
        ]
    )
    mock_http.get(f"{p.GITHUB}/user/repos").respond(200, json=[p.github_repo(i) for i in range(2)])
    mock_http.get(f"{p.DISCORD}/users/@me/guilds", params={"limit": "200"}).respond(
        200, json=[p.discord_guild(i) for i in range(4)]
    )

    first = cli("poll-platforms")
    assert first.code == 0, first.out
    doc = first.json
    assert doc["cronType"] == "platform-polling" and doc["success"] is True
    assert (doc["userCount"], doc["platformCount"], doc["pollsSuccessful"]) == (2, 3, 3)
    assert doc["itemsFetched"] == 2 + 3 + 3 + 2 + 4 and doc["itemsStored"] == 14
    spotify = endpoint_results(doc, "u1", "spotify")
    assert spotify["recently_played"] == {
        "endpoint": "recently_played",
        "success": True,
        "itemCount": 2,
        "newItems": 2,
        "deletedItems": 0,
    }
    assert stored_items(db_url, "u1", "github") == {"events": 3, "repos": 2}

    second = cli("poll-platforms").json
    assert second["success"] is True
    assert second["itemsStored"] == 0, "nothing new, nothing changed"
    assert endpoint_results(second, "u1", "github")["events"]["itemCount"] == 0, "304"
    assert events.calls[1].request.headers["If-None-Match"] == 'W/"abc"'
    recent = [c.request for c in mock_http.calls if "recently-played" in str(c.request.url)]
    assert recent[0].url.params.get("after") is None
    assert recent[1].url.params["after"] == "1764324000000"
    assert stored_items(db_url, "u1", "spotify") == {"recently_played": 2, "top_tracks": 3}
    assert connection(db_url, "u1", "spotify").last_sync_at is not None


def test_changed_items_are_updated_not_duplicated(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "spotify"), expires_in=3600)
    mock_http.get(f"{p.SPOTIFY}/me/player/recently-played").respond(
        200, json=p.spotify_recently_played([], after=None)
    )
    mock_http.get(f"{p.SPOTIFY}/me/top/tracks").mock(
        side_effect=[
            httpx.Response(200, json=p.spotify_top_tracks([1, 2, 3])),
            httpx.Response(200, json=p.spotify_top_tracks([2, 1, 3])),
        ]
    )
    cli("poll-platforms")
    doc = cli("poll-platforms").json
    top = endpoint_results(doc, "u1", "spotify")["top_tracks"]
    assert (top["itemCount"], top["newItems"]) == (3, 0)
    assert doc["itemsStored"] == 2, "two ranks changed"
    assert stored_items(db_url, "u1", "spotify") == {"top_tracks": 3}


def test_a_token_about_to_expire_is_refreshed_first(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u2", "discord"), expires_in=30)
    token = mock_http.post(
        TOKEN_URLS["discord"], data__contains={"refresh_token": "RT-discord-u2"}
    ).respond(200, json={"access_token": "FRESH", "expires_in": 604800, "refresh_token": "RT2"})
    guilds = mock_http.get(
        f"{p.DISCORD}/users/@me/guilds", headers={"Authorization": "Bearer FRESH"}
    ).respond(200, json=[])
    doc = cli("poll-platforms").json
    assert doc["success"] is True and token.call_count == 1 and guilds.call_count == 1
    assert connection(db_url, "u2", "discord").last_refreshed_at is not None


def test_a_401_refreshes_once_and_retries(cli: Cli, mock_http: respx.MockRouter) -> None:
    seed(cli, ("u2", "discord"), expires_in=3600)
    mock_http.post(TOKEN_URLS["discord"]).respond(
        200, json={"access_token": "FRESH", "expires_in": 604800, "refresh_token": "RT2"}
    )
    mock_http.get(
        f"{p.DISCORD}/users/@me/guilds", headers={"Authorization": "Bearer AT-discord-u2"}
    ).respond(401, json={"message": "401: Unauthorized", "code": 0})
    mock_http.get(
        f"{p.DISCORD}/users/@me/guilds", headers={"Authorization": "Bearer FRESH"}
    ).respond(200, json=[p.discord_guild(1)])
    doc = cli("poll-platforms").json
    assert doc["success"] is True and doc["itemsStored"] == 1


def test_a_dead_grant_marks_needs_reauth_and_stops_polling(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "spotify"), expires_in=3600)
    mock_http.post(TOKEN_URLS["spotify"]).respond(
        400, json={"error": "invalid_grant", "error_description": "Refresh token revoked"}
    )
    recent = mock_http.get(f"{p.SPOTIFY}/me/player/recently-played").respond(
        401, json={"error": {"status": 401, "message": "The access token expired"}}
    )
    result = cli("poll-platforms")
    assert result.code == 1
    results = endpoint_results(result.json, "u1", "spotify")
    assert list(results) == ["recently_played"], "top_tracks is never asked with a dead token"
    assert recent.call_count == 1
    assert connection(db_url, "u1", "spotify").status == "needs_reauth"
    again = cli("poll-platforms").json
    assert again["platformCount"] == 0, "connections not active are never polled"


def test_a_long_rate_limit_stops_the_platform_for_the_run(
    cli: Cli, mock_http: respx.MockRouter
) -> None:
    seed(cli, ("a", "discord"), ("b", "discord"), expires_in=3600)
    guilds = mock_http.get(f"{p.DISCORD}/users/@me/guilds").respond(
        429,
        json={"message": "You are being rate limited.", "retry_after": 64.57, "global": False},
        headers={"Retry-After": "65", "X-RateLimit-Bucket": "abcd"},
    )
    result = cli("poll-platforms", "--concurrency", "1")
    doc = result.json
    assert result.code == 1 and doc["pollsFailed"] == 2
    assert guilds.call_count == 1, "the second connection is not sent at all"
    assert doc["platformErrors"]["discord"]["code"] == "rate_limited"


def test_a_malformed_page_fails_its_endpoint_only(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "spotify"), expires_in=3600)
    mock_http.get(f"{p.SPOTIFY}/me/player/recently-played").respond(
        200, json={"href": "x", "items": [{"played_at": "2026-11-28T10:00:00Z"}]}
    )
    mock_http.get(f"{p.SPOTIFY}/me/top/tracks").respond(200, json=p.spotify_top_tracks([1]))
    result = cli("poll-platforms")
    assert result.code == 1
    results = endpoint_results(result.json, "u1", "spotify")
    assert results["recently_played"]["error"]["code"] == "malformed_response"
    assert "track" in results["recently_played"]["error"]["message"]
    assert results["top_tracks"]["success"] is True
    assert stored_items(db_url, "u1", "spotify") == {"top_tracks": 1}


def test_a_run_that_dies_mid_way_is_completed_by_the_next(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "google_calendar"), expires_in=3600)
    route = mock_http.get(f"{p.CALENDAR}/calendars/primary/events").mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.calendar_page([p.calendar_event(i) for i in range(3)], page_token="page-2"),
            ),
            httpx.Response(503, text="backend error"),
            httpx.Response(
                200,
                json=p.calendar_page(
                    [p.calendar_event(i) for i in range(3, 5)], sync_token="sync-1"
                ),
            ),
            httpx.Response(
                200, json=p.calendar_page([p.calendar_event(1, "cancelled")], sync_token="sync-2")
            ),
        ]
    )
    first = cli("poll-platforms")
    assert first.code == 1
    assert stored_items(db_url, "u1", "google_calendar") == {"events": 3}, "page 1 was committed"
    second = cli("poll-platforms").json
    assert second["success"] is True
    assert route.calls[2].request.url.params["pageToken"] == "page-2", "carries on, not over"
    assert stored_items(db_url, "u1", "google_calendar") == {"events": 5}
    third = cli("poll-platforms").json
    assert route.calls[3].request.url.params["syncToken"] == "sync-1"
    events = endpoint_results(third, "u1", "google_calendar")["events"]
    assert (events["itemCount"], events["newItems"], events["deletedItems"]) == (0, 0, 1)
    assert (third["itemsStored"], third["itemsDeleted"]) == (0, 1), "a cancellation tombstones"
    assert tombstones(db_url, "u1", "google_calendar", "events") == {
        p.calendar_event(1)["id"]: "deleted_at_source"
    }


def test_dry_run_and_filters(cli: Cli, mock_http: respx.MockRouter) -> None:
    seed(cli, ("u1", "spotify"), ("u2", "discord"), expires_in=3600)
    doc = cli("poll-platforms", "--dry-run", "--platform", "discord").json
    assert doc["dryRun"] is True and [r["userId"] for r in doc["results"]] == ["u2"]
    assert json.dumps(doc).count("AT-") == 0


def poll_lease(db_url: str, user: str) -> datetime:
    """When the poll lease of the user's connection ends, read straight from the database."""
    sql = "SELECT poll_lease_expires_at FROM connections WHERE user_id = "
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as conn:
            return from_text(conn.execute(sql + "?", (user,)).fetchone()[0])
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql + "%s", (user,)).fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]


def test_a_long_poll_renews_its_lease_only_when_a_third_has_passed(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, tmp_path: Path
) -> None:
    # A third of this lease (4 s) is far more than a loaded machine takes between the claim and
    # the first page, and the slow page is made to take longer than that.
    config = tmp_path / "lease.toml"
    config.write_text('poll_interval = "0s"\nlease = "12s"\nrequest_timeout = "1s"\n')
    seed(cli, ("u1", "google_calendar"), expires_in=3600)
    leases: list[datetime] = []

    def page(events: range, slow: bool = False, **tokens: str) -> Callable[[httpx.Request], Any]:
        def respond(request: httpx.Request) -> httpx.Response:
            leases.append(poll_lease(db_url, "u1"))
            if slow:
                time.sleep(4.5)  # more than a third of the lease passes before the next page
            body = p.calendar_page([p.calendar_event(i) for i in events], **tokens)
            return httpx.Response(200, json=body)

        return respond

    mock_http.get(f"{p.CALENDAR}/calendars/primary/events").mock(
        side_effect=[
            page(range(2), page_token="page-2"),
            page(range(2, 4), slow=True, page_token="page-3"),
            page(range(4, 5), sync_token="sync-1"),
        ]
    )
    result = cli("poll-platforms", extra_env={"TOKENSYNC_CONFIG": str(config)})
    assert result.code == 0, result.out
    claimed, after_a_quick_page, after_a_slow_page = leases
    assert after_a_quick_page == claimed, "no round trip to renew a lease that is still young"
    assert after_a_slow_page - claimed >= timedelta(seconds=1), "renewed for another 12 s"
    assert stored_items(db_url, "u1", "google_calendar") == {"events": 5}
