"""The API client of one connection: its base URL, its bearer token, a 401 refresh, rate limits.

A user's token is only ever sent to the configured API base: pagination links are rebuilt on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx

from tokensync.errors import (
    MalformedResponseError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from tokensync.http import faults, responses
from tokensync.jsoncodec import response_json
from tokensync.platforms.rate_limits import rate_limit_wait
from tokensync.redaction import NO_SECRETS, Secrets, scrub

_RATE_LIMIT_RETRIES = 3
# The largest API page read. The biggest pages the adapters ask for (250 Calendar events, 500
# YouTube playlist items, 100 GitHub events) are a few MB at worst; 16 MiB leaves several times
# that, while 64 pages in flight stay bounded (a page is also parsed, at some times its size).
# A body past it fails that endpoint's poll with response_too_large; nothing is stored from it.
MAX_API_RESPONSE_BYTES = 16 * 1024 * 1024
Query = Mapping[str, str | int] | list[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True)
class ApiResponse:
    """A platform's answer, parsed."""

    status: int
    headers: httpx.Headers
    body: Any
    url: str
    requested: str = ""  # the URL asked for, its query included


class Api:
    """The API client of one connection: base URL, bearer token, 401 refresh, rate limits."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_base: str,
        token: TokenSource,
        *,
        platform: str = "",
        max_wait: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        secrets: Secrets = NO_SECRETS,
    ) -> None:
        """`secrets`: the configured ones; each request adds its bearer token to them."""
        self._client, self._token, self._secrets = client, token, secrets
        self.base = api_base.rstrip("/")
        self._base_parts = urlsplit(self.base)
        self.platform = platform or self._base_parts.hostname or "api"
        self._max_wait, self._sleep = max_wait, sleep
        self._refreshing = asyncio.Lock()

    async def get(
        self,
        path: str,
        params: Query | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        expect: Sequence[int] = (),
    ) -> ApiResponse:
        """GET a path below the API base."""
        return await self._request("GET", self.base + path, params, None, headers, expect)

    async def get_url(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        expect: Sequence[int] = (),
    ) -> ApiResponse:
        """GET a pagination link, only ever on the configured base (the token goes nowhere else)."""
        return await self._request("GET", self.rebase(url), None, None, headers, expect)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Query | None = None,
        json_body: object = None,
        expect: Sequence[int] = (),
    ) -> ApiResponse:
        """Any method, on a path below the API base or a URL on it (`tokensync api`): the same
        401 refresh and rate limits as every GET; a JSON body when `json_body` is not None."""
        target = self.rebase(url) if "://" in url else self.base + url
        return await self._request(method, target, params, json_body, None, expect)

    def rebase(self, url: str) -> str:
        """A link from a response, rebuilt on the configured base; refused if outside its path."""
        parts = urlsplit(url)
        base = self._base_parts
        segments = unquote(parts.path).split("/")
        inside = parts.path == base.path or parts.path.startswith(base.path + "/")
        if not inside or ".." in segments or "." in segments:
            raise MalformedResponseError(
                f"{self.platform}: a pagination link points outside the API base; not followed"
            )
        rebuilt = f"{base.scheme}://{base.netloc}{parts.path}"
        return rebuilt + (f"?{parts.query}" if parts.query else "")

    async def _request(
        self,
        method: str,
        url: str,
        params: Query | None,
        json_body: object,
        headers: Mapping[str, str] | None,
        expect: Sequence[int],
    ) -> ApiResponse:
        token = await self._token.access_token()
        refreshed = False
        attempts = 0
        while True:
            response = await self._send(method, url, params, json_body, headers, token)
            if response.status_code == 401 and 401 not in expect:
                if refreshed:
                    raise PermanentError(
                        f"{self.platform}: the API refused a freshly refreshed token",
                        code="unauthorized",
                        status=401,
                    )
                token, refreshed = await self._fresh_token(token), True
                continue
            wait = rate_limit_wait(response)
            if wait is not None:
                attempts += 1
                if wait <= self._max_wait and attempts <= _RATE_LIMIT_RETRIES:
                    await self._sleep(wait)
                    continue
                raise RateLimitedError(
                    f"{self.platform}: rate limited for {wait:.0f}s",
                    retry_after=wait,
                    status=response.status_code,
                )
            return self._parsed(response, expect, token)

    async def _fresh_token(self, refused: str) -> str:
        # Requests in flight together share one refresh: a second one could revoke the grant.
        async with self._refreshing:
            current = await self._token.access_token()
            return current if current != refused else await self._token.refreshed_token()

    async def _send(
        self,
        method: str,
        url: str,
        params: Query | None,
        json_body: object,
        headers: Mapping[str, str] | None,
        token: str,
    ) -> httpx.Response:
        sent = {"Accept": "application/json", **(headers or {}), "Authorization": f"Bearer {token}"}
        where = f"{self.platform}: the API"
        try:
            # httpx's timeouts bound each read; this bounds the whole exchange, however it
            # trickles (the client's longest timeout, twice, like the token endpoint's).
            async with (
                asyncio.timeout(_overall(self._client.timeout)),
                self._client.stream(
                    method, url, params=params, headers=sent, json=json_body
                ) as response,
            ):
                body = await responses.read_capped(response, MAX_API_RESPONSE_BYTES, where)
        except ProviderError:
            raise
        except Exception as exc:
            # Anything out of the HTTP stack fails this request (CancelledError, a
            # BaseException, still cancels). Never chained: a traceback could show the token.
            raise faults.transport_error(where, exc) from None
        return responses.buffered(response, body)

    def _parsed(self, response: httpx.Response, expect: Sequence[int], token: str) -> ApiResponse:
        status = response.status_code
        url = str(response.request.url.copy_with(query=None)) if response.request else ""
        requested = str(response.request.url) if response.request else ""
        if status in expect or status == 304:
            return ApiResponse(status, response.headers, response_json(response), url, requested)
        if status >= 500:
            raise TransientError(f"{self.platform}: the API answered HTTP {status}", status=status)
        if status >= 400:
            raise ProviderError(
                f"{self.platform}: the API answered HTTP {status}"
                + _said(response, self._secrets.plus(token)),
                code=f"http_{status}",
                status=status,
            )
        body = response_json(response)
        if not isinstance(body, dict | list):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise MalformedResponseError(
                f"{self.platform}: the API answered HTTP {status} with a body that is not JSON "
                f"({kind})",
                status=status,
            )
        return ApiResponse(status, response.headers, body, url, requested)


def _overall(timeout: httpx.Timeout) -> float | None:
    phases = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t]
    return 2 * max(phases) if phases else None


def _said(response: httpx.Response, secrets: Secrets) -> str:
    """What the platform said of a refusal, masked (it may echo the bearer token)."""
    body = response_json(response)
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = body.get("error_description") or error
        message = message or body.get("message")
    said = scrub(message, secrets)
    return f": {said}" if said else ""


class TokenSource(Protocol):
    """The access token of the connection being polled."""

    async def access_token(self) -> str:
        """The current token (refreshed first when about to expire)."""
        ...

    async def refreshed_token(self) -> str:
        """Refresh now and return the new token; PermanentError when the grant is dead."""
        ...
