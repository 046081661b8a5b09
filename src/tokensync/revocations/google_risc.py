"""Google's Cross-Account Protection (RISC): security event tokens, signed JWTs (RFC 8417).

A token is verified before anything is read from it: signed RS256 by a key of Google's JWKS
(google_keys.py, the key id refetched once when unknown), issued by Google, addressed to one of
`google_risc_audience`, issued no later than now (a minute's leeway) and no earlier than
`MAX_AGE` ago (Google retries a delivery for a limited time; an older token is a replay), and not
expired if it says when it expires. Its `jti` identifies it (the delivery id).

What each event does:

- `oauth/event-type/token-revoked` names one refresh token (`hash_base64_sha512_sha512` or
  `prefix`, token_digests.py): the connection holding it is revoked.
- `oauth/event-type/tokens-revoked`, `risc/event-type/account-disabled` and
  `risc/event-type/account-purged` name the Google account (`sub`): its connections on the
  platforms whose grants Google issues are revoked.
- `sessions-revoked`, `account-credential-change-required`, `account-enabled`, `verification`
  end no grant: acknowledged, nothing changed (a credential change that kills Gmail-scoped grants
  shows at their next refresh, as needs_reauth).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from tokensync.errors import ConfigError, DeliveryError, TransientError, UnverifiedDeliveryError
from tokensync.revocations.delivery import Delivery
from tokensync.revocations.google_keys import signing_key
from tokensync.revocations.notice import Notice, TokenRevocation
from tokensync.runtime.deps import Deps
from tokensync.store.revocations import AccountRevocation
from tokensync.token_digests import ALGORITHMS

SOURCE = "google-risc"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
TOKEN_REVOKED = OAUTH + "token-revoked"
ACCOUNT_EVENTS = frozenset(
    {OAUTH + "tokens-revoked", RISC + "account-disabled", RISC + "account-purged"}
)
MAX_AGE = timedelta(days=3)
LEEWAY = timedelta(minutes=1)
_MAX_TOKEN = 16 * 1024
_MAX_ID = 128
_REQUIRED = ["iss", "aud", "iat", "jti", "events"]


async def google_notice(deps: Deps, delivery: Delivery) -> Notice:
    """Verify a security event token (the delivery's body) and read it."""
    settings = deps.settings.revocations
    if not settings.google_risc_audience:
        raise ConfigError(
            "google_risc_audience is not set: give the OAuth client ids the security event "
            "tokens are addressed to"
        )
    claims = await verified_claims(deps, _token(delivery.body))
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > _MAX_ID or not jti.isprintable():
        raise DeliveryError("the security event token's jti is not a short printable string")
    events = claims["events"]
    if not isinstance(events, dict) or not events:
        raise DeliveryError("the security event token's events is not an object of events")
    google = tuple(n for n, p in deps.settings.platforms.items() if p.issued_by_google)
    accounts: list[AccountRevocation] = []
    tokens: list[TokenRevocation] = []
    for kind, event in events.items():
        reason = _short(kind)
        if kind in ACCOUNT_EVENTS:
            accounts.append(AccountRevocation(_subject_sub(event, claims["iss"]), google, reason))
        elif kind == TOKEN_REVOKED:
            algorithm, identifier = _token_subject(event)
            tokens.append(TokenRevocation(algorithm, identifier, google, reason))
    event_names = ",".join(_short(kind) for kind in events)
    return Notice(SOURCE, jti, event_names, tuple(accounts), tuple(tokens))


async def verified_claims(deps: Deps, token: str) -> dict[str, Any]:
    """The claims of a token whose signature, issuer, audience and times check; else raises
    UnverifiedDeliveryError (nothing read from it is trusted)."""
    settings = deps.settings.revocations
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise _unverified("the body is not a JWT (a security event token)") from None
    kid = header.get("kid")
    if header.get("alg") != "RS256" or not isinstance(kid, str) or not kid:
        raise _unverified("the token is not signed RS256 with a key id")
    jwk = await signing_key(deps, kid)
    if jwk is None:
        raise _unverified(f"key id {_short(kid)!r} is not one of Google's keys, even refetched")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm="RS256").key
    except jwt.PyJWKError:
        raise TransientError(
            f"Google's key {_short(kid)!r} is not an RSA key", code="keys_unavailable"
        ) from None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=list(settings.google_risc_audience),
            issuer=settings.google_risc_issuer,
            options={
                "require": _REQUIRED,
                "verify_exp": False,  # judged below, by the clock every run shares
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise _unverified("its audience is none of google_risc_audience") from None
    except jwt.InvalidIssuerError:
        raise _unverified(f"its issuer is not {settings.google_risc_issuer}") from None
    except jwt.InvalidSignatureError:
        raise _unverified("its signature does not verify with Google's key") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _unverified(f"it has no {exc.claim} claim") from None
    except jwt.InvalidTokenError as exc:
        raise _unverified(f"it does not verify ({type(exc).__name__})") from None
    _check_times(claims, deps.clock.now())
    return claims


def _check_times(claims: Mapping[str, Any], now: datetime) -> None:
    issued = _instant(claims.get("iat"), "iat")
    if issued > now + LEEWAY:
        raise _unverified("it was issued in the future (iat): check this host's clock")
    if issued < now - MAX_AGE:
        raise _unverified(f"it was issued more than {MAX_AGE.days} days ago (iat): a replay")
    if claims.get("exp") is not None and _instant(claims["exp"], "exp") < now - LEEWAY:
        raise _unverified("it has expired (exp)")


def _instant(value: object, name: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _unverified(f"its {name} is not a number of seconds")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise _unverified(f"its {name} is not a time") from None


def _token(body: bytes) -> str:
    if len(body) > _MAX_TOKEN:
        raise DeliveryError(f"the security event token is longer than {_MAX_TOKEN // 1024} KiB")
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise _unverified("the body is not a JWT (a security event token)") from None


def _subject_sub(event: object, issuer: object) -> str:
    subject = event.get("subject") if isinstance(event, dict) else None
    if not isinstance(subject, dict):
        raise DeliveryError("an account event of the token has no subject (the account)")
    sub = subject.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255 or not sub.isprintable():
        raise DeliveryError("an account event of the token has no subject sub (the account)")
    if subject.get("iss", issuer) != issuer:
        raise DeliveryError("an account event names an account of another issuer")
    return sub


def _token_subject(event: object) -> tuple[str, str]:
    subject = event.get("subject") if isinstance(event, dict) else None
    if not isinstance(subject, dict):
        raise DeliveryError("the token-revoked event has no subject (the token)")
    algorithm, identifier = subject.get("token_identifier_alg"), subject.get("token")
    if algorithm not in ALGORITHMS or not isinstance(identifier, str) or not identifier:
        raise DeliveryError(
            "the token-revoked event names its token by neither hash_base64_sha512_sha512 nor "
            "prefix"
        )
    if subject.get("token_type", "refresh_token") != "refresh_token":
        raise DeliveryError("the token-revoked event names a token that is no refresh token")
    return str(algorithm), identifier


def _short(value: str) -> str:
    """An event type's last part, or a key id, short and printable."""
    text = value.rstrip("/").rsplit("/", 1)[-1]
    return "".join(c for c in text if c.isalnum() or c in "_.-")[:64] or "unknown"


def _unverified(why: str) -> UnverifiedDeliveryError:
    return UnverifiedDeliveryError(
        f"the security event token does not verify: {why}; nothing changed"
    )
