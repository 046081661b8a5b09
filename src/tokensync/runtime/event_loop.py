"""The event loop the commands run on: uvloop's where it is installed (a dependency on Linux and
macOS), asyncio's own elsewhere or when TOKENSYNC_EVENT_LOOP=asyncio asks for it.

uvloop runs the same coroutines on libuv: the loop's own bookkeeping and the sockets' callbacks
cost less CPU a request, which a refresh run pays thousands of times (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import TypeVar

T = TypeVar("T")


def run(main: Coroutine[object, object, T]) -> T:
    """asyncio.run(main) on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's new_event_loop, or None for asyncio's default."""
    if os.environ.get("TOKENSYNC_EVENT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
