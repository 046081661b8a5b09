"""Gmail messages (history from a historyId) and Google Calendar events (sync tokens)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence

from tokensync.errors import MalformedResponseError
from tokensync.platforms.api import Api
from tokensync.platforms.endpoint import Batch, Item, PollContext, SyncState, Walk
from tokensync.platforms.gmail_history import HISTORY_TYPES, Changes, changes_of, relabelled
from tokensync.platforms.shapes import field_of, key_of, objects, optional

_METADATA_CONCURRENCY = 8
_DIGITS = re.compile(r"\d{1,20}")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # it goes into a URL path


class GmailMessages:
    """history.list from the stored historyId; a 404 (too old) means a full list again.

    History brings added messages (their metadata is fetched), deleted ones (tombstoned) and label
    changes (applied to the stored copy). The full list is a walk: the page that ends it
    tombstones the stored messages it did not list.
    """

    name = "messages"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield the changes to messages since the stored historyId."""
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
        start = cursor = history_id(state.cursor, where)
        for page in range(1, ctx.max_pages + 1):
            params: list[tuple[str, str | int | float | bool | None]] = [
                ("startHistoryId", start),
                *(("historyTypes", kind) for kind in HISTORY_TYPES),
                ("maxResults", 500),
            ]
            if token:
                params.append(("pageToken", token))
            response = await api.get("/users/me/history", params, expect=(404,))
            if response.status == 404:
                yield None
                return
            body = response.body
            records = objects(optional(body, "history", list, where) or [], where)
            changes = changes_of(records, where)
            newest = field_of(body, "historyId", (str, int), where)
            token = optional(body, "nextPageToken", str, where)
            if token is not None:
                # Records come oldest first: the page's last one is where the next run starts.
                newest = field_of(records[-1], "id", (str, int), where) if records else cursor
            cursor = history_id(newest, where)
            items = await _brought_up_to_date(api, ctx, changes)
            yield Batch(items, SyncState(cursor=cursor), deleted=list(changes.deleted))
            if token is None or page == ctx.max_pages:
                return

    async def _full(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        where = "gmail messages"
        extra = dict(state.extra) if state.extra.get("fullSync") else {}
        begins = "historyId" not in extra
        if begins:
            profile = (await api.get("/users/me/profile")).body
            # Taken before listing, so nothing that arrives during the listing is missed.
            extra = {
                "fullSync": True,
                "historyId": history_id(field_of(profile, "historyId", (str, int), where), where),
            }
        token = extra.get("pageToken")
        for page in range(1, ctx.max_pages + 1):
            # The trash and spam too: a trashed message is still there (history says so with a
            # TRASH label), so a re-list must not tombstone it.
            params: dict[str, str | int] = {"maxResults": 100, "includeSpamTrash": "true"}
            if isinstance(token, str):
                params["pageToken"] = token
            body = (await api.get("/users/me/messages", params)).body
            listed = objects(optional(body, "messages", list, where) or [], where)
            ids = list(dict.fromkeys(key_of(m, "id", where) for m in listed))
            known = await ctx.known_keys(ids) if ids else set()
            items = await _metadata(api, [i for i in ids if i not in known])
            seen = [i for i in ids if i in known]
            token = optional(body, "nextPageToken", str, where)
            walk = Walk("absent_after_resync", begins=begins, ends=token is None)
            begins = False
            if token is None:
                cursor = history_id(extra["historyId"], where)
                yield Batch(items, SyncState(cursor=cursor), seen=seen, walk=walk)
                return
            extra = {**extra, "pageToken": token}
            yield Batch(items, SyncState(cursor=state.cursor, extra=extra), seen=seen, walk=walk)
            if page == ctx.max_pages:
                return


async def _brought_up_to_date(api: Api, ctx: PollContext, changes: Changes) -> list[Item]:
    """Added messages not stored yet (and relabelled ones never stored) fetched; relabelled
    stored ones with their label changes applied."""
    touched = changes.touched()
    known = await ctx.known_keys(touched) if touched else set()
    # A fetched copy is current: the page's label changes are already in it.
    items = await _metadata(api, [i for i in touched if i not in known])
    relabel = [i for i in changes.labels if i in known and i not in changes.deleted]
    stored = await ctx.stored_data(relabel) if relabel else {}
    for message_id, data in stored.items():
        updated = relabelled(data, changes.labels[message_id])
        if updated != data:
            items.append(Item(message_id, updated))
    return items


async def _metadata(api: Api, ids: Sequence[str]) -> list[Item]:
    """GET each message, a few at a time (a message deleted since is skipped)."""
    if not all(_MESSAGE_ID.fullmatch(i) for i in ids):
        raise MalformedResponseError("gmail messages: a message id is not an id")
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

    tasks = [asyncio.create_task(fetch(i)) for i in ids]
    try:
        found = await asyncio.gather(*tasks)
    except BaseException:
        # One failure fails the page: stop the other requests rather than leave them running.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [item for item in found if item is not None]


def history_id(value: object, where: str) -> str:
    """A Gmail historyId: an unsigned 64-bit number, as digits."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        raise MalformedResponseError(f"{where}: historyId is not a number")
    return text


class CalendarEvents:
    """events.list with a syncToken; 410 Gone drops it for a full sync; cancellations tombstone.

    A sync without a token (the first, or the one after a 410) lists every event: it is a walk,
    and the page that ends it (the one with nextSyncToken) tombstones what it did not list.
    """

    name = "events"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield changed events; the sync token moves with the last page."""
        where = "calendar events"
        sync_token = state.cursor
        token = state.extra.get("pageToken")
        begins = not sync_token and not isinstance(token, str)
        page = reset = 0
        while page < max(ctx.max_pages, 1):
            params: dict[str, str | int] = {"maxResults": 250}
            if sync_token:
                params["syncToken"] = sync_token  # no other filter may go with it
            else:
                params["singleEvents"] = "true"
            if isinstance(token, str):
                params["pageToken"] = token
            response = await api.get("/calendars/primary/events", params, expect=(410,))
            if response.status == 410:
                if reset:
                    raise MalformedResponseError(f"{where}: 410 Gone without a sync token")
                # The sync token expired: drop it and start over with a full sync, now.
                sync_token, token, reset, begins = None, None, 1, True
                continue
            page += 1
            body = response.body
            events = objects(field_of(body, "items", list, where), where)
            keys = [(key_of(e, "id", where), e) for e in events]
            # A cancelled event is deleted at the source: its stored copy is tombstoned, not
            # overwritten by the few fields a cancellation carries.
            items = [Item(key, e) for key, e in keys if e.get("status") != "cancelled"]
            cancelled = [key for key, e in keys if e.get("status") == "cancelled"]
            token = optional(body, "nextPageToken", str, where)
            walk = None
            if not sync_token:
                walk = Walk("absent_after_resync", begins=begins, ends=token is None)
                begins = False
            if token is None:
                final = str(field_of(body, "nextSyncToken", str, where))
                yield Batch(items, SyncState(cursor=final), deleted=cancelled, walk=walk)
                return
            extra = {"pageToken": token}
            yield Batch(
                items, SyncState(cursor=sync_token, extra=extra), deleted=cancelled, walk=walk
            )
