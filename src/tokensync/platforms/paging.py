"""Walking lists that come newest first: to the first known item, then on with an unfinished walk.

Each batch's state names where to carry on if the run stops after it. Carrying on walks to the end
of the list, over everything older, so a stop (max_pages, or a crash) never loses an item: at worst
some pages are read twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from tokensync.platforms.endpoint import Batch, Item, SyncState

# A page: its items, the token (or link) of the next one, and whether it holds a known item.
Page = tuple[Sequence[Item], str | None, bool]


async def newest_first(
    fetch: Callable[[str | None], Awaitable[Page]],
    resume: str | None,
    budget: int,
    state: Callable[[str | None], SyncState],
    *,
    from_top: bool = True,
) -> AsyncIterator[Batch]:
    """Read from the top until a page holds a known item, then carry on from `resume`."""
    budget = max(budget, 1)
    token: str | None = None
    while from_top and budget > 0:
        budget -= 1
        items, token, known = await fetch(token)
        if token is None:
            resume = None  # the end of the list: nothing older is left unread
        yield Batch(items, state(resume if known or token is None else token))
        if known or token is None:
            break
    else:
        if from_top:
            return  # out of pages: the last state says where to carry on
    token = resume
    while token and budget > 0:
        budget -= 1
        items, token, _ = await fetch(token)
        yield Batch(items, state(token))
