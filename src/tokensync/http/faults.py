"""Failures of the HTTP stack, and the one classification of them that a caller sees.

Whatever a server does (not HTTP at all, a huge header, a hang-up), the caller gets a classified
TransientError; never an exception from the HTTP stack, and never one chained to it (an aiohttp
exception's repr holds the request's headers, and so the bearer token).
"""

from __future__ import annotations

import httpx

from tokensync.errors import MalformedResponseError, TransientError


class Fault(httpx.TransportError):
    """An HTTP stack failure mapped by bootstrap's transport: its text is only a class name."""

    def __init__(self, origin: str) -> None:
        super().__init__(origin)
        self.origin = origin


class ReadFault(Fault, httpx.ReadError):
    """The connection failed or closed while sending the request or reading the answer."""


class ConnectFault(Fault, httpx.ConnectError):
    """No connection could be made."""


class ProtocolFault(Fault, httpx.RemoteProtocolError):
    """The answer is not HTTP: a bad status line, a header over aiohttp's limit, bad chunks."""


class ReadTimeoutFault(Fault, httpx.ReadTimeout):
    """A read (or the whole exchange, as aiohttp timed it) took too long."""


class ConnectTimeoutFault(Fault, httpx.ConnectTimeout):
    """Connecting took too long."""


def transport_error(where: str, exc: BaseException) -> TransientError:
    """The classified error for an exception out of the HTTP stack (raise it `from None`).

    `where` names the platform and endpoint ("github token endpoint"); the message adds only
    exception class names, never an exception's text (it may hold a URL or a header).
    """
    name = type(exc).__name__
    if isinstance(exc, Fault):
        name = f"{name}: {exc.origin}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return TransientError(f"{where} timed out ({name})", code="timeout")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.DecodingError):
        return MalformedResponseError(f"{where} answered with something that is not HTTP ({name})")
    return TransientError(f"{where} unreachable ({name})", code="connection_error")
