"""Reading one revocation delivery from stdin: the raw body with --header options, or an
envelope; the body kept byte for byte, and anything else refused with one clear message."""

from __future__ import annotations

import io
import json

import pytest

from tokensync.errors import DeliveryError
from tokensync.revocations.delivery import MAX_DELIVERY_BYTES, delivery_of, read_delivery

BODY = b'{"action":"revoked",  "sender":{"id":583231}}\n'


def test_header_options_name_the_headers_of_the_raw_body() -> None:
    options = ["X-GitHub-Delivery: 72d3", "x-hub-signature-256:sha256=ab:cd"]
    delivery = read_delivery(io.BytesIO(BODY), options)
    assert delivery.body == BODY, "byte for byte: the signature covers the bytes"
    assert delivery.header("x-github-delivery") == "72d3"
    assert delivery.header("X-Hub-Signature-256") == "sha256=ab:cd", "split at the first colon"


def test_an_envelope_gives_headers_and_the_body_as_a_string() -> None:
    envelope = json.dumps({"headers": {"X-GitHub-Event": "ping"}, "body": BODY.decode()})
    delivery = read_delivery(io.BytesIO(envelope.encode()), [])
    assert (delivery.header("x-github-event"), delivery.body) == ("ping", BODY)


def test_without_headers_anything_but_an_envelope_is_the_body_itself() -> None:
    token = b"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
    assert read_delivery(io.BytesIO(token), []).body == token
    other = json.dumps({"headers": {}, "body": "x", "more": 1}).encode()
    assert read_delivery(io.BytesIO(other), []).body == other


@pytest.mark.parametrize(
    ("stdin", "options", "message"),
    [
        (BODY, ["X-GitHub-Delivery"], "--header takes 'Name: value'"),
        (BODY, ["X GitHub: 1"], "--header takes 'Name: value'"),
        (b'{"headers": [], "body": ""}', [], "the envelope's headers must be an object"),
        (b'{"headers": {}, "body": {"action": "revoked"}}', [], "must be the raw body as a string"),
        (b'{"headers": {"a": 1}, "body": ""}', [], "header names and values must be strings"),
        (b"x" * (MAX_DELIVERY_BYTES + 1), [], "the delivery is longer than 1024 KiB"),
    ],
)
def test_a_malformed_delivery_is_refused(stdin: bytes, options: list[str], message: str) -> None:
    with pytest.raises(DeliveryError, match=message) as refused:
        read_delivery(io.BytesIO(stdin), options)
    assert refused.value.code == "invalid_delivery"


def test_the_python_api_takes_a_receivers_headers_in_any_case() -> None:
    delivery = delivery_of(BODY, {"X-GITHUB-DELIVERY": " d1 "})
    assert delivery.header("X-GitHub-Delivery") == "d1"
    with pytest.raises(DeliveryError, match="longer than"):
        delivery_of(b"x" * (MAX_DELIVERY_BYTES + 1), {})
