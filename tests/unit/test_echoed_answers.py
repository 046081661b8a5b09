"""No secret leaves, whatever the other side echoes back, one answer at a time: a token endpoint,
a revocation endpoint and a platform API that repeat what they were sent (form body, Basic header,
bearer token) in every spelling, at every offset, in their error code, description, message and
HTML. Every surface of real runs against such a server is tests/cli/test_echoed_secrets.py."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import httpx
import pytest
import respx

from tests.support.hostile import echo, leaks, secret_runs
from tokensync.errors import ProviderError
from tokensync.oauth.revocation import GrantTokens, revoke
from tokensync.oauth.token_endpoint import basic_auth, classify
from tokensync.platforms.api import Api
from tokensync.platforms.catalog import Platform
from tokensync.redaction import MAX_TEXT, NO_SECRETS

pytestmark = pytest.mark.anyio

# Secrets with characters every encoding changes (space, /, +, =, %, &, ~).
REFRESH = "rt.Hostile-Refresh_0123456789/+=~ sec&ret"
ACCESS = "at.Hostile-Access_9876543210/+=~ tok&en"
CLIENT_SECRET = "cs Hostile/Client+Secret%value=42&x"
CLIENT_ID = "the-client id"


# Every offset at which a secret may straddle the cut of a description.
ALL_OFFSETS = range(0, MAX_TEXT + 20)


def _sent_to_token_endpoint(basic: bool) -> list[str]:
    form = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    if basic:
        header = basic_auth(CLIENT_ID, CLIENT_SECRET)
        pair = base64.b64decode(header.removeprefix("Basic ")).decode()
        return [urlencode(form), header, pair, REFRESH]
    form |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return [urlencode(form), REFRESH, CLIENT_SECRET]


@pytest.mark.parametrize("basic", [False, True], ids=["form", "basic"])
async def test_a_token_endpoint_echo_at_any_offset_leaves_nothing(basic: bool) -> None:
    runs = secret_runs(REFRESH, CLIENT_SECRET)
    sent = _sent_to_token_endpoint(basic)
    secrets = NO_SECRETS.plus(REFRESH, CLIENT_SECRET)
    for offset in ALL_OFFSETS:
        said = echo(sent, offset)
        payloads: list[dict[str, object]] = [{"error": "invalid_grant", "error_description": said}]
        if offset % 7 == 0:  # the code itself an echo, cut anywhere
            payloads += [
                {"error": said, "error_description": said},
                {"error": echo(sent, 0)[offset:], "error_description": 7},
            ]
        for payload in payloads:
            body = json.dumps(payload).encode()
            with pytest.raises(ProviderError) as info:
                classify("acme", 400, {"content-type": "application/json"}, body, secrets=secrets)
            error = info.value
            assert leaks(error.message, runs) == [] and leaks(error.code, runs) == [], offset
            assert error.message.isprintable()
            if payload["error"] != "invalid_grant":
                assert error.code == "provider_error" and error.status == 400


async def test_a_bad_expires_in_echoing_the_new_tokens_is_shown_masked() -> None:
    """A success whose expires_in repeats the tokens it issues: the warning names the value,
    masked (the new tokens are secrets of this request too)."""
    issued = {"access_token": ACCESS, "refresh_token": REFRESH}
    for offset in (0, 5, 30, 39, 40, 41):
        body = json.dumps({**issued, "expires_in": echo([ACCESS, REFRESH], offset)}).encode()
        tokens = classify("acme", 200, {"content-type": "application/json"}, body)
        assert tokens.warning is not None and "invalid expires_in" in tokens.warning
        assert leaks(tokens.warning, secret_runs(ACCESS, REFRESH)) == [], tokens.warning


async def test_an_unsafe_code_becomes_ours_and_a_safe_one_is_kept() -> None:
    def code_of(error: object) -> str:
        body = json.dumps({"error": error}).encode()
        with pytest.raises(ProviderError) as info:
            classify("acme", 400, {"content-type": "application/json"}, body)
        return info.value.code

    assert code_of("invalid_grant") == "invalid_grant"
    assert code_of("slow_down") == "slow_down"
    assert code_of("vendor.specific-code_2") == "vendor.specific-code_2"
    for unsafe in ("x" * 65, "two words", "ctrl\x1bchars", "bidi\u202eevil", "é"):
        assert code_of(unsafe) == "provider_error", unsafe


async def test_a_revocation_endpoint_echo_leaves_nothing() -> None:
    platform = Platform(
        "acme",
        "https://acme.test/token",
        None,
        "client_secret_post",
        CLIENT_ID,
        CLIENT_SECRET,
        revocation="rfc7009",
        revocation_url="https://acme.test/revoke",
    )
    runs = secret_runs(REFRESH, ACCESS, CLIENT_SECRET)
    sent = [REFRESH, ACCESS, CLIENT_SECRET, urlencode({"token": REFRESH})]
    for offset in (0, 150, 189, 195, 200, 299, 300, 301):
        payload = {"error": echo(sent, offset)[:900], "error_description": echo(sent, offset)}
        with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
            router.post("https://acme.test/revoke").respond(400, json=payload)
            async with httpx.AsyncClient() as client:
                with pytest.raises(ProviderError) as info:
                    await revoke(client, platform, GrantTokens(ACCESS, REFRESH), timeout=5.0)
        assert leaks(info.value.message, runs) == [] and info.value.code == "provider_error"


class _Token:
    async def access_token(self) -> str:
        return ACCESS

    async def refreshed_token(self) -> str:
        return ACCESS


async def test_a_platform_api_echoing_the_bearer_token_leaves_nothing() -> None:
    runs = secret_runs(ACCESS)
    for offset in (*range(180, 205), 0, 290, 300, 499, 500, 501):
        said = echo([f"Bearer {ACCESS}", ACCESS], offset)
        body = {"message": f"token Bearer {ACCESS} has no scope {said}", "error": said}
        with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
            router.get("https://api.acme.test/v1/me").respond(403, json=body)
            async with httpx.AsyncClient() as client:
                api = Api(client, "https://api.acme.test/v1", _Token(), platform="acme")
                with pytest.raises(ProviderError) as info:
                    await api.get("/me")
        assert info.value.code == "http_403"
        assert leaks(info.value.message, runs) == [], (offset, info.value.message)
