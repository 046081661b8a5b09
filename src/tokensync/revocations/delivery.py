"""One delivery, as `revocations ingest` reads it from stdin: the raw body with its headers given
as `--header 'Name: value'` options, or a JSON envelope `{"headers": {...}, "body": "..."}` that
an application's receiver writes. The body stays the bytes that were signed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import orjson

from tokensync.errors import DeliveryError

# A revocation is a small document; GitHub caps a webhook's payload at 25 MB, far past any of these.
MAX_DELIVERY_BYTES = 1024 * 1024
_ENVELOPE = frozenset({"headers", "body"})


@dataclass(frozen=True)
class Delivery:
    """A delivery's headers (names in lower case) and its body, byte for byte."""

    headers: Mapping[str, str]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        """The value of a header (any case), or None."""
        return self.headers.get(name.lower())


def delivery_of(body: bytes, headers: Mapping[str, str]) -> Delivery:
    """A delivery from a receiver's own request (the Python API): its headers, any case."""
    named: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise DeliveryError("the delivery's header names and values must be strings")
        named[name.strip().lower()] = value.strip()
    if len(body) > MAX_DELIVERY_BYTES:
        raise DeliveryError(f"the delivery's body is longer than {MAX_DELIVERY_BYTES // 1024} KiB")
    return Delivery(named, bytes(body))


def read_delivery(stream: BinaryIO, header_options: Sequence[str]) -> Delivery:
    """The delivery on `stream`: the raw body with `--header` options, or, without any, an
    envelope when the input is one (a JSON object of exactly `headers` and `body`)."""
    raw = stream.read(MAX_DELIVERY_BYTES + 1)
    if len(raw) > MAX_DELIVERY_BYTES:
        raise DeliveryError(f"the delivery is longer than {MAX_DELIVERY_BYTES // 1024} KiB")
    if header_options:
        return delivery_of(raw, dict(_header_option(o) for o in header_options))
    envelope = _envelope(raw)
    return envelope if envelope is not None else Delivery({}, raw)


def _header_option(option: str) -> tuple[str, str]:
    name, colon, value = option.partition(":")
    if not colon or not name.strip() or any(c in name for c in " \t\r\n"):
        raise DeliveryError(
            "--header takes 'Name: value' (such as 'X-GitHub-Delivery: 72d3162e-...')"
        )
    return name.strip(), value.strip()


def _envelope(raw: bytes) -> Delivery | None:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or set(doc) != _ENVELOPE:
        return None
    headers, body = doc["headers"], doc["body"]
    if not isinstance(headers, dict):
        raise DeliveryError("the envelope's headers must be an object of names and values")
    if not isinstance(body, str):
        raise DeliveryError(
            "the envelope's body must be the raw body as a string, byte for byte as received "
            "(a parsed and re-serialised body no longer matches its signature)"
        )
    return delivery_of(body.encode(), headers)
