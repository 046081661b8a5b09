"""Following a response to the next page, as each platform pages (`tokensync api --paginate`):
GitHub by its Link header (github.next_link, as the repository walks do), Spotify by the `next`
URL of a paging object, Google's APIs by `nextPageToken` (as the Gmail and Calendar endpoints
do). Discord pages by `after=` an id the caller chooses, which no answer names: not followed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tokensync.platforms.api import ApiResponse
from tokensync.platforms.github import next_link

# The platforms whose pages are followed, by the platform families of catalog.py.
FOLLOWED = ("github", "spotify", "youtube", "gmail", "calendar")


@dataclass(frozen=True)
class Page:
    """One page's items, and the URL of the next page (None: the last)."""

    items: Sequence[object]
    next_url: str | None


def page_of(platform: str, response: ApiResponse) -> Page:
    """The items of one response and where the next page is; a body that is not a page (a
    single object) is one page of itself."""
    body = response.body
    if platform == "github":
        items = body if isinstance(body, list) else _items(body, "items")
        return Page(items, next_link(response))
    if platform == "spotify":
        paging = _spotify_paging(body)
        if paging is None:
            return Page([body], None)
        url = paging.get("next")
        return Page(_items(paging, "items"), url if isinstance(url, str) and url else None)
    if platform in ("youtube", "gmail", "calendar") and isinstance(body, Mapping):
        token = body.get("nextPageToken")
        listed = next((k for k in ("items", "messages", "history") if k in body), None)
        items = _items(body, listed) if listed else [body]
        if not isinstance(token, str) or not token:
            return Page(items, None)
        return Page(items, _with_query(response.requested, "pageToken", token))
    return Page(body if isinstance(body, list) else [body], None)


def _spotify_paging(body: object) -> Mapping[str, object] | None:
    """Spotify's paging object: the body itself, or its one member that is one (a search's
    `artists`, say)."""
    if isinstance(body, Mapping):
        if "items" in body and "next" in body:
            return body
        pages = [v for v in body.values() if isinstance(v, Mapping) and "items" in v]
        if len(pages) == 1:
            return pages[0]
    return None


def _items(body: object, key: str) -> Sequence[object]:
    value = body.get(key) if isinstance(body, Mapping) else None
    return value if isinstance(value, list) else [body]


def _with_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))
