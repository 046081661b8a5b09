"""YouTube likes mirror the platform (poll-platforms as a user runs it, both engines): an unlike is
only seen by a walk of the whole list, which tombstones what it did not see once it is complete.
How often a walk is due (reconcile_interval) is tested on the fake clock, in tests/jobs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from tests.support import payloads as p
from tests.support.support import Cli, live_keys, seed, tombstones

PER_PAGE = 2


def config(tmp_path: Path, name: str, text: str) -> dict[str, str]:
    path = tmp_path / name
    path.write_text(text)
    return {"TOKENSYNC_CONFIG": str(path)}


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    """Every `cli` run here polls what is due at once, and walks the whole list each time."""
    path = tmp_path / "poll.toml"
    path.write_text('poll_interval = "0s"\nreconcile_interval = "0s"\n')
    return path


def liked(router: respx.MockRouter, likes: list[int]) -> None:
    """GET /videos?myRating=like over the user's likes (newest first), PER_PAGE a page."""

    def respond(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("pageToken", "T0")[1:])
        shown = likes[start : start + PER_PAGE]
        more = f"T{start + PER_PAGE}" if start + PER_PAGE < len(likes) else None
        body = p.youtube_page([p.youtube_video(n) for n in shown], more)
        return httpx.Response(200, json=body)

    router.get(f"{p.YOUTUBE}/videos").mock(side_effect=respond)


def video_ids(*numbers: int) -> set[str]:
    return {str(p.youtube_video(n)["id"]) for n in numbers}


def test_an_unlike_is_tombstoned_by_the_next_walk_and_a_like_again_clears_it(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "youtube"), expires_in=3600)
    likes = [3, 2, 1]
    liked(mock_http, likes)
    where = (db_url, "u1", "youtube", "liked_videos")
    cli("poll-platforms")
    assert live_keys(*where) == video_ids(1, 2, 3)
    likes.remove(2)
    doc = cli("poll-platforms").json
    assert tombstones(*where) == dict.fromkeys(video_ids(2), "absent_from_snapshot")
    assert doc["itemsDeleted"] == 1
    likes.insert(0, 2)
    cli("poll-platforms")
    assert tombstones(*where) == {} and live_keys(*where) == video_ids(1, 2, 3)


def test_a_walk_cut_short_marks_nothing_until_it_reaches_the_end(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, tmp_path: Path
) -> None:
    seed(cli, ("u1", "youtube"), expires_in=3600)
    likes = [6, 5, 4, 3, 2, 1]
    liked(mock_http, likes)
    where = (db_url, "u1", "youtube", "liked_videos")
    one_page = config(
        tmp_path, "one.toml", 'poll_interval = "0s"\nreconcile_interval = "0s"\nmax_pages = 1\n'
    )
    for _ in range(3):  # the first sync, a page a run
        cli("poll-platforms", extra_env=one_page)
    assert live_keys(*where) == video_ids(1, 2, 3, 4, 5, 6)
    likes.remove(1)
    cli("poll-platforms", extra_env=one_page)
    cli("poll-platforms", extra_env=one_page)
    assert tombstones(*where) == {}, "two pages of three: nothing is known to be gone"
    cli("poll-platforms", extra_env=one_page)
    assert tombstones(*where) == dict.fromkeys(video_ids(1), "absent_from_snapshot")
