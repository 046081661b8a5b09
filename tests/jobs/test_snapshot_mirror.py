"""The done criterion of deletions, as a property: whatever the platform does between polls, and
however polls are cut short (max_pages, a failing page, a run that dies), a complete snapshot
leaves exactly the platform's items live, and each removal is tombstoned once.

A hypothesis state machine drives a fake Spotify top list (two tracks a page, read by offset, so
that every change shifts pages) through random additions, removals and reorderings, and run_poll
through random cuts. After every poll:

- a poll that completed no snapshot tombstoned nothing new;
- a tombstone keeps the date it was first made for as long as its item stays away;
- a snapshot that began after the platform's last change and completed leaves the live items
  exactly the platform's. (One that a change overtook may miss an item that moved onto a page it
  had read; the next complete one puts it right, which the first rule and this one then check.)
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import httpx
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.jobs.harness import HANG, Job, json_response, make_job
from tests.support import payloads as p
from tests.support.support import rows_of
from tokensync.jobs.options import PollOptions
from tokensync.jobs.poll_platforms import run_poll
from tokensync.jobs.results import PollResult
from tokensync.store import open_store

PER_PAGE = 2
OPTIONS = PollOptions(concurrency=1)


def key(track: int) -> str:
    return str(p.spotify_track(track)["id"])


class FakeTopList:
    """GET /me/top/tracks over `tracks` (and an empty recently played); a page can fail, or be
    where the run dies."""

    def __init__(self) -> None:
        self.tracks: list[int] = []
        self.fail_at: int | None = None  # the offset whose page answers 503
        self.die_at: int | None = None  # the offset at which the run is cancelled
        self.run: asyncio.Task[PollResult] | None = None
        self.died = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/me/player/recently-played"):
            return json_response(200, p.spotify_recently_played([], after=None))
        offset = int(request.url.params.get("offset", "0"))
        if offset == self.die_at and self.run is not None:
            self.died = True
            self.run.cancel()
            await asyncio.Event().wait()
        if offset == self.fail_at:
            return httpx.Response(503, text="backend error")
        shown = self.tracks[offset : offset + PER_PAGE]
        return json_response(200, p.spotify_top_tracks(shown, offset, total=len(self.tracks)))


class SnapshotMirror(RuleBasedStateMachine):
    """The platform's top list and the store, through random changes and cut polls."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="mirror-"))
        self.job: Job = make_job(self.dir, 'poll_interval = "0s"\n')
        self.job.add("u1", "spotify", expires_in=10**9)
        self.platform = FakeTopList()
        self.next_track = 1
        self.changed_since_walk_began = True
        self.first_gone: dict[str, datetime] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the platform ------------------------------------------------------------------------

    def _changed(self) -> None:
        self.changed_since_walk_began = True

    @rule(where=st.integers(min_value=0, max_value=20))
    def a_track_enters(self, where: int) -> None:
        tracks = self.platform.tracks
        tracks.insert(where % (len(tracks) + 1), self.next_track)
        self.next_track += 1
        self._changed()

    @precondition(lambda self: self.platform.tracks)
    @rule(which=st.integers(min_value=0, max_value=20))
    def a_track_leaves(self, which: int) -> None:
        tracks = self.platform.tracks
        tracks.pop(which % len(tracks))
        self._changed()

    @precondition(lambda self: len(self.platform.tracks) > 1)
    @rule(a=st.integers(min_value=0, max_value=20), b=st.integers(min_value=0, max_value=20))
    def two_tracks_swap(self, a: int, b: int) -> None:
        tracks = self.platform.tracks
        i, j = a % len(tracks), b % len(tracks)
        tracks[i], tracks[j] = tracks[j], tracks[i]
        self._changed()

    @rule(track=st.integers(min_value=1, max_value=40))
    def a_track_comes_back(self, track: int) -> None:
        if track < self.next_track and track not in self.platform.tracks:
            self.platform.tracks.insert(0, track)
            self._changed()

    # -- polls -------------------------------------------------------------------------------

    @rule(
        max_pages=st.integers(min_value=1, max_value=4),
        fail_page=st.none() | st.integers(min_value=0, max_value=3),
        die_page=st.none() | st.integers(min_value=0, max_value=3),
    )
    def a_poll(self, max_pages: int, fail_page: int | None, die_page: int | None) -> None:
        walk_on = "offset" in self._state_extra()
        if not walk_on:
            self.changed_since_walk_began = False  # this poll begins the next snapshot
        before = self._tombstones()
        self.platform.fail_at = fail_page * PER_PAGE if fail_page is not None else None
        self.platform.die_at = die_page * PER_PAGE if die_page is not None else None
        self.platform.died = False
        result = asyncio.run(self._poll(max_pages))
        completed = (
            result is not None and result.polls[0].success and "offset" not in self._state_extra()
        )
        after = self._tombstones()
        if not completed:
            event("a poll that completed no snapshot")
            assert set(after) <= set(before), "a snapshot cut short tombstoned something"
        elif not self.changed_since_walk_began:
            event("a snapshot that no change overtook completed")
            live = {k for k, row in rows_of(*self._where()).items() if row.deleted_at is None}
            assert live == {key(t) for t in self.platform.tracks}
        # The next poll is due once time has moved on (a dead run's lease, once it has lapsed).
        lapse = self.job.settings.lease_seconds + 1 if self.platform.died else 1
        asyncio.run(self.job.clock.sleep(lapse))

    async def _poll(self, max_pages: int) -> PollResult | None:
        self.job.settings = replace(self.job.settings, max_pages=max_pages)
        async with self.job.deps(self.platform) as deps:
            self.platform.run = asyncio.ensure_future(run_poll(deps, OPTIONS))
            with contextlib.suppress(asyncio.CancelledError):
                return await asyncio.wait_for(self.platform.run, HANG)
        return None

    # -- what always holds ---------------------------------------------------------------------

    @invariant()
    def each_removal_is_tombstoned_once(self) -> None:
        gone = self._tombstones()
        for item, when in gone.items():
            assert self.first_gone.setdefault(item, when) == when, "tombstoned again"
        for item in set(self.first_gone) - set(gone):
            del self.first_gone[item]  # it came back: a later removal is a new one

    def _where(self) -> tuple[str, str, str, str]:
        return (self.job.url, "u1", "spotify", "top_tracks")

    def _tombstones(self) -> dict[str, datetime]:
        rows = rows_of(*self._where()).items()
        return {k: row.deleted_at for k, row in rows if row.deleted_at is not None}

    def _state_extra(self) -> dict[str, object]:
        store = open_store(self.job.url)
        try:
            state = store.sync_states("u1", "spotify").get("top_tracks")
        finally:
            store.close()
        return state.extra if state is not None else {}


SnapshotMirror.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_a_snapshot_endpoint_mirrors_the_platform = SnapshotMirror.TestCase
