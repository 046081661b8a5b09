"""Gmail messages (history from a historyId) and Google Calendar events (sync tokens)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tokensync.platforms.base import Api, Batch, Item, PollContext, SyncState
from tokensync.platforms.shapes import field_of, key_of, objects, optional

_METADATA_CONCURRENCY = 8


class GmailMessages:
    """history.list from the stored historyId; a 404 (too old) means a full list again."""

    name = "messages"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield the metadata of messages added since the stored historyId."""
        if state.cursor and not state.extra.get("fullSync"):
            async for batch in self._history(api, state, ctx):
                if batch is None:
                    break  # the historyId is too old: list everything again
                yield batch
            else:
                return
        async for batch in self._full(api, state, ctx):
            yield batch

    async def _history(
        self, api: Api, state: SyncState, ctx: PollContext
    ) -> AsyncIterator[Batch | None]:
        where = "gmail history"
        token: str | None = None
        for page in range(1, ctx.max_pages + 1):
            params: dict[str, str | int] = {
                "startHistoryId": str(state.cursor),
                "historyTypes": "messageAdded",
                "maxResults": 500,
            }
            if token:
                params["pageToken"] = token
            response = await api.get("/users/me/history", params, expect=(404,))
            if response.status == 404:
                yield None
                return
            body = response.body
            ids = [
                key_of(field_of(added, "message", dict, where), "id", where)
                for record in objects(optional(body, "history", list, where) or [], where)
                for added in objects(record.get("messagesAdded") or [], where)
            ]
            items = await _metadata(api, ctx, ids)
            token = optional(body, "nextPageToken", str, where)
            history_id = str(field_of(body, "historyId", (str, int), where))
            last = token is None or page == ctx.max_pages
            # The cursor moves with the last page only: a run cut short repeats the history.
            yield Batch(items, SyncState(cursor=history_id if token is None else state.cursor))
            if last:
                return

    async def _full(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        where = "gmail messages"
        extra = dict(state.extra) if state.extra.get("fullSync") else {}
        if "historyId" not in extra:
            profile = (await api.get("/users/me/profile")).body
            # Taken before listing, so nothing that arrives during the listing is missed.
            extra = {
                "fullSync": True,
                "historyId": str(field_of(profile, "historyId", (str, int), where)),
            }
        token = extra.get("pageToken")
        for page in range(1, ctx.max_pages + 1):
            params: dict[str, str | int] = {"maxResults": 100}
            if isinstance(token, str):
                params["pageToken"] = token
            body = (await api.get("/users/me/messages", params)).body
            listed = objects(optional(body, "messages", list, where) or [], where)
            items = await _metadata(api, ctx, [key_of(m, "id", where) for m in listed])
            token = optional(body, "nextPageToken", str, where)
            if token is None:
                yield Batch(items, SyncState(cursor=extra["historyId"]))
                return
            extra = {**extra, "pageToken": token}
            yield Batch(items, SyncState(cursor=state.cursor, extra=extra))
            if page == ctx.max_pages:
                return


async def _metadata(api: Api, ctx: PollContext, ids: Sequence[str]) -> list[Item]:
    """GET each message not stored yet, a few at a time (a message deleted since is skipped)."""
    unique = list(dict.fromkeys(ids))
    known = await ctx.known_keys(unique) if unique else set()
    wanted = [i for i in unique if i not in known]
    limit = asyncio.Semaphore(_METADATA_CONCURRENCY)

    async def fetch(message_id: str) -> Item | None:
        async with limit:
            response = await api.get(
                f"/users/me/messages/{message_id}",
                [
                    ("format", "metadata"),
                    ("metadataHeaders", "From"),
                    ("metadataHeaders", "Subject"),
                    ("metadataHeaders", "Date"),
                ],
                expect=(404,),
            )
        if response.status == 404:
            return None
        return Item(field_of(response.body, "id", str, "gmail message"), response.body)

    found = await asyncio.gather(*(fetch(i) for i in wanted))
    return [item for item in found if item is not None]


class CalendarEvents:
    """events.list with a syncToken; 410 Gone drops it for a full sync; cancellations update."""

    name = "events"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield changed events; the sync token moves with the last page."""
        extra: dict[str, Any] = dict(state.extra)
        sync_token = state.cursor
        token = extra.get("pageToken")
        for page in range(1, ctx.max_pages + 1):
            params: dict[str, str | int] = {"maxResults": 250}
            if sync_token:
                params["syncToken"] = sync_token
            else:
                params["singleEvents"] = "true"
            if isinstance(token, str):
                params["pageToken"] = token
            response = await api.get("/calendars/primary/events", params, expect=(410,))
            if response.status == 410:
                # The sync token expired: drop it and start over with a full sync.
                sync_token, token = None, None
                continue
            body = response.body
            where = "calendar events"
            events = objects(field_of(body, "items", list, where), where)
            items = [Item(key_of(e, "id", where), e) for e in events]
            token = optional(body, "nextPageToken", str, where)
            if token is None:
                final = str(field_of(body, "nextSyncToken", str, where))
                yield Batch(items, SyncState(cursor=final))
                return
            partial = {"pageToken": token}
            yield Batch(items, SyncState(cursor=sync_token, extra=partial))
            if page == ctx.max_pages:
                return
