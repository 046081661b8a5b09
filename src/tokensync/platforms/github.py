"""GitHub: a user's events (ETag, X-Poll-Interval) and repositories (Link pages)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from tokensync.platforms.base import Api, ApiResponse, Batch, Item, PollContext, SyncState
from tokensync.platforms.shapes import field_of, key_of, objects

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def next_link(response: ApiResponse) -> str | None:
    """The rel="next" URL of a Link header."""
    match = _NEXT.search(response.headers.get("link", ""))
    return match.group(1) if match else None


async def login_of(api: Api, state: SyncState) -> str:
    """The user's login, from the state or GET /user."""
    login = state.extra.get("login")
    if isinstance(login, str) and login:
        return login
    body = (await api.get("/user")).body
    return str(field_of(body, "login", str, "github user"))


class Events:
    """GET /users/{login}/events: a 304 costs nothing; X-Poll-Interval is obeyed."""

    name = "events"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield events newer than the stored ETag, stopping at known ones."""
        where = "github events"
        not_before = state.extra.get("notBefore")
        if isinstance(not_before, str) and ctx.now() < datetime.fromisoformat(not_before):
            yield Batch([], state)
            return
        login = await login_of(api, state)
        headers = {"If-None-Match": state.etag} if state.etag else {}
        response = await api.get(f"/users/{login}/events", {"per_page": 100}, headers)
        extra: dict[str, Any] = {"login": login, **_poll_interval(response, ctx)}
        if response.status == 304:
            yield Batch([], SyncState(cursor=state.cursor, etag=state.etag, extra=extra))
            return
        new_etag = response.headers.get("etag")
        for page in range(1, ctx.max_pages + 1):
            events = objects(response.body, where)
            items = [Item(key_of(e, "id", where), e) for e in events]
            known = await ctx.known_keys([i.key for i in items]) if items else set()
            link = next_link(response)
            last = not link or bool(known) or page == ctx.max_pages
            # The ETag moves only with the last page: a run cut short fetches them all again.
            etag = new_etag if last else state.etag
            yield Batch(items, SyncState(cursor=state.cursor, etag=etag, extra=extra))
            if last:
                return
            response = await api.get_url(str(link))


def _poll_interval(response: ApiResponse, ctx: PollContext) -> dict[str, str]:
    try:
        seconds = int(response.headers.get("x-poll-interval", ""))
    except ValueError:
        return {}
    return {"notBefore": (ctx.now() + timedelta(seconds=seconds)).isoformat()}


class Repos:
    """GET /user/repos, every page: a snapshot, so a changed repository is an update."""

    name = "repos"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield the user's repositories, most recently updated first."""
        where = "github repos"
        response = await api.get("/user/repos", {"per_page": 100, "sort": "updated"})
        for page in range(1, ctx.max_pages + 1):
            repos = objects(response.body, where)
            yield Batch([Item(key_of(r, "id", where), r) for r in repos], state)
            link = next_link(response)
            if not link or page == ctx.max_pages:
                return
            response = await api.get_url(link)
