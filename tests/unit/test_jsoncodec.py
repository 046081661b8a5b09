"""JSON on the hot paths: fast, and never a changed value."""

from __future__ import annotations

import json

import httpx
import pytest

from tokensync.jsoncodec import dumps, loads, response_json


@pytest.mark.parametrize(
    "text",
    [
        '{"id": 18446744073709551616}',  # 2**64: orjson alone would read a float
        '{"id": -9223372036854775809}',  # one below the smallest 64-bit integer
        '[12345678901234567890123, "x"]',
        '{"n": 9223372036854775807, "s": "é"}',  # fits in 64 bits: orjson reads it
    ],
)
def test_integers_of_any_size_read_exactly(text: str) -> None:
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


def test_a_long_string_of_digits_is_read_as_a_string() -> None:
    assert loads('{"isrc": "1234567890123456789012"}') == {"isrc": "1234567890123456789012"}


def test_writes_compact_utf8_and_values_orjson_refuses() -> None:
    assert dumps({"a": "é", "b": [1, 2.5, None]}) == '{"a":"é","b":[1,2.5,null]}'
    assert json.loads(dumps({"big": 2**70})) == {"big": 2**70}
    assert json.loads(dumps({1: "one"})) == {"1": "one"}


@pytest.mark.parametrize("body", [b"", b"<html>busy</html>", b'{"a": ', b"\xff\xfe{}"])
def test_what_is_not_json_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        loads(body)


def test_a_response_that_is_not_json_reads_as_none() -> None:
    assert response_json(httpx.Response(502, content=b"<html>Bad gateway</html>")) is None
    assert response_json(httpx.Response(200, content=b'{"ok": true}')) == {"ok": True}
