"""GitHub: a user's events (ETag, X-Poll-Interval) and repositories (Link pages)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from tokensync.errors import MalformedResponseError
from tokensync.platforms.api import Api, ApiResponse
from tokensync.platforms.endpoint import Batch, Item, PollContext, SyncState, Walk
from tokensync.platforms.paging import Page, newest_first
from tokensync.platforms.shapes import field_of, instant_of, key_of, objects, optional

# Oldest first: a repository pushed to keeps its place and a new one comes last, so a walk over
# several pages (or runs) meets each one once. Sorted by `updated` (newest first), a repository
# pushed to while a later page was read jumped to the first page, and the walk missed it.
REPOS_QUERY: dict[str, str | int] = {"per_page": 100, "sort": "created", "direction": "asc"}
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


def next_link(response: ApiResponse) -> str | None:
    """The rel="next" URL of a Link header."""
    match = _NEXT.search(response.headers.get("link", ""))
    return match.group(1) if match else None


async def login_of(api: Api, state: SyncState, ctx: PollContext | None = None) -> str:
    """The user's login, from the state or GET /user; a GET /user also hands the account's id to
    `ctx` (providerUserId), and is made for it when the connection has none stored."""
    login = state.extra.get("login")
    unknown = ctx is not None and not ctx.account_known
    if not isinstance(login, str) or not login or unknown:
        user = (await api.get("/user")).body
        login = field_of(user, "login", str, "github user")
        account = optional(user, "id", int, "github user")
        if ctx is not None and account is not None:
            await ctx.learned_account(str(account))
    # It goes into a URL path: a login is letters, digits and hyphens, nothing else.
    if not _LOGIN.fullmatch(login):
        raise MalformedResponseError("github user: field 'login' is not a GitHub login")
    return str(login)


def _pending(extra: Mapping[str, Any]) -> str | None:
    value = extra.get("next")
    return value if isinstance(value, str) and value else None


class Events:
    """GET /users/{login}/events: a 304 costs nothing; X-Poll-Interval is obeyed.

    New events are read from the top until a page holds a known one. A walk that stops early
    (max_pages, a crash) carries on from extra["next"] in the next run, even after a 304.
    """

    name = "events"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield events newer than the stored ETag, then the rest of an unfinished walk."""
        not_before = instant_of(state.extra.get("notBefore"))
        if not_before is not None and ctx.now() < not_before:
            yield Batch([], state)
            return
        login, first = await self._first(api, state, ctx)
        extra: dict[str, Any] = {"login": login, **_poll_interval(first, ctx)}
        unchanged = first.status == 304
        # The new ETag is stored with the first page; what that leaves unread is in extra["next"].
        etag = state.etag if unchanged else first.headers.get("etag") or None
        pending = _pending(state.extra)
        if unchanged and pending is None:
            yield Batch([], SyncState(etag=etag, extra=extra))
            return

        async def fetch(link: str | None) -> Page:
            response = first if link is None else await api.get_url(link)
            where = "github events"
            items = [Item(key_of(e, "id", where), e) for e in objects(response.body, where)]
            known = await ctx.known_keys([i.key for i in items]) if items else set()
            return items, next_link(response), bool(known)

        def state_for(link: str | None) -> SyncState:
            return SyncState(etag=etag, extra={**extra, "next": link} if link else extra)

        walk = newest_first(fetch, pending, ctx.max_pages, state_for, from_top=not unchanged)
        async for batch in walk:
            yield batch

    async def _first(self, api: Api, state: SyncState, ctx: PollContext) -> tuple[str, ApiResponse]:
        login = await login_of(api, state, ctx)
        headers = {"If-None-Match": state.etag} if state.etag else {}
        cached = "login" in state.extra
        response = await api.get(
            f"/users/{login}/events", {"per_page": 100}, headers, expect=(404,) if cached else ()
        )
        if response.status == 404:
            # The user renamed their account: look the login up again, once.
            login = await login_of(api, SyncState())
            response = await api.get(f"/users/{login}/events", {"per_page": 100})
        return login, response


def _poll_interval(response: ApiResponse, ctx: PollContext) -> dict[str, str]:
    try:
        seconds = int(response.headers.get("x-poll-interval", ""))
    except ValueError:
        return {}
    return {"notBefore": (ctx.now() + timedelta(seconds=seconds)).isoformat()}


class Repos:
    """GET /user/repos, every page: a snapshot, so a changed repository is an update and one
    that is gone (deleted, transferred, access lost) is tombstoned once every page is read."""

    name = "repos"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield the user's repositories; a run cut short resumes at extra["next"]."""
        where = "github repos"
        link = _pending(state.extra)
        begins = link is None
        for page in range(1, max(ctx.max_pages, 1) + 1):
            if link is None:
                response = await api.get("/user/repos", REPOS_QUERY)
            else:
                response = await api.get_url(link)
            repos = objects(response.body, where)
            link = next_link(response)
            pending = {"next": link} if link else {}
            walk = Walk("absent_from_snapshot", begins=begins, ends=link is None)
            items = [Item(key_of(r, "id", where), r) for r in repos]
            final = not link or page == ctx.max_pages
            yield Batch(items, SyncState(extra=pending), walk=walk, final=final)
            begins = False
            if final:
                return
