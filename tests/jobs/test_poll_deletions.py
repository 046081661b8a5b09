"""run_poll and deletions on the fake clock: how often YouTube's whole list is walked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.jobs.harness import HANG, Handler, Job, json_response, make_job
from tests.platforms import payloads as p
from tests.support import live_keys, tombstones
from tokensync.jobs.options import PollOptions
from tokensync.jobs.poll import run_poll
from tokensync.jobs.results import PollResult

OPTIONS = PollOptions(concurrency=4)


async def poll(job: Job, handler: Handler) -> PollResult:
    """One run of the poll job."""
    async with job.deps(handler) as deps:
        return await asyncio.wait_for(run_poll(deps, OPTIONS), HANG)


def video_ids(*numbers: int) -> set[str]:
    return {str(p.youtube_video(n)["id"]) for n in numbers}


def test_likes_are_walked_whole_once_a_reconcile_interval(tmp_path: Path) -> None:
    job = make_job(tmp_path, 'poll_interval = "10m"\nreconcile_interval = "6h"\n')
    job.add("u1", "youtube", expires_in=10**6)
    likes, tokens = [3, 2, 1], []

    async def youtube(request: httpx.Request) -> httpx.Response:
        tokens.append(request.url.params.get("pageToken"))
        start = int(request.url.params.get("pageToken", "0"))
        more = str(start + 2) if start + 2 < len(likes) else None
        return json_response(
            200, p.youtube_page([p.youtube_video(n) for n in likes[start:]][:2], more)
        )

    def polled_after(seconds: float) -> PollResult:
        asyncio.run(job.clock.sleep(seconds))
        return asyncio.run(poll(job, youtube))

    where = (job.url, "u1", "youtube", "liked_videos")
    assert polled_after(0).stored == 3 and tokens == [None, "2"], "the first sync is a walk"
    likes.remove(1)
    tokens.clear()
    for _ in range(35):  # every 10 minutes for 5.8 hours: the top page holds known videos
        assert polled_after(601).deleted == 0
    assert tokens == [None] * 35 and tombstones(*where) == {}
    tokens.clear()
    result = polled_after(601)  # six hours since the last walk ended
    assert tokens == [None] and result.deleted == 1, "the list fits one page now"
    assert tombstones(*where) == dict.fromkeys(video_ids(1), "absent_from_snapshot")
    assert live_keys(*where) == video_ids(2, 3)
