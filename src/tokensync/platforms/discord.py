"""Discord: the guilds a user is in (a snapshot, one call holds all)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tokensync.platforms.api import Api
from tokensync.platforms.endpoint import Batch, Item, PollContext, SyncState, Walk
from tokensync.platforms.shapes import key_of, objects


class UserGuilds:
    """GET /users/@me/guilds?limit=200: a snapshot, so a guild the user left is tombstoned."""

    name = "user_guilds"

    async def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield every guild the user belongs to."""
        where = "discord user_guilds"
        body = (await api.get("/users/@me/guilds", {"limit": 200})).body
        guilds = objects(body, where)
        items = [Item(key_of(g, "id", where), g) for g in guilds]
        walk = Walk("absent_from_snapshot", begins=True, ends=True)
        yield Batch(items, state, walk=walk, final=True)
