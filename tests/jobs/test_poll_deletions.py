"""run_poll and deletions on the fake clock: how often YouTube's whole list is walked; a run that
dies at any page of a snapshot, or that lost its lease to a newer one, marks nothing wrong."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest

from tests.jobs.harness import HANG, Handler, Job, json_response, make_job
from tests.support import payloads as p
from tests.support.support import live_keys, tombstones
from tokensync.jobs.options import PollOptions
from tokensync.jobs.poll_platforms import run_poll
from tokensync.jobs.results import PollResult
from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor

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


# -- a run that stops mid-snapshot --------------------------------------------------------------


class TopTracks:
    """Spotify's top tracks (PER_PAGE a page) and an empty recently played."""

    PER_PAGE = 2

    def __init__(self, tracks: list[int]) -> None:
        self.tracks = tracks
        self.offsets: list[int] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/me/player/recently-played"):
            return json_response(200, p.spotify_recently_played([], after=None))
        offset = int(request.url.params.get("offset", "0"))
        self.offsets.append(offset)
        shown = self.tracks[offset : offset + self.PER_PAGE]
        return json_response(200, p.spotify_top_tracks(shown, offset, total=len(self.tracks)))


def track_ids(*numbers: int) -> set[str]:
    return {str(p.spotify_track(n)["id"]) for n in numbers}


async def killed_at(job: Job, platform: TopTracks, offset: int) -> bool:
    """A run that dies while it waits for the page at `offset`: the run's task is cancelled
    there, as a process killed then would stop, and nothing after that point is done. Returns
    whether it got that far."""

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") == str(offset):
            assert run is not None
            run.cancel()
            await asyncio.Event().wait()
        return await platform(request)

    run: asyncio.Task[PollResult] | None = None
    async with job.deps(handler) as deps:
        run = asyncio.ensure_future(run_poll(deps, OPTIONS))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(run, HANG)
    return run.cancelled()


@pytest.mark.parametrize("offset", [0, 2, 4])
def test_a_run_that_dies_at_any_page_of_a_snapshot_marks_nothing(
    tmp_path: Path, offset: int
) -> None:
    job = make_job(tmp_path, 'poll_interval = "0s"\n')
    job.add("u1", "spotify", expires_in=10**6)
    platform = TopTracks([1, 2, 3, 4, 5, 6])
    where = (job.url, "u1", "spotify", "top_tracks")
    asyncio.run(poll(job, platform))
    platform.tracks.remove(1)  # gone from the first page: every page of the next walk shifts
    asyncio.run(job.clock.sleep(1))  # poll_interval 0: due again once time has moved on

    assert asyncio.run(killed_at(job, platform, offset))
    assert tombstones(*where) == {}, f"died at offset {offset}: nothing is known to be gone"
    # Its poll lease outlives it; the next run comes once it has lapsed.
    asyncio.run(job.clock.sleep(job.settings.lease_seconds + 1))
    platform.offsets.clear()
    result = asyncio.run(poll(job, platform))
    assert platform.offsets[0] == offset, "the next run carries the snapshot on"
    assert result.deleted == 1 and tombstones(*where) == dict.fromkeys(
        track_ids(1), "absent_from_snapshot"
    )
    assert live_keys(*where) == track_ids(2, 3, 4, 5, 6)


def test_a_run_that_lost_its_lease_to_a_newer_walk_stops_and_commits_nothing(
    tmp_path: Path,
) -> None:
    """Another run began a new snapshot while this one stalled past its lease: this run's last
    page would end the old walk with its own view; it is refused instead (lease_lost)."""
    job = make_job(tmp_path, 'poll_interval = "0s"\n')
    job.add("u1", "spotify", expires_in=10**6)
    platform = TopTracks([1, 2, 3, 4])
    where = (job.url, "u1", "spotify", "top_tracks")
    asyncio.run(poll(job, platform))
    platform.tracks[:] = [1, 2, 3]
    asyncio.run(job.clock.sleep(1))

    async def stalled(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") == "2":
            # Meanwhile another run begins the next snapshot and stores its first page.
            store = open_store(job.url)
            try:
                seen = [
                    StoredItem(str(p.spotify_track(n)["id"]), {"rank": n, "track": n})
                    for n in (1, 2)
                ]
                walk = BatchWrite(
                    seen, SyncCursor(extra={"offset": 2}, generation=3), walking_from=2
                )
                store.save_batch("u1", "spotify", "top_tracks", walk, job.clock.now())
            finally:
                store.close()
        return await platform(request)

    result = asyncio.run(poll(job, stalled))
    (entry,) = result.polls
    top = {e.endpoint: e for e in entry.endpoints}["top_tracks"]
    assert (top.success, top.error_code) == (False, "lease_lost")
    # Ending its own walk, this run would have tombstoned what the newer one had seen.
    assert tombstones(*where) == {} and live_keys(*where) == track_ids(1, 2, 3, 4)
    assert result.exit_code == 1
