"""The caps on work in flight (runtime/limits.py Slots), and a stop waking their waiters."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.support import FakeClock
from tokensync.runtime.limits import Slots
from tokensync.runtime.stop import StopSignal


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _taken(waiters: int) -> tuple[Slots, list[asyncio.Task[bool]]]:
    """One place, taken, and `waiters` tasks queued for it."""
    slots = Slots(1)
    assert await slots.take()
    queued = [asyncio.create_task(slots.take()) for _ in range(waiters)]
    await _turns()
    assert not any(task.done() for task in queued)
    return slots, queued


async def _assert_no_place_free(slots: Slots) -> None:
    other = asyncio.create_task(slots.take())
    await _turns()
    assert not other.done(), "the one place is taken"
    other.cancel()


def test_places_go_to_the_waiters_in_the_order_they_came() -> None:
    async def scenario() -> list[str]:
        slots = Slots(1)
        order: list[str] = []

        async def worker(name: str) -> None:
            assert await slots.take()
            order.append(name)
            await _turns()
            slots.give_back()

        assert await slots.take()
        tasks = [asyncio.create_task(worker(name)) for name in "abc"]
        await _turns()
        assert order == [], "no place is free: every worker waits"
        slots.give_back()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_never_more_than_the_places_are_held_at_once() -> None:
    async def scenario() -> int:
        slots = Slots(3)
        held = most = 0

        async def worker(turns: int) -> None:
            nonlocal held, most
            async with slots:
                held += 1
                most = max(most, held)
                await _turns(turns)
                held -= 1

        await asyncio.gather(*(worker(n % 4) for n in range(40)))
        return most

    assert asyncio.run(scenario()) == 3


def test_a_stop_wakes_the_waiters_with_no_place_and_keeps_the_count() -> None:
    async def scenario() -> None:
        stop = StopSignal(FakeClock(), None)
        slots = Slots(1)
        assert await stop.acquire(slots)
        waiting = [asyncio.create_task(stop.acquire(slots)) for _ in range(3)]
        await _turns()
        assert not any(task.done() for task in waiting)

        stop.set("sigterm")
        assert await asyncio.wait_for(asyncio.gather(*waiting), 1) == [False, False, False]
        assert not await stop.acquire(slots), "a stopped run takes no place, free or not"

        # The place held before the stop is the only one taken: given back, it is free again.
        slots.give_back()
        assert await asyncio.wait_for(slots.take(), 1)
        await _assert_no_place_free(slots)

    asyncio.run(scenario())


def test_a_waiter_cancelled_as_it_is_handed_a_place_gives_it_back() -> None:
    async def scenario() -> None:
        slots, (first, second) = await _taken(2)
        slots.give_back()  # handed to `first`, which has not run since
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await asyncio.wait_for(second, 1), "the place went on to the next waiter"
        await _assert_no_place_free(slots)

    asyncio.run(scenario())


def test_a_cancelled_waiter_is_passed_over() -> None:
    async def scenario() -> None:
        slots, (gone, waiting) = await _taken(2)
        gone.cancel()
        await _turns()
        slots.give_back()
        assert await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())
