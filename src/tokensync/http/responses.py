"""Reading a provider's answer safely: a bounded, decoded body, and how long it asks us to wait.

Whatever a server sends (an endless or compressed-to-nothing body), the caller gets the whole
decoded body or a classified TransientError, never an exception from the HTTP stack.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from tokensync.errors import MalformedResponseError, TransientError

# The longest Retry-After honoured: a bigger one is a bogus header, and `now + timedelta` of
# one near 1e12 seconds overflows datetime.
MAX_RETRY_AFTER = 7 * 86400.0
# Content-Encoding is not decoded for anything else; we ask for nothing else (see transport.py).
_STEP = 256 * 1024
_INFLATE_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16}


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After (RFC 9110 10.2.3) as seconds: delay-seconds or an HTTP-date.

    None when absent or unreadable; a date in the past or a negative delay is 0; anything above
    MAX_RETRY_AFTER is clamped to it.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
            if when.tzinfo is None:  # "-0000": UTC, with no statement about the local zone
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    return bounded_wait(seconds)


def bounded_wait(seconds: float) -> float | None:
    """A wait a platform asked for, as we act on it: None if not finite, 0 if negative, and at
    most MAX_RETRY_AFTER (every rate-limit signal goes through here, headers and bodies alike)."""
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def response_too_large(where: str, cap: int) -> TransientError:
    """The error of a body past its cap."""
    return TransientError(
        f"{where} answered with a body over {cap} bytes; stopped reading it",
        code="response_too_large",
    )


async def read_capped(response: httpx.Response, cap: int, where: str) -> bytes:
    """The decoded body of a streamed response, read until it ends or passes `cap` bytes.

    The body is decoded here, chunk by chunk with an output bound, rather than by httpx: httpx
    inflates each chunk whole, and one 16 KiB chunk of a gzip bomb is 16 MiB.
    """
    try:
        content = response.content
    except httpx.ResponseNotRead:
        pass
    else:  # read already (by a mock at httpx's level, or a transport that buffers)
        if len(content) > cap:
            raise response_too_large(where, cap)
        return content
    decoder = _decoder(response.headers, where)
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            for part in decoder.feed(chunk, cap - size + 1):
                size += len(part)
                if size > cap:
                    raise response_too_large(where, cap)
                parts.append(part)
        part = decoder.flush(cap - size + 1)
    except zlib.error:
        raise MalformedResponseError(
            f"{where} answered with a body its Content-Encoding does not decode"
        ) from None
    size += len(part)
    if size > cap:
        raise response_too_large(where, cap)
    parts.append(part)
    return b"".join(parts)


def buffered(response: httpx.Response, body: bytes) -> httpx.Response:
    """A closed streamed response rebuilt around its decoded body (so `.content` works)."""
    headers = [
        (key, value)
        for key, value in response.headers.multi_items()
        if key.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


class _Decoder(Protocol):
    def feed(self, data: bytes, limit: int) -> Iterator[bytes]: ...

    def flush(self, limit: int) -> bytes: ...


class _Identity:
    def feed(self, data: bytes, limit: int) -> Iterator[bytes]:
        yield data

    def flush(self, limit: int) -> bytes:
        return b""


class _Inflate:
    """zlib with an output bound: past `limit` bytes the rest stays unread (and we stop)."""

    def __init__(self, wbits: int, fallback: int | None = None) -> None:
        self._zlib = zlib.decompressobj(wbits)
        self._fallback = fallback

    def feed(self, data: bytes, limit: int) -> Iterator[bytes]:
        # In steps: one 16 KiB chunk of zeros inflates to 16 MiB, and zlib builds its output in
        # blocks then copies them into one bytes object (twice the step, for a moment).
        while data and limit > 0:
            out = self._inflate(data, min(limit, _STEP))
            limit -= len(out)
            data = self._zlib.unconsumed_tail
            yield out

    def _inflate(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._zlib.decompress(data, limit)
        except zlib.error:
            if self._fallback is None:
                raise
            # "deflate" is meant to be zlib-wrapped; some servers send it raw (as httpx does).
            self._zlib = zlib.decompressobj(self._fallback)
            out = self._zlib.decompress(data, limit)
        self._fallback = None
        return out

    def flush(self, limit: int) -> bytes:
        return self._zlib.flush(limit) if not self._zlib.eof else b""


def _decoder(headers: Mapping[str, str], where: str) -> _Decoder:
    codings = [
        c.strip().lower() for c in headers.get("content-encoding", "").split(",") if c.strip()
    ]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return _Identity()
    if len(codings) > 1:
        raise MalformedResponseError(f"{where} answered with a body encoded more than once")
    coding = codings[0]
    if coding in _INFLATE_WBITS:
        return _Inflate(_INFLATE_WBITS[coding])
    if coding == "deflate":
        return _Inflate(zlib.MAX_WBITS, fallback=-zlib.MAX_WBITS)
    # An encoding we never asked for: passed through, as httpx does; it will not parse as JSON.
    return _Identity()
