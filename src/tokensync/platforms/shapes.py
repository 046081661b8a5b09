"""Checks that a page has the shape its API documents; anything else fails the endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tokensync.errors import MalformedResponseError


def field_of(obj: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """obj[name], which must be of `kind`; else the page is malformed."""
    if not isinstance(obj, dict):
        raise MalformedResponseError(f"{where}: expected a JSON object, got {_kind(obj)}")
    value = obj.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise MalformedResponseError(
            f"{where}: field {name!r} is {_kind(value)}, expected {_names(kind)}"
        )
    return value


def optional(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """obj[name] if present and not null, checked like field_of."""
    if obj.get(name) is None:
        return None
    return field_of(obj, name, kind, where)


def objects(value: Any, where: str) -> list[dict[str, Any]]:
    """A list whose every element is a JSON object."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise MalformedResponseError(f"{where}: expected a list of objects, got {_kind(value)}")
    return value


def key_of(obj: dict[str, Any], name: str, where: str) -> str:
    """An item's key: a non-empty string, or an integer id written as a string."""
    value = obj.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise MalformedResponseError(f"{where}: an item has no usable {name!r}")


def instant_of(value: object) -> datetime | None:
    """A time this program stored in a state as ISO text, with its zone; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _kinds(kind))


def _kind(value: Any) -> str:
    return "missing" if value is None else type(value).__name__
