"""Spotify, GitHub and Discord API stand-ins: Bearer auth, cursor, offset and Link pages, ETags."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from yarl import URL

from bench.standins import shapes
from bench.standins.tokens import Caller, user_number

SPOTIFY_MAX, GITHUB_MAX, GITHUB_EVENTS_MAX, DISCORD_MAX = 50, 100, 300, 200
UNAUTHORIZED = {
    "spotify": {"error": {"status": 401, "message": "Invalid access token"}},
    "github": {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    },
    "discord": {"message": "401: Unauthorized", "code": 0},
}
EXPIRED = {"spotify": {"error": {"status": 401, "message": "The access token expired"}}}
_LOGIN = re.compile(r"user([1-9]\d{0,9})")


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered answer: status, JSON body bytes, extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, status: int, body: Any, items: str | None = None) -> Page:
        """A page from a JSON-able body; `items` is JSON text for its last key, set to None."""
        text = shapes.dumps(body)
        if items is not None:
            # The body's last key is "items": null; splice the pre-serialized list in.
            if not text.endswith('"items":null}'):
                raise ValueError("items must be the last key, set to None")
            text = text.removesuffix("null}") + items + "}"
        return cls(status, text.encode())


class BadRequest(Exception):
    """A query parameter the real API would refuse."""


def _int(query: MultiDictProxy[str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"Invalid {name} value")
    return int(raw)


def spotify_recently_played(url: URL, user: int, items: int, page_size: int) -> Page:
    """CursorPagingPlayHistoryObject: newest first; `after` pages forward, `before` back."""
    query = url.query
    limit = min(_int(query, "limit", 20, 1, SPOTIFY_MAX), page_size)
    after, before = query.get("after"), query.get("before")
    if after is not None and before is not None:
        raise BadRequest("Only one of after and before may be given")
    cursor = after if after is not None else before
    if cursor is not None and not cursor.isdigit():
        raise BadRequest("Invalid cursor")
    plays = [(shapes.spotify_played_ms(user, index), index) for index in range(items)]
    if after is not None:
        # The plays just after the cursor, oldest first taken, shown newest first.
        newer = [play for play in plays if play[0] > int(after)]
        page, more = newer[max(0, len(newer) - limit) :], len(newer) > limit
        link = {"after": page[0][0]} if page else {}
    else:
        older = [play for play in plays if before is None or play[0] < int(before)]
        page, more = older[:limit], len(older) > limit
        link = {"before": page[-1][0]} if page else {}
    next_url = str(url.with_query({**link, "limit": limit})) if more and page else None
    cursors = {"after": str(page[0][0]), "before": str(page[-1][0])} if page else None
    body = {
        "href": str(url),
        "limit": limit,
        "next": next_url,
        "cursors": cursors,
        "total": items,
        "items": None,
    }
    plays_json = ",".join(shapes.spotify_play_json(user, index) for _, index in page)
    return Page.of(200, body, items=f"[{plays_json}]")


def spotify_top_tracks(url: URL, user: int, items: int, page_size: int) -> Page:
    """PagingTrackObject with offset pages."""
    query = url.query
    if query.get("time_range", "medium_term") not in ("short_term", "medium_term", "long_term"):
        raise BadRequest("Invalid time range")
    limit = min(_int(query, "limit", 20, 1, SPOTIFY_MAX), page_size)
    offset = _int(query, "offset", 0, 0, 10**6)
    tracks = ",".join(
        shapes.spotify_track_json(shapes.spotify_top_track_number(user, i))
        for i in range(offset, min(items, offset + limit))
    )

    def at(start: int) -> str:
        return str(url.update_query(limit=limit, offset=start))

    return Page.of(
        200,
        {
            "href": str(url),
            "limit": limit,
            "next": at(offset + limit) if offset + limit < items else None,
            "offset": offset,
            "previous": at(max(0, offset - limit)) if offset > 0 else None,
            "total": items,
            "items": None,
        },
        items=f"[{tracks}]",
    )


def _github_page(url: URL, total: int, page_size: int) -> tuple[range, str | None]:
    """The indices on the requested page and the Link header for the others."""
    per_page = min(_int(url.query, "per_page", 30, 1, GITHUB_MAX), page_size)
    page = _int(url.query, "page", 1, 1, 10**6)
    last = max(1, -(-total // per_page))
    rels = {"prev": page - 1, "next": page + 1, "last": last, "first": 1}
    links = [
        f'<{url.update_query(per_page=per_page, page=number)}>; rel="{rel}"'
        for rel, number in rels.items()
        if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last)
    ]
    start = (page - 1) * per_page
    return range(start, min(total, start + per_page)), ", ".join(links) or None


def _github(text: str, link: str | None, **headers: str) -> Page:
    payload = text.encode()
    headers["ETag"] = f'W/"{hashlib.blake2b(payload, digest_size=16).hexdigest()}"'
    headers["Cache-Control"] = "private, max-age=60"
    if link:
        headers["Link"] = link
    return Page(200, payload, tuple(headers.items()))


def github_user(url: URL, user: int, items: int, page_size: int) -> Page:
    """The authenticated user."""
    return _github(shapes.dumps(shapes.github_user(user, items)), None)


def github_events(url: URL, user: int, items: int, page_size: int) -> Page:
    """A user's events, newest first, at most 300, with X-Poll-Interval."""
    match = _LOGIN.fullmatch(url.parts[-2])
    owner = int(match.group(1)) if match else user_number(url.parts[-2])
    indices, link = _github_page(url, min(items, GITHUB_EVENTS_MAX), page_size)
    return _github(shapes.github_json("event", owner, indices), link, **{"X-Poll-Interval": "60"})


def github_repos(url: URL, user: int, items: int, page_size: int) -> Page:
    """The user's repositories, most recently updated first, in Link pages."""
    indices, link = _github_page(url, items, page_size)
    return _github(shapes.github_json("repo", user, indices), link)


def discord_guilds(url: URL, user: int, items: int, page_size: int) -> Page:
    """The user's guilds by ascending id; `after`/`before` snowflakes and `limit` (max 200)."""
    query = url.query
    limit = _int(query, "limit", DISCORD_MAX, 1, DISCORD_MAX)
    with_counts = query.get("with_counts", "false").lower() == "true"
    guilds = [shapes.discord_guild(user, i, with_counts) for i in range(min(items, DISCORD_MAX))]
    for name, keep in (("after", int.__gt__), ("before", int.__lt__)):
        if (bound := query.get(name)) is not None:
            if not bound.isdigit():
                raise BadRequest(f"Invalid {name}")
            guilds = [g for g in guilds if keep(int(g["id"]), int(bound))]
    chosen = guilds[-limit:] if "before" in query and "after" not in query else guilds[:limit]
    return Page.of(200, chosen)


Renderer = Callable[[URL, int, int, int], Page]
ROUTES: tuple[tuple[str, str, Renderer], ...] = (
    ("spotify", "/spotify/v1/me/player/recently-played", spotify_recently_played),
    ("spotify", "/spotify/v1/me/top/tracks", spotify_top_tracks),
    ("github", "/github/user", github_user),
    ("github", "/github/users/{login}/events", github_events),
    ("github", "/github/user/repos", github_repos),
    ("discord", "/discord/api/v10/users/@me/guilds", discord_guilds),
)


@lru_cache(maxsize=512)  # pages run to ~100 KB: bounded memory, re-polls still hit
def render(renderer: Renderer, platform: str, url: URL, user: int, items: int, size: int) -> Page:
    """A page, cached: the data is a pure function of these arguments."""
    try:
        return renderer(url, user, items, size)
    except BadRequest as exc:
        if platform == "spotify":
            return Page.of(400, {"error": {"status": 400, "message": str(exc)}})
        if platform == "github":
            return Page.of(422, {"message": str(exc), "status": "422"})
        return Page.of(400, {"message": str(exc), "code": 50035})


def respond(page: Page, if_none_match: str | None) -> web.Response:
    """The HTTP response for a page; a matching If-None-Match gets a bodyless 304."""
    headers = dict(page.headers)
    etag = headers.get("ETag")
    if etag and if_none_match and _matches(if_none_match, etag):
        return web.Response(status=304, headers=headers)
    return web.Response(
        status=page.status, body=page.body, headers=headers, content_type="application/json"
    )


def _matches(if_none_match: str, etag: str) -> bool:
    def bare(tag: str) -> str:
        return tag.strip().removeprefix("W/")

    wanted = if_none_match.split(",")
    return any(tag.strip() == "*" or bare(tag) == bare(etag) for tag in wanted)


def unauthorized(platform: str, caller: Caller | None) -> web.Response:
    """The platform's own 401."""
    body = EXPIRED.get(platform) if caller is not None else None
    headers = {"WWW-Authenticate": 'Bearer realm="standin"'}
    return web.json_response(body or UNAUTHORIZED[platform], status=401, headers=headers)
