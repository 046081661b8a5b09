"""SIGTERM and SIGINT for the commands that are not jobs: stop at once, but never mid-commit.

While `raising_on_signals()` is active, either signal raises Interrupted in the main thread,
wherever it is: an import then unwinds through its open transaction, which rolls back, so nothing
is written. The one place it must not land is between sending COMMIT and its answer (the import
might be stored and reported lost): the engines commit inside `deferred()`, where a signal is
only noted, and the commit's outcome stands. The jobs stop gracefully instead (runtime/stop.py).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from tokensync.errors import Interrupted

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _State:
    installed = False
    deferring = 0
    pending: int | None = None


_state = _State()


def _raise(signum: int, frame: FrameType | None) -> None:
    if _state.deferring:
        _state.pending = _state.pending or signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def raising_on_signals() -> Iterator[None]:
    """SIGTERM / SIGINT raise Interrupted while the block runs (main thread only; elsewhere, and
    when nested, nothing is installed)."""
    if _state.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, _raise)
    _state.installed, _state.pending = True, None
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.installed = False


@contextlib.contextmanager
def deferred(*, resume: bool = False) -> Iterator[None]:
    """A section no signal interrupts (a COMMIT, a write to stdout): one that arrives is noted,
    and with `resume` raised once the section is over; without, the section's outcome stands
    (a commit that went through is reported as such)."""
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
    if resume and not _state.deferring and _state.pending is not None:
        signum, _state.pending = _state.pending, None
        raise Interrupted(signum)


@contextlib.contextmanager
def restored() -> Iterator[None]:
    """Put back the handlers in place now when the block ends (asyncio's signal handling, which
    a job run installs, leaves the defaults behind)."""
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                if handler is not None:
                    signal.signal(sig, handler)
