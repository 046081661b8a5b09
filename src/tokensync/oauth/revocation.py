"""Revoking a grant at its provider (disconnect, erase), per platform as docs/platforms.md says:

- Google: POST to its revoke endpoint, form `token=` (the refresh token ends the whole grant);
- RFC 7009 (Discord, a platform of your own with `revocation_url`): POST `token` and
  `token_type_hint`, the client authenticated as for a refresh;
- GitHub: DELETE {api_base}/applications/{client_id}/grant, Basic auth with the client's id and
  secret, JSON body {"access_token": ...} (the access token must be valid: the caller refreshes
  an expired one first).

`revoke` is the one place that turns a revocation endpoint's answer into a Revocation or a
classified ProviderError. A token the provider reports as already invalid counts as revoked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from tokensync.crypto import Keyring, binding
from tokensync.errors import ClientConfigError, ProviderError, RateLimitedError, TransientError
from tokensync.http import faults, responses
from tokensync.oauth.token_endpoint import basic_auth, client_auth
from tokensync.platforms.catalog import Platform, credential_variables
from tokensync.redaction import NO_SECRETS, Secrets, safe_code, scrub

_MAX_BODY = 64 * 1024
# What providers answer for a token that is no longer valid: Google `invalid_token`; a dead
# refresh token `invalid_grant` on some providers (RFC 7009 itself answers 200 for those).
_ALREADY_INVALID = {"invalid_token", "invalid_grant", "expired_token"}
_CLIENT = {"invalid_client", "unauthorized_client"}


@dataclass(frozen=True)
class Revocation:
    """How a grant was revoked at its provider, or why it was not."""

    revoked: bool
    endpoint: str | None = None  # where it was (or would be) revoked
    already_invalid: bool = False  # the provider said the token was dead already
    reason: str | None = None  # why it was not revoked


@dataclass(frozen=True)
class GrantTokens:
    """The tokens a revocation may present (decrypted only for the request)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)


def decrypted_grant(
    keyring: Keyring,
    user_id: str,
    platform: str,
    access_token_enc: str,
    refresh_token_enc: str | None,
    what: str,
) -> GrantTokens:
    """The tokens of (user, platform) a revocation presents, decrypted from a row or a spooled
    set (CryptoError naming `what` when no key opens them)."""
    access = keyring.decrypt(access_token_enc, binding(user_id, platform, "access"), what)
    refresh = (
        keyring.decrypt(refresh_token_enc, binding(user_id, platform, "refresh"), what)
        if refresh_token_enc
        else None
    )
    return GrantTokens(access, refresh)


def plan(platform: Platform | None, name: str) -> Revocation:
    """Where a grant of this platform would be revoked (revoked False: not yet), or why not."""
    if platform is None:
        return Revocation(False, reason=f"the platform {name} is not configured any more")
    if platform.revocation is None:
        return Revocation(False, reason=platform.no_revocation or "no revocation endpoint")
    return Revocation(False, endpoint=_endpoint(platform))


async def revoke(
    client: httpx.AsyncClient,
    platform: Platform,
    tokens: GrantTokens,
    *,
    timeout: float,
    secrets: Secrets = NO_SECRETS,
) -> Revocation:
    """Revoke the grant these tokens belong to; raise a classified ProviderError if it fails.

    `secrets`: the configured ones; the tokens and the client secret are added here."""
    if platform.revocation is None:
        return plan(platform, platform.name)
    if platform.revocation != "google" and not platform.has_credentials:
        raise ClientConfigError(
            f"no client credentials for {platform.name}, which revocation needs: set "
            f"{credential_variables(platform.name)}",
            code="missing_client_credentials",
        )
    url = _endpoint(platform, shown=False)
    request = _request(platform, tokens)
    where = f"{platform.name} revocation endpoint"
    try:
        # httpx's timeouts bound each read; this bounds the whole exchange, however it trickles.
        async with (
            asyncio.timeout(timeout * 2),
            client.stream(
                request.method,
                url,
                headers=request.headers,
                data=request.form,
                json=request.json,
                timeout=timeout,
            ) as response,
        ):
            body = await responses.read_capped(response, _MAX_BODY, where)
    except ProviderError:
        raise
    except Exception as exc:
        raise faults.transport_error(where, exc) from None
    secrets = secrets.plus(tokens.access_token, tokens.refresh_token, platform.client_secret)
    return _answer(platform, response.status_code, response.headers, body, secrets)


def _endpoint(platform: Platform, *, shown: bool = True) -> str:
    """The revocation URL; as a receipt shows it, GitHub's without the client id in its path
    (no credential, not even the public half, is printed)."""
    if platform.revocation == "github":
        client_id = "{client_id}" if shown else quote(platform.client_id or "", safe="")
        return f"{platform.api_base}/applications/{client_id}/grant"
    return platform.revocation_url or ""


@dataclass(frozen=True)
class _Request:
    method: str
    headers: dict[str, str] = field(repr=False)
    form: dict[str, str] | None = field(default=None, repr=False)
    json: dict[str, str] | None = field(default=None, repr=False)


def _request(platform: Platform, tokens: GrantTokens) -> _Request:
    """The request of each kind of revocation."""
    if platform.revocation == "github":
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": basic_auth(platform.client_id or "", platform.client_secret or ""),
        }
        return _Request("DELETE", headers, json={"access_token": tokens.access_token})
    token = tokens.refresh_token or tokens.access_token
    if platform.revocation == "google":
        # The refresh token ends the whole grant; Google takes no client authentication here.
        return _Request("POST", {"Accept": "application/json"}, form={"token": token})
    hint = "refresh_token" if tokens.refresh_token else "access_token"
    form, headers = client_auth(platform, {"token": token, "token_type_hint": hint})
    return _Request("POST", headers, form=form)


def _answer(
    platform: Platform,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Secrets,
) -> Revocation:
    name, url = platform.name, _endpoint(platform)
    if 200 <= status < 300:
        return Revocation(True, endpoint=url)
    if status == 429:
        raise RateLimitedError(
            f"{name} revocation endpoint rate limited the request",
            retry_after=responses.retry_after_seconds(headers.get("retry-after")),
        )
    if status >= 500:
        raise TransientError(f"{name} revocation endpoint answered HTTP {status}", status=status)
    code, description = _error(body, secrets)
    said = f"{name} revocation endpoint answered HTTP {status}" + (
        f": {code}" + (f" ({description})" if description else "") if code else ""
    )
    if code in _ALREADY_INVALID or (platform.revocation == "github" and status == 404):
        # GitHub answers 404 for an access token it does not know (revoked, or expired).
        return Revocation(True, endpoint=url, already_invalid=True)
    if code in _CLIENT or status == 401:
        raise ClientConfigError(
            f"{said}: the client credentials were refused; fix {credential_variables(name)} "
            "(or the config file)",
            code=code or "invalid_client",
            status=status,
        )
    raise ProviderError(said, code=code or f"http_{status}", status=status)


def _error(body: bytes, secrets: Secrets) -> tuple[str | None, str]:
    """The OAuth error code and description of a JSON error body (GitHub: its message); a code
    that is not a short word becomes `provider_error`, and goes (masked) into the description."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, ""
    if not isinstance(payload, dict):
        return None, ""
    code = payload.get("error")
    description = scrub(payload.get("error_description") or payload.get("message"), secrets)
    if not isinstance(code, str) or not code:
        return None, description
    safe = safe_code(code, secrets)
    if safe is None:
        theirs = scrub(code, secrets, limit=80)
        return "provider_error", f'the error "{theirs}"' + (
            f"; {description}" if description else ""
        )
    return safe, description
