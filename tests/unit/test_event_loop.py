"""The commands' event loop: uvloop's where installed, asyncio's own when asked for."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from tokensync.runtime import event_loop


async def loop_kind() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_uvloop_runs_the_commands_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENSYNC_EVENT_LOOP", raising=False)
    assert issubclass(event_loop.run(loop_kind()), uvloop.Loop)


@pytest.mark.parametrize("asked", ["asyncio", " AsyncIO "])
def test_asyncio_s_own_loop_when_asked(monkeypatch: pytest.MonkeyPatch, asked: str) -> None:
    monkeypatch.setenv("TOKENSYNC_EVENT_LOOP", asked)
    kind = event_loop.run(loop_kind())
    assert not issubclass(kind, uvloop.Loop)
    assert issubclass(kind, asyncio.BaseEventLoop)


def test_a_failure_comes_out_as_raised_and_the_loop_is_closed() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def fail() -> None:
        loops.append(asyncio.get_running_loop())
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        event_loop.run(fail())
    assert loops[0].is_closed()
