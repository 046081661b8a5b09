"""YouTube: liked videos, newest first, until a known one; the whole list walked now and then."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import respx

from tests.platforms.support import (
    NOW,
    Sleeps,
    api,
    collect,
    collect_until,
    context,
    keys,
    last_state,
)
from tests.support import payloads as p
from tokensync.errors import MalformedResponseError, RateLimitedError
from tokensync.platforms.endpoint import SyncState, Walk
from tokensync.platforms.youtube import LikedVideos

pytestmark = pytest.mark.anyio
VIDEOS = f"{p.YOUTUBE}/videos"
# Reconciled an hour ago: with the default interval (24 h), the next walk is not due yet.
RECENT = (NOW - timedelta(hours=1)).isoformat()
RECONCILED = SyncState(extra={"reconciledAt": RECENT})
SNAPSHOT = "absent_from_snapshot"


def video_ids(numbers: range) -> list[str]:
    return [p.youtube_video(i)["id"] for i in numbers]


def paged(pages: dict[str | None, tuple[str | None, range]]):  # type: ignore[no-untyped-def]
    """A /videos side effect: pageToken -> (next token, video numbers)."""

    def page(request: httpx.Request) -> httpx.Response:
        next_token, numbers = pages[request.url.params.get("pageToken")]
        body = p.youtube_page([p.youtube_video(i) for i in numbers], next_token)
        return httpx.Response(200, json=body)

    return page


async def test_liked_videos_stop_at_a_known_video(router: respx.MockRouter) -> None:
    route = router.get(
        VIDEOS, params={"myRating": "like", "maxResults": "50", "part": "snippet,contentDetails"}
    ).respond(200, json=p.youtube_page([p.youtube_video(i) for i in range(3)], next_token="CDIQAA"))
    known = {p.youtube_video(1)["id"]}
    batches = await collect(LikedVideos(), api(p.YOUTUBE), RECONCILED, context(known=known))
    assert keys(batches) == [p.youtube_video(i)["id"] for i in range(3)]
    assert route.call_count == 1 and "pageToken" not in route.calls[0].request.url.params
    assert last_state(batches) == RECONCILED and batches[0].walk is None


async def test_a_long_first_sync_is_a_walk_that_resumes_next_run(
    router: respx.MockRouter,
) -> None:
    pages = {None: ("T1", range(0, 2)), "T1": ("T2", range(2, 4)), "T2": (None, range(4, 5))}
    route = router.get(VIDEOS).mock(side_effect=paged(pages))
    first = await collect(LikedVideos(), api(p.YOUTUBE), ctx=context(max_pages=2))
    assert len(keys(first)) == 4
    assert last_state(first).extra == {"resume": "T2", "reconciling": True}
    assert first[0].state.extra == {"resume": "T1", "reconciling": True}, "a crash resumes at T1"
    assert [b.walk for b in first] == [Walk(SNAPSHOT, begins=True), Walk(SNAPSHOT)]
    stored = set(keys(first))
    second = await collect(
        LikedVideos(), api(p.YOUTUBE), last_state(first), context(known=stored, max_pages=2)
    )
    # The top page (known) first, then the resumed page T2, which ends the walk.
    assert [c.request.url.params.get("pageToken") for c in route.calls[2:]] == [None, "T2"]
    assert set(keys(second)) - stored == {p.youtube_video(4)["id"]}
    assert [b.walk for b in second] == [Walk(SNAPSHOT), Walk(SNAPSHOT, ends=True)]
    assert last_state(second).extra == {"reconciledAt": NOW.isoformat()}


async def test_reading_the_whole_list_drops_a_resume_point(router: respx.MockRouter) -> None:
    router.get(VIDEOS).mock(side_effect=paged({None: (None, range(0, 2))}))
    batches = await collect(
        LikedVideos(), api(p.YOUTUBE), SyncState(extra={"resume": "T9", "reconciledAt": RECENT})
    )
    assert len(router.calls) == 1 and last_state(batches) == RECONCILED


@pytest.mark.parametrize(("hours", "due"), [(23.9, False), (24, True)])
async def test_the_whole_list_is_walked_once_the_interval_has_passed(
    router: respx.MockRouter, hours: float, due: bool
) -> None:
    pages = {None: ("T1", range(0, 2)), "T1": (None, range(2, 3))}
    route = router.get(VIDEOS).mock(side_effect=paged(pages))
    state = SyncState(extra={"reconciledAt": (NOW - timedelta(hours=hours)).isoformat()})
    all_known = context(known=set(video_ids(range(3))))
    batches = await collect(LikedVideos(), api(p.YOUTUBE), state, all_known)
    if due:
        # Every page, known videos or not: the last one ends the walk.
        assert route.call_count == 2 and keys(batches) == video_ids(range(3))
        assert [b.walk for b in batches] == [Walk(SNAPSHOT, begins=True), Walk(SNAPSHOT, ends=True)]
        assert last_state(batches).extra == {"reconciledAt": NOW.isoformat()}
    else:
        assert route.call_count == 1 and [b.walk for b in batches] == [None]
        assert last_state(batches) == state


async def test_a_walk_cut_short_never_ends(router: respx.MockRouter) -> None:
    pages = {None: ("T1", range(0, 2)), "T1": ("T2", range(2, 4))}
    router.get(VIDEOS).mock(side_effect=paged(pages))
    batches = await collect(LikedVideos(), api(p.YOUTUBE), ctx=context(max_pages=2))
    assert not any(b.walk and b.walk.ends for b in batches)
    assert last_state(batches).extra == {"resume": "T2", "reconciling": True}


async def test_a_walk_read_a_page_a_run_moves_on_every_run(router: respx.MockRouter) -> None:
    pages = {None: ("T1", range(0, 2)), "T1": ("T2", range(2, 4)), "T2": (None, range(4, 5))}
    route = router.get(VIDEOS).mock(side_effect=paged(pages))
    state, walks = SyncState(), []
    for _ in range(3):
        known = context(known=set(video_ids(range(5))), max_pages=1)
        batches = await collect(LikedVideos(), api(p.YOUTUBE), state, known)
        state, walks = last_state(batches), walks + [b.walk for b in batches]
    assert [c.request.url.params.get("pageToken") for c in route.calls] == [None, "T1", "T2"]
    assert walks == [Walk(SNAPSHOT, begins=True), Walk(SNAPSHOT), Walk(SNAPSHOT, ends=True)]


async def test_a_configured_interval_is_obeyed(router: respx.MockRouter) -> None:
    router.get(VIDEOS).mock(side_effect=paged({None: (None, range(0, 1))}))
    batches = await collect(
        LikedVideos(), api(p.YOUTUBE), RECONCILED, context(reconcile_interval=1800)
    )
    assert batches[0].walk == Walk(SNAPSHOT, begins=True, ends=True), "an hour is past 30 min"


async def test_a_video_without_id_fails_its_page(router: respx.MockRouter) -> None:
    videos = [p.youtube_video(0), p.youtube_video(1)]
    del videos[1]["id"]
    router.get(VIDEOS).respond(200, json=p.youtube_page(videos))
    batches, error = await collect_until(LikedVideos(), api(p.YOUTUBE))
    assert isinstance(error, MalformedResponseError)
    assert "youtube liked_videos" in str(error) and "'id'" in str(error) and batches == []


async def test_quota_exceeded_is_not_waited_for(router: respx.MockRouter) -> None:
    router.get(VIDEOS).respond(
        403,
        json=p.google_error(
            403,
            "The request cannot be completed because you have exceeded your quota.",
            "quotaExceeded",
            "PERMISSION_DENIED",
        ),
    )
    sleeps = Sleeps()
    batches, error = await collect_until(LikedVideos(), api(p.YOUTUBE, sleeps=sleeps))
    assert isinstance(error, RateLimitedError) and error.status == 403
    assert sleeps == [] and batches == []
