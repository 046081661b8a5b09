"""YouTube: the videos a user liked, newest first, until a known one."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from tokensync.platforms.api import Api
from tokensync.platforms.endpoint import Batch, Item, PollContext, SyncState
from tokensync.platforms.paging import Page, newest_first
from tokensync.platforms.shapes import field_of, key_of, objects, optional


class LikedVideos:
    """GET /videos?myRating=like, page tokens; a first sync longer than a run resumes."""

    name = "liked_videos"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield new likes, then carry on an unfinished walk (a long first sync)."""
        resume = state.extra.get("resume")
        pending = resume if isinstance(resume, str) else None
        fetch = functools.partial(_page, api, ctx)
        async for batch in newest_first(fetch, pending, ctx.max_pages, _state):
            yield batch


async def _page(api: Api, ctx: PollContext, token: str | None) -> Page:
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
    known = await ctx.known_keys([i.key for i in items]) if items else set()
    return items, optional(body, "nextPageToken", str, where), bool(known)


def _state(resume: object) -> SyncState:
    return SyncState(extra={"resume": resume} if isinstance(resume, str) else {})
