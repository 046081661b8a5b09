"""YouTube: the videos a user liked, newest first, until a known one; the whole list now and then.

Reading to the first known video finds every new like, never an unlike. So once every
`reconcile_interval` the whole list is walked (a walk: its last page tombstones what it did not
see), over several runs if it is long. State (`extra`): `resume`, the page token where a walk to the
end of the list carries on; `reconciling`, that this walk is a reconcile; `reconciledAt`, when
the last one ended.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta

from tokensync.platforms.api import Api
from tokensync.platforms.endpoint import Batch, Item, PollContext, SyncState, Walk
from tokensync.platforms.paging import Page, newest_first
from tokensync.platforms.shapes import field_of, instant_of, key_of, objects, optional

KnownKeys = Callable[[Sequence[str]], Awaitable[set[str]]]


class LikedVideos:
    """GET /videos?myRating=like, page tokens; a first sync longer than a run resumes."""

    name = "liked_videos"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield new likes and carry on an unfinished walk; walk the whole list when it is due."""
        resume = state.extra.get("resume")
        pending = resume if isinstance(resume, str) else None
        reconciled = state.extra.get("reconciledAt")
        if pending is not None and state.extra.get("reconciling") is True:
            # A reconcile under way: the likes since, from the top, then on from where it stopped.
            # With one page a run the top page would take it every time and the walk never end:
            # it moves on instead, and the likes since wait for the incremental reads after it.
            fetch = _fetch(api, ctx.known_keys)
            from_top = ctx.max_pages > 1
            walk = newest_first(fetch, pending, ctx.max_pages, _walking, from_top=from_top)
            begins = False
        elif _reconcile_due(reconciled, ctx):
            # The first sync too: nothing is known, and the walk reads to the end of the list.
            walk = newest_first(_fetch(api, None), None, ctx.max_pages, _walking)
            begins = True
        else:

            def incremental(token: str | None) -> SyncState:
                return _state(token, reconciled)

            fetch = _fetch(api, ctx.known_keys)
            async for batch in newest_first(fetch, pending, ctx.max_pages, incremental):
                yield batch
            return
        async for batch in walk:
            ends = "resume" not in batch.state.extra
            done = SyncState(extra={"reconciledAt": ctx.now().isoformat()})
            yield Batch(
                batch.items,
                done if ends else batch.state,
                walk=Walk("absent_from_snapshot", begins=begins, ends=ends),
            )
            begins = False


def _reconcile_due(reconciled: object, ctx: PollContext) -> bool:
    last = instant_of(reconciled)
    return last is None or ctx.now() - last >= timedelta(seconds=ctx.reconcile_interval)


def _fetch(api: Api, known_keys: KnownKeys | None) -> Callable[[str | None], Awaitable[Page]]:
    """A page reader; without known_keys no video counts as known (a walk reads on to the end)."""
    return functools.partial(_page, api, known_keys)


async def _page(api: Api, known_keys: KnownKeys | None, token: str | None) -> Page:
    where = "youtube liked_videos"
    params: dict[str, str | int] = {
        "myRating": "like",
        "part": "snippet,contentDetails",
        "maxResults": 50,
    }
    if token:
        params["pageToken"] = token
    body = (await api.get("/videos", params)).body
    videos = objects(field_of(body, "items", list, where), where)
    items = [Item(key_of(v, "id", where), v) for v in videos]
    known = await known_keys([i.key for i in items]) if items and known_keys else set()
    return items, optional(body, "nextPageToken", str, where), bool(known)


def _state(resume: object, reconciled: object) -> SyncState:
    extra: dict[str, object] = {"resume": resume} if isinstance(resume, str) else {}
    if isinstance(reconciled, str):
        extra["reconciledAt"] = reconciled
    return SyncState(extra=extra)


def _walking(resume: str | None) -> SyncState:
    return SyncState(extra={"resume": resume, "reconciling": True} if resume else {})
