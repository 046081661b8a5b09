"""Snapshots mirror the platform (poll-platforms as a user runs it, both engines): spotify top
tracks, github repos and discord guilds tombstone what a complete snapshot no longer holds, and
only then; the append-only streams beside them (recently played, github events) never do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.support import payloads as p
from tests.support.support import Cli, live_keys, rows_of, seed, tombstones

SNAPSHOT = "absent_from_snapshot"
Respond = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    """Every `cli` run here polls what is due at once."""
    config = tmp_path / "poll.toml"
    config.write_text('poll_interval = "0s"\n')
    return config


def one_page_a_run(tmp_path: Path) -> dict[str, str]:
    """The environment of a run that reads one page of each endpoint."""
    config = tmp_path / "one-page.toml"
    config.write_text('poll_interval = "0s"\nmax_pages = 1\n')
    return {"TOKENSYNC_CONFIG": str(config)}


def endpoint(doc: dict[str, Any], platform: str, name: str) -> dict[str, Any]:
    (entry,) = [r for r in doc["results"] if r["platform"] == platform]
    (result,) = [e for e in entry["results"] if e["endpoint"] == name]
    return result  # type: ignore[no-any-return]


def top_tracks(tracks: list[int], per_page: int = 50) -> Respond:
    """GET /me/top/tracks over the user's current top list, `per_page` at a time."""

    def respond(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        page = tracks[offset : offset + per_page]
        body = p.spotify_top_tracks(page, offset=offset, total=len(tracks))
        return httpx.Response(200, json=body)

    return respond


def repos(numbers: list[int], per_page: int = 100) -> Respond:
    """GET /user/repos over the user's current repositories, with Link pages."""

    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        shown = numbers[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(numbers):
            link = f"{p.GITHUB}/user/repos?per_page={per_page}&page={page + 1}"
            headers["Link"] = f'<{link}>; rel="next"'
        return httpx.Response(200, json=[p.github_repo(n) for n in shown], headers=headers)

    return respond


def track_id(n: int) -> str:
    return str(p.spotify_track(n)["id"])


def repo_id(n: int) -> str:
    return str(p.github_repo(n)["id"])


def test_a_track_leaves_the_top_list_and_comes_back(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "spotify"), expires_in=3600)
    tracks, plays = [1, 2, 3], [(1, "2026-11-28T10:00:00.000Z")]
    mock_http.get(f"{p.SPOTIFY}/me/top/tracks").mock(side_effect=lambda r: top_tracks(tracks)(r))
    mock_http.get(f"{p.SPOTIFY}/me/player/recently-played").mock(
        side_effect=lambda r: httpx.Response(
            200, json=p.spotify_recently_played(plays, after="1764324000000" if plays else None)
        )
    )
    where = (db_url, "u1", "spotify", "top_tracks")

    assert cli("poll-platforms").code == 0
    tracks[:], plays[:] = [3, 1], []  # track 2 left the list; no new plays
    second = cli("poll-platforms").json
    assert tombstones(*where) == {track_id(2): SNAPSHOT}
    assert endpoint(second, "spotify", "top_tracks")["deletedItems"] == 1
    assert second["itemsDeleted"] == 1
    assert endpoint(second, "spotify", "recently_played")["deletedItems"] == 0
    assert live_keys(db_url, "u1", "spotify", "recently_played") == {
        f"2026-11-28T10:00:00.000Z:{track_id(1)}"
    }, "an append-only stream keeps what later pages no longer show"
    gone_at = rows_of(*where)[track_id(2)].deleted_at

    third = cli("poll-platforms").json
    assert third["itemsDeleted"] == 0, "tombstoned once"
    assert rows_of(*where)[track_id(2)].deleted_at == gone_at

    tracks[:] = [2, 3, 1]
    fourth = cli("poll-platforms").json
    assert (fourth["itemsDeleted"], tombstones(*where)) == (0, {})
    assert live_keys(*where) == {track_id(n) for n in (1, 2, 3)}
    assert rows_of(*where)[track_id(2)].data["rank"] == 1, "back, at its new rank"


def test_a_repository_goes_and_comes_back_and_events_stay(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "github"), expires_in=3600)
    numbers, events = [0, 1, 2], [p.github_event(i) for i in (2, 1)]
    mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    mock_http.get(f"{p.GITHUB}/user/repos").mock(side_effect=lambda r: repos(numbers)(r))
    # The feed moves on: older events drop out of it.
    mock_http.get(f"{p.GITHUB}/users/octocat/events").mock(
        side_effect=lambda r: httpx.Response(200, json=list(events))
    )
    where = (db_url, "u1", "github", "repos")

    cli("poll-platforms")
    numbers.remove(1)
    events[:] = [p.github_event(3)]
    doc = cli("poll-platforms").json
    assert tombstones(*where) == {repo_id(1): SNAPSHOT}
    assert endpoint(doc, "github", "repos")["deletedItems"] == 1
    assert len(live_keys(db_url, "u1", "github", "events")) == 3, "events never tombstone"

    numbers.append(1)  # access regained
    cli("poll-platforms")
    assert tombstones(*where) == {} and live_keys(*where) == {repo_id(n) for n in (0, 1, 2)}


def test_a_user_leaves_a_guild_and_joins_it_again(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "discord"), expires_in=3600)
    guilds = [0, 1, 2]
    mock_http.get(f"{p.DISCORD}/users/@me/guilds").mock(
        side_effect=lambda r: httpx.Response(200, json=[p.discord_guild(i) for i in guilds])
    )
    where = (db_url, "u1", "discord", "user_guilds")
    guild = str(p.discord_guild(1)["id"])

    cli("poll-platforms")
    guilds.remove(1)
    assert cli("poll-platforms").json["itemsDeleted"] == 1
    assert tombstones(*where) == {guild: SNAPSHOT}
    guilds.append(1)
    doc = cli("poll-platforms").json
    assert (doc["itemsDeleted"], tombstones(*where)) == (0, {})
    assert endpoint(doc, "discord", "user_guilds")["newItems"] == 0, "back, not new"


def test_a_snapshot_cut_short_marks_nothing_until_a_whole_one_is_read(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, tmp_path: Path
) -> None:
    seed(cli, ("u1", "github"), expires_in=3600)
    numbers = [0, 1, 2]
    mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    mock_http.get(f"{p.GITHUB}/users/octocat/events").respond(200, json=[])
    mock_http.get(f"{p.GITHUB}/user/repos").mock(
        side_effect=lambda r: repos(numbers, per_page=1)(r)
    )
    where = (db_url, "u1", "github", "repos")
    one_page = one_page_a_run(tmp_path)

    for _ in range(3):  # the first snapshot, a page a run
        assert cli("poll-platforms", extra_env=one_page).code == 0
    assert live_keys(*where) == {repo_id(n) for n in (0, 1, 2)}

    numbers.remove(0)
    cli("poll-platforms", extra_env=one_page)  # page 1 of 2: repository 1
    assert tombstones(*where) == {}, "cut short by max_pages: nothing is known to be gone"
    cli("poll-platforms", extra_env=one_page)  # page 2 of 2: the snapshot is complete
    assert tombstones(*where) == {repo_id(0): SNAPSHOT}


def test_a_snapshot_cut_short_by_a_failure_marks_nothing(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "spotify"), expires_in=3600)
    tracks = [1, 2, 3, 4]
    mock_http.get(f"{p.SPOTIFY}/me/player/recently-played").respond(
        200, json=p.spotify_recently_played([], after=None)
    )
    failing = {"offset": "-"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") == failing["offset"]:
            return httpx.Response(503, text="backend error")
        return top_tracks(tracks, per_page=2)(request)

    mock_http.get(f"{p.SPOTIFY}/me/top/tracks").mock(side_effect=answer)
    where = (db_url, "u1", "spotify", "top_tracks")
    cli("poll-platforms")

    tracks.remove(1)
    failing["offset"] = "2"  # the second page fails: tracks 2 and 3 were read, 4 was not
    failed = cli("poll-platforms")
    assert failed.code == 1 and tombstones(*where) == {}
    failing["offset"] = "-"
    cli("poll-platforms")  # carries on at offset 2 and completes the snapshot
    assert tombstones(*where) == {track_id(1): SNAPSHOT}
    assert live_keys(*where) == {track_id(n) for n in (2, 3, 4)}


def test_a_push_during_a_snapshot_over_several_runs_tombstones_nothing(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, tmp_path: Path
) -> None:
    """GitHub orders the list as asked; a push changes a repository's `updated_at`. Sorted by it,
    a repository pushed to between two pages of a walk would jump to the page already read."""
    seed(cli, ("u1", "github"), expires_in=3600)
    pushed = {n: f"2026-11-2{n}T10:00:00Z" for n in (0, 1, 2)}  # repo n was created before n+1

    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        order = sorted(pushed, key=pushed.__getitem__, reverse=True)  # GitHub's default
        if params.get("sort") == "created":
            order = sorted(pushed, reverse=params.get("direction") != "asc")
        page = int(params.get("page", "1"))
        body = [{**p.github_repo(n), "updated_at": pushed[n]} for n in order[page - 1 : page]]
        headers = {}
        if page < len(order):
            headers["Link"] = f'<{request.url.copy_set_param("page", page + 1)}>; rel="next"'
        return httpx.Response(200, json=body, headers=headers)

    mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    mock_http.get(f"{p.GITHUB}/users/octocat/events").respond(200, json=[])
    mock_http.get(f"{p.GITHUB}/user/repos").mock(side_effect=answer)
    one_page = one_page_a_run(tmp_path)
    for _ in range(3):
        cli("poll-platforms", extra_env=one_page)
    cli("poll-platforms", extra_env=one_page)  # a new snapshot: its first page
    pushed[0] = "2026-11-29T10:00:00Z"  # a push to the oldest repository
    cli("poll-platforms", extra_env=one_page)
    cli("poll-platforms", extra_env=one_page)  # its last page
    assert tombstones(db_url, "u1", "github", "repos") == {}
    assert live_keys(db_url, "u1", "github", "repos") == {repo_id(n) for n in (0, 1, 2)}
