"""YouTube: liked videos, newest first, until a known one; a long first sync resumes."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.platforms import payloads as p
from tests.platforms.support import Sleeps, api, collect, collect_until, context, keys, last_state
from tokensync.errors import MalformedResponseError, RateLimitedError
from tokensync.platforms.endpoint import SyncState
from tokensync.platforms.youtube import LikedVideos

pytestmark = pytest.mark.anyio
VIDEOS = f"{p.YOUTUBE}/videos"


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
    batches = await collect(LikedVideos(), api(p.YOUTUBE), ctx=context(known=known))
    assert keys(batches) == [p.youtube_video(i)["id"] for i in range(3)]
    assert route.call_count == 1 and "pageToken" not in route.calls[0].request.url.params
    assert last_state(batches).extra == {}


async def test_a_long_first_sync_resumes_next_run(router: respx.MockRouter) -> None:
    pages = {None: ("T1", range(0, 2)), "T1": ("T2", range(2, 4)), "T2": (None, range(4, 5))}
    route = router.get(VIDEOS).mock(side_effect=paged(pages))
    first = await collect(LikedVideos(), api(p.YOUTUBE), ctx=context(max_pages=2))
    assert len(keys(first)) == 4 and last_state(first).extra == {"resume": "T2"}
    assert first[0].state.extra == {"resume": "T1"}, "a crash after page 1 resumes at T1"
    stored = set(keys(first))
    second = await collect(
        LikedVideos(), api(p.YOUTUBE), last_state(first), context(known=stored, max_pages=2)
    )
    # The top page (known) first, then the resumed page T2.
    assert [c.request.url.params.get("pageToken") for c in route.calls[2:]] == [None, "T2"]
    assert set(keys(second)) - stored == {p.youtube_video(4)["id"]}
    assert last_state(second).extra == {}


async def test_reading_the_whole_list_drops_a_resume_point(router: respx.MockRouter) -> None:
    router.get(VIDEOS).mock(side_effect=paged({None: (None, range(0, 2))}))
    batches = await collect(
        LikedVideos(), api(p.YOUTUBE), SyncState(extra={"resume": "T9"}), context()
    )
    assert len(router.calls) == 1 and last_state(batches).extra == {}


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
