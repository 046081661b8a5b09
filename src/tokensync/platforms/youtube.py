"""YouTube: the videos a user liked, newest first, until a known one."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tokensync.platforms.base import Api, Batch, Item, PollContext, SyncState
from tokensync.platforms.shapes import field_of, key_of, objects, optional


class LikedVideos:
    """GET /videos?myRating=like, page tokens; a first sync longer than a run resumes."""

    name = "liked_videos"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield new likes; then carry on an unfinished backfill."""
        budget = ctx.max_pages
        resume = state.extra.get("resume")
        token: str | None = None
        # New likes first: newest first, stop at the first page that holds a known video.
        while budget > 0:
            budget -= 1
            items, token, known = await self._page(api, ctx, token)
            stop = bool(known) or token is None
            # An unfinished first sync resumes here next run; otherwise keep what is pending.
            pending = token if not stop and budget == 0 and resume is None else resume
            yield Batch(items, _state(pending))
            if stop or budget == 0:
                break
        # Then an unfinished first sync, from where it stopped.
        token = resume if isinstance(resume, str) else None
        while token and budget > 0:
            budget -= 1
            items, token, _ = await self._page(api, ctx, token)
            yield Batch(items, _state(token))

    async def _page(
        self, api: Api, ctx: PollContext, token: str | None
    ) -> tuple[list[Item], str | None, set[str]]:
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
        return items, optional(body, "nextPageToken", str, where), known


def _state(resume: object) -> SyncState:
    return SyncState(extra={"resume": resume} if isinstance(resume, str) else {})
