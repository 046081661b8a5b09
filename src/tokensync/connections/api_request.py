"""`tokensync api`: a request to a platform's API with a connection's fresh access token, after
`gh api`. The token is the one `tokens get` would hand out (the same lease and refresh); a 401
refreshes it once and the request is sent again, rate limits are waited out within `max_wait`,
as the poll job's requests are (platforms/api.py). Only the configured `api_base` is ever sent
the token: a path below it, or a URL on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from tokensync.connections.fresh_token import active_connection
from tokensync.errors import EXIT_OK, UsageError
from tokensync.platforms.api import Api, Query
from tokensync.platforms.follow import FOLLOWED, page_of
from tokensync.refresh.refresher import Refresher
from tokensync.refresh.token_source import ConnectionTokens
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# What a -v line shows of an answer: its status and the platforms' rate-limit headers.
RATE_LIMIT_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-used",
    "x-ratelimit-resource",
    "x-ratelimit-reset-after",
    "x-ratelimit-bucket",
    "retry-after",
)


@dataclass(frozen=True)
class ApiAnswer:
    """What the platform answered: its body (with --paginate, every page's items in one array),
    the last status, its rate-limit headers, and how many pages were read."""

    connection_id: int
    status: int
    body: object = field(repr=False)
    rate_limits: Mapping[str, str]
    pages: int = 1

    @property
    def success(self) -> bool:
        """Always: an answer of 400 or more is raised, not returned."""
        return True

    def log_fields(self) -> dict[str, object]:
        """What a -v log line says: ids, the status, the rate limits; never the body."""
        return {"connectionId": self.connection_id, "status": self.status, **self.rate_limits}

    @property
    def exit_code(self) -> int:
        """0: this result exists only when the request succeeded (Concluded)."""
        return EXIT_OK


async def api_request(
    deps: Deps,
    stop: StopSignal,
    user_id: str,
    platform: str,
    path: str,
    *,
    method: str = "GET",
    fields: Sequence[tuple[str, str]] = (),
    paginate: bool = False,
) -> ApiAnswer:
    """Send `method path` to the platform's API as (user, platform): `fields` are the query of
    a GET and a JSON object's members otherwise. With `paginate`, a GET's pages are followed
    (platforms/follow.py) and their items returned as one array."""
    settings = deps.settings
    configured = settings.platforms.get(platform)
    if configured is None:
        raise UsageError(f"unknown platform {platform!r}")
    if not configured.api_base:
        raise UsageError(f"[platforms.{platform}] has no api_base: there is no API to ask")
    method = method.upper()
    if method not in METHODS:
        raise UsageError(f"-X {method}: use one of {', '.join(METHODS)}")
    if paginate and (method != "GET" or platform not in FOLLOWED):
        why = "Discord pages by ?after=, which no answer names" if platform == "discord" else ""
        raise UsageError(
            f"--paginate follows the pages of a GET on {', '.join(FOLLOWED)}"
            + (f" ({why})" if why else "")
        )
    target = below(configured.api_base, path)
    conn = await active_connection(deps, user_id, platform)
    tokens = ConnectionTokens(conn, deps, Refresher(deps, stop), wait=settings.request_timeout)
    api = Api(
        deps.http,
        configured.api_base,
        tokens,
        platform=platform,
        max_wait=settings.max_wait,
        sleep=deps.clock.sleep,
        secrets=deps.secrets,
    )
    query: Query | None = [(k, v) for k, v in fields] if method == "GET" else None
    body = dict(fields) if method != "GET" and fields else None
    ok = range(200, 300)
    response = await api.request(method, target, params=query, json_body=body, expect=ok)
    if not paginate:
        return ApiAnswer(conn.id, response.status, response.body, _limits(response.headers))
    items: list[object] = []
    pages = 0
    while True:
        pages += 1
        page = page_of(platform, response)
        items.extend(page.items)
        if page.next_url is None or pages >= settings.max_pages:
            break
        response = await api.request("GET", page.next_url, expect=ok)
    return ApiAnswer(conn.id, response.status, items, _limits(response.headers), pages)


def below(api_base: str, path: str) -> str:
    """`path` as a request below `api_base`: a path (`/user/repos`), or an absolute URL on the
    same scheme, host and base path. Anything else is refused: the token goes nowhere else."""
    base = urlsplit(api_base.rstrip("/"))
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise UsageError(
                f"{path.split('?')[0][:80]} is not on the platform's api_base ({api_base}): "
                "the token is only ever sent there"
            )
        inside = parts.path == base.path or parts.path.startswith(base.path + "/")
        if not inside:
            raise UsageError(f"{parts.path} is not below api_base ({api_base})")
    elif not path.startswith("/"):
        raise UsageError(f"{path[:80]}: give a path below api_base, starting with /")
    if {"..", "."} & set(unquote(parts.path).split("/")):
        raise UsageError(f"{parts.path}: . and .. are not allowed in the path")
    return path


def _limits(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in RATE_LIMIT_HEADERS if name in headers}
