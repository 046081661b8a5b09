"""How values travel between tokensync and PostgreSQL, on every connection of the engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.abc import AdaptContext
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from tokensync.jsoncodec import dumps
from tokensync.store.engine import UNREADABLE, checked_time


def adapt(params: Mapping[str, Any]) -> dict[str, Any]:
    # Dicts travel as JSON, and so does a batch's list of item data; other lists as arrays.
    return {
        k: Jsonb(v, dumps=dumps) if isinstance(v, dict) or k in _JSON_LISTS else v
        for k, v in params.items()
    }


_JSON_LISTS = frozenset({"datas"})


class TimeLoader(Loader):
    """timestamptz as a datetime, or UNREADABLE for one psycopg cannot return ('infinity', BC,
    after 9999) or that lies out of the sane range: that row fails alone, not the query."""

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        # psycopg's own loader (its C one when installed) does the parsing.
        own = psycopg.adapters.get_loader(oid, Format.TEXT)
        if own is None:  # pragma: no cover - psycopg always has one for timestamptz
            raise RuntimeError("psycopg has no timestamptz loader")
        self._load = own(oid, context).load

    def load(self, data: Any) -> Any:
        try:
            value = self._load(data)
        except psycopg.DataError:
            return UNREADABLE
        return checked_time(value)
