"""One bad answer fails one request, never the run, and never holds much memory.

Wire-level faults go through real loopback servers and bootstrap.http_client, so the real
aiohttp transport is exercised; payload-level ones go through respx.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import json
import ssl
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import respx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tokensync.errors import ProviderError, TransientError
from tokensync.http import responses as httpio
from tokensync.http.transport import http_client
from tokensync.oauth.token_endpoint import (
    MAX_TOKEN_RESPONSE_BYTES,
    TokenSet,
    classify,
    refresh_grant,
)
from tokensync.platforms.api import MAX_API_RESPONSE_BYTES, Api
from tokensync.platforms.catalog import Platform
from tokensync.redaction import NO_SECRETS
from tokensync.settings import Settings

pytestmark = pytest.mark.anyio

RT = "RT-SECRET-1"
SECRET = "CLIENT-SECRET-1"
AT = "AT-SECRET-1"
MiB = 1024 * 1024
# Generous bounds on waiting for a server to notice the client hung up: never a speed check.
PATIENCE = 60.0
# Whatever the kernels' socket buffers hold (up to tens of MB on loopback) counts as "sent".
KERNEL_SLACK = 40 * MiB

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]


def settings(timeout: float = 20.0) -> Settings:
    return Settings(
        database_url="sqlite:///unused.db",
        database_is_default=False,
        platforms={},
        request_timeout=timeout,
    )


def platform(port: int) -> Platform:
    return Platform(
        "acme", f"http://127.0.0.1:{port}/token", None, "client_secret_post", "id", SECRET
    )


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return await reader.readexactly(length) if length else b""


@asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[int]:
    """A server on 127.0.0.1 that answers each request with `answer` (False: hang up)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await answer(await read_request(reader), writer):
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


TOKENS = json.dumps({"access_token": "NEW", "refresh_token": "ROT", "expires_in": 3600}).encode()


async def send_forever(writer: asyncio.StreamWriter, head: bytes, chunk: bytes, total: int) -> int:
    """Write head then `total` bytes of chunks; the bytes written before the client hung up."""
    sent = 0
    try:
        writer.write(head)
        while sent < total:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except (ConnectionError, OSError):
        pass
    return sent


def assert_clean(exc: ProviderError) -> None:
    """Names the platform and a class, holds no secret, chains nothing."""
    assert exc.message.startswith("acme")
    for secret in (RT, SECRET, AT):
        assert secret not in exc.message
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


async def refresh(port: int, *, timeout: float = 20.0, concurrency: int = 4) -> TokenSet:
    async with http_client(timeout, concurrency) as client:
        return await refresh_grant(client, platform(port), RT, timeout=timeout)


# -- answers that are not HTTP ---------------------------------------------------------------

NOT_HTTP = {
    "garbage": (b"garbage\r\n\r\n", "malformed_response"),
    "20 KB header": (
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\n" + ok(TOKENS)[17:],
        "malformed_response",
    ),
    "bad chunk size": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "malformed_response",
    ),
    "nothing": (b"", "connection_error"),
    "short body": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
        "connection_error",
    ),
    "bad gzip": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
        "malformed_response",
    ),
}


@pytest.mark.parametrize("fault", list(NOT_HTTP))
async def test_an_answer_that_is_not_http_is_a_transient_error(fault: str) -> None:
    raw, code = NOT_HTTP[fault]

    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(raw)
        return False

    async with raw_server(answer) as port:
        with pytest.raises(TransientError) as info:
            await refresh(port)
    assert info.value.code == code
    assert_clean(info.value)


async def test_one_bad_answer_among_64_fails_only_its_row() -> None:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"garbage\r\n\r\n" if b"refresh_token=RT-13" in request else ok(TOKENS))
        await writer.drain()
        return False

    async with raw_server(answer) as port, http_client(20.0, 64) as client:
        results = await asyncio.gather(
            *(refresh_grant(client, platform(port), f"RT-{n}", timeout=20.0) for n in range(64)),
            return_exceptions=True,
        )
    failed = [r for r in results if not isinstance(r, TokenSet)]
    assert len(failed) == 1 and isinstance(failed[0], TransientError)
    assert failed[0].code == "malformed_response"
    assert all(r.refresh_token == "ROT" for r in results if isinstance(r, TokenSet))


async def test_faults_do_not_wedge_the_connection_pool() -> None:
    faults = [raw for raw, _ in NOT_HTTP.values()] * 3
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (64 * MiB)

    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"refresh_token=GOOD" in request:
            writer.write(ok(TOKENS))
            return True
        if b"refresh_token=BIG" in request:
            await send_forever(writer, big, b"x" * 65536, 64 * MiB)
            return False
        writer.write(faults.pop())
        return False

    async with raw_server(answer) as port, http_client(20.0, 1) as client:  # 2 connections
        async with asyncio.timeout(PATIENCE):
            for _ in range(len(faults)):
                with pytest.raises(TransientError):
                    await refresh_grant(client, platform(port), "BAD", timeout=20.0)
            for _ in range(3):
                with pytest.raises(TransientError):
                    await refresh_grant(client, platform(port), "BIG", timeout=20.0)
            for _ in range(3):
                tokens = await refresh_grant(client, platform(port), "GOOD", timeout=20.0)
                assert tokens.refresh_token == "ROT"


# -- bodies past the caps ----------------------------------------------------------------------


class Sent:
    """What a body-sending server managed to send, per request."""

    def __init__(self) -> None:
        self.counts: asyncio.Queue[int] = asyncio.Queue()

    async def next(self) -> int:
        return await asyncio.wait_for(self.counts.get(), PATIENCE)


def body_server(head: bytes, chunk: bytes, total: int, sent: Sent) -> Answer:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await sent.counts.put(await send_forever(writer, head, chunk, total))
        return False

    return answer


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


FIFTY_MB = 50 * MiB
LENGTH_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def framed(framing: str, total: int) -> tuple[bytes, bytes]:
    """The head of an answer `total` bytes long in that framing, and the chunk its body repeats."""
    if framing == "chunked":
        return CHUNKED_HEAD, chunked(b"x" * 65536)
    return LENGTH_HEAD % total, b"x" * 65536


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_50_mb_token_response_is_not_read_to_its_end(framing: str) -> None:
    head, chunk = framed(framing, FIFTY_MB)
    sent = Sent()
    async with raw_server(body_server(head, chunk, FIFTY_MB, sent)) as port:
        with pytest.raises(TransientError) as info:
            await refresh(port)
        count = await sent.next()
    assert info.value.code == "response_too_large"
    assert str(MAX_TOKEN_RESPONSE_BYTES) in info.value.message
    assert_clean(info.value)
    assert count < FIFTY_MB - 8 * MiB  # the client hung up early


class Token:
    async def access_token(self) -> str:
        return AT

    async def refreshed_token(self) -> str:
        return AT


def api(client: httpx.AsyncClient, port: int) -> Api:
    return Api(client, f"http://127.0.0.1:{port}/v1", Token(), platform="acme")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_an_api_page_past_its_cap_is_not_read_to_its_end(framing: str) -> None:
    total = MAX_API_RESPONSE_BYTES + 2 * KERNEL_SLACK
    head, chunk = framed(framing, total)
    sent = Sent()
    async with raw_server(body_server(head, chunk, total, sent)) as port:
        async with http_client(20.0, 4) as client:
            with pytest.raises(TransientError) as info:
                await api(client, port).get("/items")
        count = await sent.next()
    assert info.value.code == "response_too_large"
    assert_clean(info.value)
    assert count < MAX_API_RESPONSE_BYTES + KERNEL_SLACK


def gzip_bomb(mib: int) -> bytes:
    """A gzip body of about 1 KB per MiB of zeros it inflates to (repeated deflate blocks)."""
    zeros = b"\0" * MiB
    first = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    head = first.compress(zeros) + first.flush(zlib.Z_FULL_FLUSH)
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    trailer = crc.to_bytes(4, "little") + (mib * MiB % 2**32).to_bytes(4, "little")
    return head + block * (mib - 1) + b"\x03\x00" + trailer


def test_the_gzip_bomb_is_valid_gzip() -> None:
    assert gzip.decompress(gzip_bomb(3)) == b"\0" * 3 * MiB


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(1024)  # 1 GiB inflated


def bomb_answer(bomb: bytes) -> Answer:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(bomb)
    )

    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(head + bomb)
        return False

    return answer


async def test_four_gzip_bombs_at_the_token_endpoint_stay_small(bomb: bytes) -> None:
    async with raw_server(bomb_answer(bomb)) as port, http_client(20.0, 4) as client:
        tracemalloc.start()
        try:
            results = await asyncio.gather(
                *(refresh_grant(client, platform(port), RT, timeout=20.0) for _ in range(4)),
                return_exceptions=True,
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert [getattr(r, "code", r) for r in results] == ["response_too_large"] * 4
    assert peak < 16 * MiB  # the 1 GiB it inflates to was never held (nor one 16 MiB chunk)


async def test_a_gzip_bomb_api_page_stays_near_its_cap(bomb: bytes) -> None:
    async with raw_server(bomb_answer(bomb)) as port, http_client(20.0, 4) as client:
        tracemalloc.start()
        try:
            with pytest.raises(TransientError) as info:
                await api(client, port).get("/items")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.value.code == "response_too_large"
    assert peak < MAX_API_RESPONSE_BYTES + 8 * MiB


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
        ("identity", lambda data: data),
        ("br", lambda data: data),  # never asked for: passed through as it is, like httpx
    ],
)
async def test_encoded_bodies_still_decode(coding: str, encode: Callable[[bytes], bytes]) -> None:
    payload = json.dumps({"items": ["x" * 100] * 1000}).encode()

    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok(encode(payload), b"Content-Encoding: %s\r\n" % coding.encode()))
        return True

    async with raw_server(answer) as port, http_client(20.0, 4) as client:
        page = await api(client, port).get("/items")
        assert page.body == json.loads(payload)
        assert "content-encoding" not in page.headers


async def test_gzip_token_response_decodes() -> None:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok(gzip.compress(TOKENS), b"Content-Encoding: gzip\r\n"))
        return False

    async with raw_server(answer) as port:
        tokens = await refresh(port)
    assert (tokens.access_token, tokens.refresh_token) == ("NEW", "ROT")


async def test_a_trickling_body_times_out_as_a_whole() -> None:
    total = 10 * MiB

    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(LENGTH_HEAD % total)
        sent = 0
        try:
            while sent < total:  # each read is quick; the whole never ends
                writer.write(b" ")
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.01)
        except (ConnectionError, OSError):
            pass
        return False

    async with raw_server(answer) as port:
        with pytest.raises(TransientError) as info:
            await refresh(port, timeout=0.5)
        assert info.value.code == "timeout"
        assert_clean(info.value)
        async with http_client(0.5, 4) as client:
            with pytest.raises(TransientError) as info:
                await api(client, port).get("/items")
        assert info.value.code == "timeout"
        assert_clean(info.value)


async def test_a_refused_connection_is_a_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(TransientError) as info:
        await refresh(port)
    assert info.value.code == "connection_error"
    assert_clean(info.value)


# -- odd payloads, through respx ------------------------------------------------------------


TOKEN_URL = "https://auth.example.test/token"
ACME = Platform("acme", TOKEN_URL, None, "client_secret_post", "id", SECRET)


@pytest.mark.parametrize("expires_in", ["1e12", '"inf"', '"nan"', "-5", '"abc"', "true", "1e400"])
async def test_a_bad_expires_in_keeps_the_rotated_refresh_token(expires_in: str) -> None:
    raw = '{"access_token": "NEW", "refresh_token": "ROT", "expires_in": ' + expires_in + "}"
    with respx.mock:
        respx.post(TOKEN_URL).respond(200, content=raw.encode(), content_type="application/json")
        async with httpx.AsyncClient() as client:
            tokens = await refresh_grant(client, ACME, RT, timeout=20.0)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in) == ("NEW", "ROT", None)
    assert tokens.warning is not None and tokens.warning.startswith("acme token response had")
    assert "default lifetime" in tokens.warning


def test_a_long_bad_expires_in_is_shown_short_and_printable() -> None:
    raw = {"access_token": "NEW", "refresh_token": "ROT", "expires_in": "\x1b[31m" + "9" * 500}
    tokens = classify("acme", 200, {"content-type": "application/json"}, json.dumps(raw).encode())
    assert tokens.warning is not None and "\x1b" not in tokens.warning
    assert "9" * 41 not in tokens.warning


@pytest.mark.parametrize("expires_in", [0, 3600, 3599.5, "7200", 10 * 365 * 86400])
def test_sane_expires_in_are_kept(expires_in: object) -> None:
    raw = {"access_token": "NEW", "expires_in": expires_in}
    tokens = classify("acme", 200, {"content-type": "application/json"}, json.dumps(raw).encode())
    assert tokens.expires_in == float(str(expires_in)) and tokens.warning is None


class Boom(Exception):
    pass


@pytest.mark.parametrize("exc", [Boom("x"), RuntimeError(RT), httpx.RemoteProtocolError(RT)])
async def test_any_exception_from_the_http_stack_is_transient(exc: Exception) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(side_effect=exc)
        respx.get("https://api.example.test/v1/items").mock(side_effect=exc)
        async with httpx.AsyncClient() as client:
            with pytest.raises(TransientError) as info:
                await refresh_grant(client, ACME, RT, timeout=20.0)
            assert type(exc).__name__ in info.value.message
            assert_clean(info.value)
            with pytest.raises(TransientError) as info:
                await Api(client, "https://api.example.test/v1", Token(), platform="acme").get(
                    "/items"
                )
            assert type(exc).__name__ in info.value.message
            assert_clean(info.value)


async def test_cancellation_is_not_swallowed() -> None:
    started = asyncio.Event()

    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        started.set()
        await asyncio.sleep(PATIENCE)
        return False

    async with raw_server(answer) as port:
        task = asyncio.ensure_future(refresh(port))
        await asyncio.wait_for(started.wait(), PATIENCE)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# -- Retry-After -------------------------------------------------------------------------------


def test_retry_after_forms() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    at = now.timestamp()
    assert httpio.retry_after_seconds("17", at) == 17
    assert httpio.retry_after_seconds(" 2.5 ", at) == 2.5
    assert httpio.retry_after_seconds("-5", at) == 0
    in_a_minute = format_datetime(now + timedelta(seconds=60), usegmt=True)
    assert httpio.retry_after_seconds(in_a_minute, at) == 60
    assert httpio.retry_after_seconds("Tue, 01 Jan 2030 00:01:00 -0000", at) == 60
    past = format_datetime(now - timedelta(days=1), usegmt=True)
    assert httpio.retry_after_seconds(past, at) == 0
    for garbage in (None, "", "soon", "inf", "nan", "Mon, 99 Foo 2030", "1e400"):
        assert httpio.retry_after_seconds(garbage, at) is None
    assert httpio.retry_after_seconds("1e12", at) == httpio.MAX_RETRY_AFTER


# -- classify never raises anything else -----------------------------------------------------

try:
    import hypothesis
    from hypothesis import strategies as st
except ImportError:  # not in the test extras yet: the property test is skipped
    hypothesis = None


@pytest.mark.skipif(hypothesis is None, reason="hypothesis is not installed")
def test_classify_returns_a_token_set_or_raises_a_provider_error() -> None:
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=20)
        | st.sampled_from(["access_token", "refresh_token", "1e400", "-1", "NaN"]),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    ["access_token", "refresh_token", "expires_in", "error", "error_description"]
                )
                | st.text(max_size=8),
                inner,
                max_size=6,
            )
        ),
        max_leaves=12,
    )
    bodies = (
        st.binary(max_size=200)
        | json_values.map(lambda v: json.dumps(v).encode())
        | json_values.map(lambda v: urlencode({"error": str(v), "access_token": str(v)}).encode())
        | st.sampled_from([b"[" * 100_000, b'{"expires_in": 1e400, "access_token": "a"}'])
    )
    headers = st.dictionaries(
        st.sampled_from(["content-type", "retry-after", "Content-Type", "x"]),
        st.text(max_size=40)
        | st.sampled_from(["application/json", "application/x-www-form-urlencoded"]),
        max_size=3,
    )

    @hypothesis.settings(max_examples=500, deadline=None, database=None)
    @hypothesis.given(status=st.integers(0, 999), headers=headers, body=bodies)
    def check(status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            result = classify("acme", status, headers, body, secrets=NO_SECRETS.plus(RT))
        except ProviderError:
            return
        assert isinstance(result, TokenSet)

    check()


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server TLS context with a certificate for 127.0.0.1 that no CA signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_https_verifies_the_certificate(tmp_path: Path) -> None:
    # The plain-http transport (loopback tests, benchmarks) has no TLS; https must still verify.
    asked: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            asked.append(await read_request(reader))
            writer.write(ok(TOKENS))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=self_signed(tmp_path))
    port = server.sockets[0].getsockname()[1]
    acme = Platform("acme", f"https://127.0.0.1:{port}/token", None, "client_secret_post", "i", "s")
    try:
        async with http_client(5.0, 4) as client:
            with pytest.raises(TransientError) as info:
                await refresh_grant(client, acme, "RT-1", timeout=5.0)
    finally:
        server.close()
        await server.wait_closed()
    assert info.value.code == "connection_error" and "Certificate" in info.value.message
    assert asked == [], "no request reached a server whose certificate did not verify"


async def test_a_cookie_one_users_answer_sets_never_reaches_another_users_request() -> None:
    # Through httpx (a mock transport) and through aiohttp's session (a loopback server): each
    # keeps cookies unless told not to.
    seen: list[str | None] = []
    cookie = "device_id=user-1-device; Path=/"

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        body = {"access_token": "AT", "expires_in": 3600}
        return httpx.Response(200, json=body, headers={"Set-Cookie": cookie})

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                )
                await reader.readexactly(length)
                seen.append("cookie" if b"\r\ncookie:" in head.lower() else None)
                writer.write(ok(TOKENS, f"Set-Cookie: {cookie}\r\n".encode()))
                await writer.drain()
        writer.close()

    acme = Platform("acme", "https://id.acme.example/token", None, "client_secret_post", "i", "s")
    async with http_client(5.0, 4, httpx.MockTransport(provider)) as client:
        for user_token in ("RT-user-1", "RT-user-2"):
            await refresh_grant(client, acme, user_token, timeout=5.0)
    server = await asyncio.start_server(serve, "localhost", 0)
    try:
        async with http_client(5.0, 4) as client:
            port = server.sockets[0].getsockname()[1]
            # A host name: aiohttp's default jar keeps no cookie of an IP address.
            local = Platform("acme", f"http://localhost:{port}/t", None, "client_secret_post")
            for user_token in ("RT-user-1", "RT-user-2"):
                await refresh_grant(client, local, user_token, timeout=5.0)
    finally:
        server.close()
        await server.wait_closed()
    assert seen == [None, None, None, None]
