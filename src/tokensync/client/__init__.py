"""The Python API: what an application calls, through the same code as the command line
(async_client.py, and sync_client.py over it).

    from tokensync.client import open_client

    with open_client() as tokens:            # the CLI's settings: environment, TOKENSYNC_CONFIG
        token = tokens.get_token("u_1", "spotify")
        headers = {"Authorization": f"{token.token_type} {token.access_token}"}

`open_async_client()` gives the same methods as coroutines, for an application with an event loop
(`async with open_async_client() as tokens: await tokens.get_token(...)`). The synchronous client
runs them on a loop of its own, so it must not be called from inside a running event loop; neither
client is meant to be shared between threads (give each thread its own).

Every method either returns a typed result or raises a `tokensync.errors.TokensyncError` whose
`code` says what went wrong (docs/application.md). An operation is
shielded from its caller's cancellation: a refresh already sent completes and is stored even if
the caller gives up, since a rotated refresh token that nobody stores is a lost grant.
"""

from __future__ import annotations

from tokensync.client.async_client import AsyncTokenClient, open_async_client
from tokensync.client.sync_client import RunningLoopError, TokenClient, open_client
from tokensync.connections.api_request import ApiAnswer
from tokensync.connections.disconnect import Disconnection
from tokensync.connections.erase import Erasure
from tokensync.connections.fresh_token import AccessToken
from tokensync.revocations.ingest import Ingestion
from tokensync.store.changes import Change, ChangePage

__all__ = [
    "AccessToken",
    "ApiAnswer",
    "AsyncTokenClient",
    "Change",
    "ChangePage",
    "Disconnection",
    "Erasure",
    "Ingestion",
    "RunningLoopError",
    "TokenClient",
    "open_async_client",
    "open_client",
]
