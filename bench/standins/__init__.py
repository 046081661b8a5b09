"""Loopback stand-ins for the providers: a strict rotating OAuth token endpoint and platform APIs.

    async with StandinServer(delay=0.1) as server: ...         # in a running loop
    with run_in_thread(rotate=False) as server: server.url     # from sync code
    with run_in_process(delay=0.1, grants=100) as remote: ...  # a process of its own
    python -m bench.standins --port 0 --delay 0.1              # prints {"url": ...}; SIGTERM stops

URL layout: POST /token, GET /stats, POST|GET /admin/grants, /spotify/v1/..., /github/...,
/discord/api/v10/... (see apis.ROUTES). Everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

from bench.standins.server import (
    Options,
    StandinProcess,
    StandinServer,
    cli_args,
    run_in_process,
    run_in_thread,
)
from bench.standins.tokens import CLIENT_ID, CLIENT_SECRET, INVALID_GRANT, Stats, make_tokens

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "INVALID_GRANT",
    "Options",
    "StandinProcess",
    "StandinServer",
    "Stats",
    "cli_args",
    "make_tokens",
    "run_in_process",
    "run_in_thread",
]
