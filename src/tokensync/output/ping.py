"""`--ping-url`: tell a healthchecks.io-style monitor that a run started, succeeded or failed.

A ping never fails the job, nor delays it beyond its timeout. The URL holds a secret (the
check's UUID), so only its host is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("tokensync.ping")
MAX_BODY = 100_000  # bytes: healthchecks.io keeps the first 100 kB of a ping's body
SUFFIX = {"start": "/start", "success": "", "fail": "/fail"}


async def ping(
    client: httpx.AsyncClient,
    url: str,
    event: Literal["start", "success", "fail"],
    body: str | None = None,
    timeout: float = 5.0,
) -> None:
    """POST to url/start, url or url/fail; swallow every failure."""
    target = url.rstrip("/") + SUFFIX[event]
    content = _truncate(body or "")
    try:
        # httpx's timeout bounds each phase; a server trickling bytes needs an overall bound.
        async with asyncio.timeout(timeout):
            response = await client.post(target, content=content, timeout=timeout)
        if response.status_code >= 400:
            log.warning("ping to %s answered HTTP %s", _host(url), response.status_code)
    except Exception as exc:
        # Only the class name: httpx puts the URL, and so the secret, in its messages.
        log.warning("ping to %s failed: %s", _host(url), type(exc).__name__)


def _truncate(body: str) -> bytes:
    return body.encode()[:MAX_BODY].decode(errors="ignore").encode()


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the ping URL"
