"""The refresh exchange (RFC 6749 section 6) and the classification of what a provider answers.

`classify` is the one place that turns a token endpoint's response into a TokenSet or a
classified ProviderError; the jobs act on the class, never on status codes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import httpx

from tokensync.errors import (
    ClientConfigError,
    MalformedResponseError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from tokensync.http import faults, responses
from tokensync.http.prepared import PreparedPost
from tokensync.platforms.catalog import Platform, credential_variables
from tokensync.redaction import NO_SECRETS, Secrets, safe_code, scrub

_PERMANENT = {"invalid_grant", "bad_refresh_token", "expired_token", "invalid_token"}
_CLIENT = {
    "invalid_client",
    "unauthorized_client",
    "incorrect_client_credentials",
    "unsupported_grant_type",
    "invalid_client_id",
}
_RATE = {"slow_down", "rate_limited", "too_many_requests"}
_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
# A token response is a few hundred bytes; 64 KiB leaves room for any JWT an IdP issues. A body
# past it is not read further: if it held a rotated refresh token, that token is lost (the
# provider sent something we cannot hold), and the user may have to reconnect. Unavoidable.
MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
# The longest expires_in believed: a bigger one (or a negative, NaN, infinite, non-numeric one)
# is replaced by the platform's default lifetime, and the token is kept all the same.
MAX_EXPIRES_IN = 10 * 365 * 86400.0
_SHOWN = 40


@dataclass(frozen=True)
class TokenSet:
    """What a successful refresh returned."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: float | None
    token_type: str | None = None
    scope: str | None = None
    # Something odd about the response that did not stop the refresh (a bad expires_in).
    warning: str | None = None
    # The refresh token's own lifetime, when the platform says (GitHub Apps, on every rotation).
    refresh_expires_in: float | None = None


def request_parts(platform: Platform, refresh_token: str) -> tuple[dict[str, str], dict[str, str]]:
    """The form fields and headers of a refresh request for this platform."""
    return client_auth(platform, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def client_auth(platform: Platform, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A request's form with the client authenticated as the platform says: in the form, or
    in a Basic header (the refresh exchange and RFC 7009 revocation alike)."""
    headers = {"Accept": "application/json"}
    client_id, secret = platform.client_id or "", platform.client_secret or ""
    if platform.auth_method == "client_secret_basic":
        headers["Authorization"] = basic_auth(client_id, secret)
    else:
        form = {**form, "client_id": client_id, "client_secret": secret}
    return form, headers


def basic_auth(client_id: str, secret: str) -> str:
    """The Authorization header of HTTP Basic client authentication."""
    # RFC 6749 2.3.1: each half is form-encoded before joining.
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


class TokenEndpoint:
    """One platform's refresh exchange, its request built once (tokensync.http.prepared): the
    URL, the headers and the client's part of the form; only the refresh token varies."""

    def __init__(self, client: httpx.AsyncClient, platform: Platform) -> None:
        self.platform = platform
        form, headers = request_parts(platform, "")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        self._post = PreparedPost(client, platform.token_url, headers)
        # The form as httpx would encode it (urlencode, quote_plus), in the same order.
        before, after = urlencode(form).split("&refresh_token=", 1)
        _, _, rest = after.partition("&")
        self._head = f"{before}&refresh_token=".encode("ascii")
        self._tail = f"&{rest}".encode("ascii") if rest else b""
        self._where = f"{platform.name} token endpoint"

    async def refresh(
        self, refresh_token: str, *, timeout: float, secrets: Secrets = NO_SECRETS
    ) -> TokenSet:
        """Exchange a refresh token; return the new TokenSet or raise a classified ProviderError.

        `secrets`: the configured ones; the request's own (this refresh token, the client secret)
        are added here, and no message holds any of them in any spelling.
        """
        platform = self.platform
        form = self._head + quote_plus(refresh_token).encode("ascii") + self._tail
        try:
            # httpx's timeouts bound each read; this bounds the whole exchange, however it
            # trickles.
            async with asyncio.timeout(timeout * 2):
                response = await self._post.send(form, timeout=timeout)
                try:
                    body = await responses.read_capped(
                        response, MAX_TOKEN_RESPONSE_BYTES, self._where
                    )
                finally:
                    await response.aclose()
        except ProviderError:
            raise
        except Exception as exc:
            # Anything out of the HTTP stack fails this one refresh (CancelledError, a
            # BaseException, still cancels). Never chained: a traceback could show a secret.
            raise faults.transport_error(self._where, exc) from None
        return classify(
            platform.name,
            response.status_code,
            response.headers,
            body,
            secrets=secrets.plus(refresh_token, platform.client_secret),
        )


async def refresh_grant(
    client: httpx.AsyncClient,
    platform: Platform,
    refresh_token: str,
    *,
    timeout: float,
    secrets: Secrets = NO_SECRETS,
) -> TokenSet:
    """One refresh exchange (a job sends many through one TokenEndpoint per platform)."""
    return await TokenEndpoint(client, platform).refresh(
        refresh_token, timeout=timeout, secrets=secrets
    )


def classify(
    platform: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Secrets = NO_SECRETS,
) -> TokenSet:
    """Turn a token endpoint's answer into a TokenSet, or raise what it means.

    Whatever the status, headers and body, this returns a TokenSet or raises a ProviderError.
    """
    try:
        return _classify(platform, status, headers, body, secrets)
    except ProviderError:
        raise
    except Exception as exc:  # a bug here must fail one row, not the run
        raise MalformedResponseError(
            f"{platform} token endpoint answered something that could not be read "
            f"({type(exc).__name__})",
            status=status,
        ) from None


def _classify(
    platform: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Secrets,
) -> TokenSet:
    if status == 429:
        raise RateLimitedError(
            f"{platform} token endpoint rate limited the refresh",
            retry_after=responses.retry_after_seconds(headers.get("retry-after")),
        )
    if status >= 500:
        raise TransientError(f"{platform} token endpoint answered HTTP {status}", status=status)
    payload = _parse(headers, body)
    if payload is not None and isinstance(payload.get("error"), str):
        raise _error(platform, status, payload, headers, secrets)
    if payload is None:
        kind = headers.get("content-type", "no content type").split(";")[0]
        raise MalformedResponseError(
            f"{platform} token endpoint answered HTTP {status} with a body that is not a token "
            f"response ({kind}, {len(body)} bytes)",
            status=status,
        )
    if status >= 400:
        if status == 401:
            raise ClientConfigError(
                f"{platform} token endpoint refused the client with HTTP 401: "
                f"check {credential_variables(platform)}",
                status=status,
            )
        raise TransientError(
            f"{platform} token endpoint answered HTTP {status}",
            code=f"http_{status}",
            status=status,
        )
    return _token_set(platform, payload, secrets)


def _parse(headers: Mapping[str, str], body: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        value = None
    if isinstance(value, dict):
        return value
    if "application/x-www-form-urlencoded" in headers.get("content-type", ""):
        # GitHub answers form-encoded when a request forgets Accept: application/json.
        pairs = parse_qsl(body.decode("utf-8", "replace"))
        return dict(pairs) if pairs else None
    return None


def _error(
    platform: str,
    status: int,
    payload: Mapping[str, object],
    headers: Mapping[str, str],
    secrets: Secrets,
) -> ProviderError:
    description = scrub(payload.get("error_description"), secrets)
    code = safe_code(payload["error"], secrets)
    if code is None:
        # Not a word of OAuth's: ours stands in, and theirs is shown (masked) as text.
        theirs = scrub(payload["error"], secrets, limit=80)
        said = f'{platform} token endpoint answered HTTP {status} with the error "{theirs}"'
        said += f" ({description})" if description else ""
        return TransientError(said, code="provider_error", status=status)
    said = f"{platform}: {code}" + (f" ({description})" if description else "")
    if code in _PERMANENT or (code == "invalid_request" and "refresh_token" in description):
        return PermanentError(f"{said}: the user must reconnect", code=code, status=status)
    if code in _CLIENT:
        return ClientConfigError(
            f"{said}: the client credentials were refused; fix "
            f"{credential_variables(platform)} (or the config file) and run again",
            code=code,
            status=status,
        )
    if code in _RATE:
        return RateLimitedError(
            said, retry_after=responses.retry_after_seconds(headers.get("retry-after")), code=code
        )
    return TransientError(said, code=code, status=status)


def _token_set(platform: str, payload: Mapping[str, object], secrets: Secrets) -> TokenSet:
    access = payload.get("access_token")
    refresh = payload.get("refresh_token")
    if not isinstance(access, str) or not access:
        if isinstance(refresh, str) and refresh:
            raise MalformedResponseError(
                f"{platform} token response has a refresh_token but no usable access_token; "
                "the refresh token in it could not be used (if the platform rotated it, the "
                "stored one may no longer work and the user may have to reconnect)"
            )
        raise MalformedResponseError(f"{platform} token response has no access_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise MalformedResponseError(
            f"{platform} token response has a refresh_token that is not a usable string "
            f"({_kind(refresh)}); the response was rejected and none of its tokens were saved"
        )
    raw = payload.get("expires_in")
    expires_in = _seconds(raw)
    warning = None
    if raw is not None and raw != "" and expires_in is None:
        shown = _shown(raw, secrets.plus(access, refresh))
        warning = (
            f"{platform} token response had an invalid expires_in ({shown!r}); "
            "the platform's default lifetime was used"
        )
    token_type = payload.get("token_type")
    scope = payload.get("scope")
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        expires_in=expires_in,
        token_type=token_type if isinstance(token_type, str) else None,
        scope=scope if isinstance(scope, str) else None,
        warning=warning,
        refresh_expires_in=_seconds(payload.get("refresh_token_expires_in")),
    )


def _seconds(value: object) -> float | None:
    """A sane expires_in as seconds, or None (absent, negative, NaN, infinite, huge, not a
    number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and 0 <= value <= MAX_EXPIRES_IN:
        return float(value)  # NaN fails both comparisons; a huge int never reaches float()
    return None


def _kind(value: object) -> str:
    return "an empty string" if value == "" else f"a JSON {_JSON_KINDS.get(type(value), 'value')}"


_JSON_KINDS = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}


def _shown(value: object, secrets: Secrets) -> str:
    """At most _SHOWN printable characters of a bad value, for a message (secrets masked)."""
    if isinstance(value, str):
        return scrub(value, secrets, limit=_SHOWN + 3)
    if isinstance(value, bool | int | float):
        try:
            text = json.dumps(value)
        except ValueError:  # an integer of more digits than int -> str allows
            text = "a huge integer"
    else:
        text = _kind(value)
    text = _PRINTABLE.sub(" ", text)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
