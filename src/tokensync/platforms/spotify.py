"""Spotify: recently played tracks (an `after` cursor) and top tracks (a snapshot)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from tokensync.errors import MalformedResponseError
from tokensync.platforms.api import Api
from tokensync.platforms.endpoint import Batch, Item, PollContext, SyncState, Walk
from tokensync.platforms.shapes import field_of, objects, optional

_MILLIS = re.compile(r"\d{1,15}")
PAGE = 50  # the API's maximum for both endpoints


def checked_millis(value: object, where: str) -> str:
    """A Spotify cursor: milliseconds since the epoch, as digits."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _MILLIS.fullmatch(text):
        raise MalformedResponseError(f"{where}: cursor is not a number of milliseconds")
    return text


def track_key(track: dict[str, Any], where: str) -> str:
    """A track's id; a local file has none, so its URI stands in."""
    if track.get("is_local") is True and track.get("id") is None:
        return str(field_of(track, "uri", str, where))
    return str(field_of(track, "id", str, where))


class RecentlyPlayed:
    """GET /me/player/recently-played, after the stored cursor, following `next` pages."""

    name = "recently_played"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield played tracks; the cursor moves to the newest one when all pages are in."""
        where = "spotify recently_played"
        params: dict[str, str | int] = {"limit": PAGE}
        if state.cursor:
            params["after"] = checked_millis(state.cursor, where)
        response = await api.get("/me/player/recently-played", params)
        newest = int(state.cursor) if state.cursor else 0
        for page in range(1, ctx.max_pages + 1):
            body = response.body
            items = []
            for play in objects(field_of(body, "items", list, where), where):
                played_at = field_of(play, "played_at", str, where)
                track_id = track_key(field_of(play, "track", dict, where), where)
                items.append(Item(f"{played_at}:{track_id}", play))
            cursors = optional(body, "cursors", dict, where) or {}
            if cursors.get("after") is not None:
                newest = max(newest, int(checked_millis(cursors["after"], where)))
            next_url = optional(body, "next", str, where)
            last = not next_url or not items or page == ctx.max_pages
            done = last and not (next_url and items)
            cursor = str(newest) if done and newest else state.cursor
            yield Batch(items, SyncState(cursor=cursor), final=last)
            if last:
                return
            response = await api.get_url(str(next_url))


class TopTracks:
    """GET /me/top/tracks (short term), a snapshot: a changed rank is an update, a track that left
    the list is tombstoned once the whole list has been read."""

    name = "top_tracks"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield the user's top tracks with their rank; a run cut short resumes at its offset."""
        where = "spotify top_tracks"
        resume = state.extra.get("offset")
        offset = resume if isinstance(resume, int) and resume > 0 else 0
        begins = offset == 0
        for page in range(1, ctx.max_pages + 1):
            params: dict[str, str | int] = {
                "time_range": "short_term",
                "limit": PAGE,
                "offset": offset,
            }
            body = (await api.get("/me/top/tracks", params)).body
            tracks = objects(field_of(body, "items", list, where), where)
            items = [
                Item(
                    track_key(track, where),
                    {"rank": offset + index + 1, "timeRange": "short_term", "track": track},
                )
                for index, track in enumerate(tracks)
            ]
            offset += len(tracks)
            more = bool(tracks) and optional(body, "next", str, where) is not None
            walk = Walk("absent_from_snapshot", begins=begins, ends=not more)
            final = not more or page == ctx.max_pages
            extra = {"offset": offset} if more else {}
            yield Batch(items, SyncState(extra=extra), walk=walk, final=final)
            begins = False
            if final:
                return
