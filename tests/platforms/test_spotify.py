"""Spotify: recently played (an `after` cursor) and top tracks (a ranked snapshot)."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.platforms.support import Sleeps, api, collect, collect_until, context, keys, last_state
from tests.support import payloads as p
from tokensync.errors import MalformedResponseError, RateLimitedError
from tokensync.platforms.endpoint import SyncState, Walk
from tokensync.platforms.spotify import RecentlyPlayed, TopTracks

pytestmark = pytest.mark.anyio
RECENT = f"{p.SPOTIFY}/me/player/recently-played"
TOP = f"{p.SPOTIFY}/me/top/tracks"
SNAPSHOT = "absent_from_snapshot"


async def test_recently_played_first_and_incremental(router: respx.MockRouter) -> None:
    route = router.get(RECENT).mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.spotify_recently_played(
                    [(1, "2026-11-28T10:00:00.000Z"), (2, "2026-11-28T09:00:00.000Z")],
                    after="1764324000000",
                ),
            ),
            httpx.Response(200, json=p.spotify_recently_played([], after=None)),
        ]
    )
    batches = await collect(RecentlyPlayed(), api(p.SPOTIFY))
    assert keys(batches) == [
        f"2026-11-28T10:00:00.000Z:{p.spotify_track(1)['id']}",
        f"2026-11-28T09:00:00.000Z:{p.spotify_track(2)['id']}",
    ]
    assert last_state(batches).cursor == "1764324000000"
    assert dict(route.calls[0].request.url.params) == {"limit": "50"}
    again = await collect(RecentlyPlayed(), api(p.SPOTIFY), last_state(batches))
    assert dict(route.calls[1].request.url.params) == {"limit": "50", "after": "1764324000000"}
    assert len(again) == 1 and keys(again) == [], "nothing new is one empty batch"
    assert last_state(again).cursor == "1764324000000"


async def test_recently_played_pages_are_bounded_and_resume_from_the_old_cursor(
    router: respx.MockRouter,
) -> None:
    router.get(RECENT).mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.spotify_recently_played(
                    [(i, f"2026-11-28T10:0{i}:00.000Z")],
                    after=str(1764324000000 + i),
                    next_url=f"https://other-host.example/v1/me/player/recently-played?before={i}",
                ),
            )
            for i in range(3)
        ]
    )
    batches = await collect(
        RecentlyPlayed(), api(p.SPOTIFY), SyncState(cursor="1764300000000"), context(max_pages=2)
    )
    assert len(keys(batches)) == 2 and len(router.calls) == 2
    assert last_state(batches).cursor == "1764300000000", "cut short: the cursor stays"
    # The foreign `next` host never saw the token: the link was rebuilt on the API base.
    assert {str(c.request.url.host) for c in router.calls} == {"api.spotify.com"}
    assert router.calls[1].request.url.params["before"] == "0"


async def test_a_next_link_outside_the_base_path_is_refused(router: respx.MockRouter) -> None:
    router.get(RECENT).respond(
        200,
        json=p.spotify_recently_played(
            [(1, "2026-11-28T10:00:00.000Z")],
            after="1764324000000",
            next_url="https://api.spotify.com/v10/me/player/recently-played?before=1",
        ),
    )
    batches, error = await collect_until(RecentlyPlayed(), api(p.SPOTIFY))
    assert isinstance(error, MalformedResponseError) and "outside the API base" in str(error)
    assert len(keys(batches)) == 1 and last_state(batches).cursor is None


@pytest.mark.parametrize("after", ["yesterday", "1764324000000.5", "-1"])
async def test_recently_played_refuses_a_cursor_that_is_not_milliseconds(
    router: respx.MockRouter, after: str
) -> None:
    router.get(RECENT).respond(
        200, json=p.spotify_recently_played([(1, "2026-11-28T10:00:00.000Z")], after=after)
    )
    batches, error = await collect_until(RecentlyPlayed(), api(p.SPOTIFY))
    assert isinstance(error, MalformedResponseError) and "milliseconds" in str(error)
    assert batches == [], "nothing of the page is stored"


async def test_a_stored_cursor_is_checked_before_it_is_sent() -> None:
    with respx.mock(assert_all_mocked=True):
        batches, error = await collect_until(
            RecentlyPlayed(), api(p.SPOTIFY), SyncState(cursor="1&before=1")
        )
    assert isinstance(error, MalformedResponseError) and batches == []


async def test_a_play_without_played_at_fails_its_page_only(router: respx.MockRouter) -> None:
    bad = p.spotify_recently_played(
        [(3, "2026-11-28T08:00:00.000Z"), (4, "2026-11-28T07:00:00.000Z")], after="1764310000000"
    )
    del bad["items"][1]["played_at"]
    router.get(RECENT).mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.spotify_recently_played(
                    [(1, "2026-11-28T10:00:00.000Z")],
                    after="1764324000000",
                    next_url=f"{RECENT}?before=1764324000000",
                ),
            ),
            httpx.Response(200, json=bad),
        ]
    )
    batches, error = await collect_until(RecentlyPlayed(), api(p.SPOTIFY))
    assert isinstance(error, MalformedResponseError)
    assert "spotify recently_played" in str(error) and "played_at" in str(error)
    assert len(keys(batches)) == 1 and last_state(batches).cursor is None


async def test_a_local_file_is_keyed_by_its_uri(router: respx.MockRouter) -> None:
    body = p.spotify_recently_played([(1, "2026-11-28T10:00:00.000Z")], after="1764324000000")
    body["items"][0]["track"] = p.spotify_local_track("Demo")
    router.get(RECENT).respond(200, json=body)
    batches = await collect(RecentlyPlayed(), api(p.SPOTIFY))
    assert keys(batches) == ["2026-11-28T10:00:00.000Z:spotify:local:Someone::Demo:180"]


async def test_a_short_retry_after_is_slept_and_the_quota_is_not(router: respx.MockRouter) -> None:
    router.get(RECENT).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "4"}),
            httpx.Response(200, json=p.spotify_recently_played([], after=None)),
            httpx.Response(429, json={"error": {"status": 429, "reason": "QUOTA_EXCEEDED"}}),
        ]
    )
    sleeps = Sleeps()
    assert keys(await collect(RecentlyPlayed(), api(p.SPOTIFY, sleeps=sleeps))) == []
    assert sleeps == [4.0]
    batches, error = await collect_until(RecentlyPlayed(), api(p.SPOTIFY, sleeps=sleeps))
    assert isinstance(error, RateLimitedError) and batches == [] and sleeps == [4.0]


async def test_top_tracks_pages_by_offset_with_ranks(router: respx.MockRouter) -> None:
    first = router.get(
        TOP, params={"time_range": "short_term", "limit": "50", "offset": "0"}
    ).respond(200, json=p.spotify_top_tracks(list(range(50)), offset=0, total=52))
    router.get(TOP, params={"time_range": "short_term", "limit": "50", "offset": "50"}).respond(
        200, json=p.spotify_top_tracks([50, 51], offset=50, total=52)
    )
    batches = await collect(TopTracks(), api(p.SPOTIFY))
    stored = [item for b in batches for item in b.items]
    assert len(stored) == 52 and stored[0].data["rank"] == 1 and stored[51].data["rank"] == 52
    assert stored[51].key == p.spotify_track(51)["id"]
    assert stored[51].data["track"] == p.spotify_track(51)
    assert last_state(batches) == SyncState() and first.call_count == 1
    assert [b.walk for b in batches] == [Walk(SNAPSHOT, begins=True), Walk(SNAPSHOT, ends=True)]


async def test_top_tracks_cut_short_resume_at_their_offset(router: respx.MockRouter) -> None:
    route = router.get(TOP).mock(
        side_effect=[
            httpx.Response(200, json=p.spotify_top_tracks(list(range(50)), offset=0, total=60)),
            httpx.Response(200, json=p.spotify_top_tracks(list(range(50, 60)), 50, total=60)),
        ]
    )
    first = await collect(TopTracks(), api(p.SPOTIFY), ctx=context(max_pages=1))
    assert last_state(first).extra == {"offset": 50}
    assert [b.walk for b in first] == [Walk(SNAPSHOT, begins=True)], "cut short: no end"
    second = await collect(TopTracks(), api(p.SPOTIFY), last_state(first))
    assert route.calls[1].request.url.params["offset"] == "50"
    assert [i.data["rank"] for i in second[0].items] == list(range(51, 61))
    assert last_state(second).extra == {}
    assert [b.walk for b in second] == [Walk(SNAPSHOT, ends=True)], "carried on, not begun"


async def test_top_tracks_with_items_of_the_wrong_type(router: respx.MockRouter) -> None:
    body = p.spotify_top_tracks([1, 2])
    body["items"] = {"0": body["items"][0]}
    router.get(TOP).respond(200, json=body)
    batches, error = await collect_until(TopTracks(), api(p.SPOTIFY))
    assert isinstance(error, MalformedResponseError) and "'items'" in str(error)
    assert batches == []
