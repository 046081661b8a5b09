"""GitHub's `github_app_authorization` webhook: a user revoked the GitHub App's authorization.

GitHub signs each delivery with the App's webhook secret: `X-Hub-Signature-256` is `sha256=` and
the HMAC-SHA256 of the body, in hex. `X-GitHub-Delivery` identifies the delivery (a redelivery
keeps it), `X-GitHub-Event` names the event; the payload's `action` is `revoked` and `sender`
is the user (`id`, `login`). The account is GitHub's numeric user id, which `GET /user` says too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import orjson

from tokensync.errors import ConfigError, DeliveryError, UnverifiedDeliveryError
from tokensync.platforms.catalog import Platform
from tokensync.revocations.delivery import Delivery
from tokensync.revocations.notice import Notice
from tokensync.store.revocations import AccountRevocation

SOURCE = "github"
EVENT = "github_app_authorization"
_PREFIX = "sha256="
_MAX_ID = 128


def github_notice(
    delivery: Delivery, secret: str | None, platforms: Mapping[str, Platform]
) -> Notice:
    """Verify a webhook delivery and read it; anything unverified raises before it is read."""
    if not secret:
        raise ConfigError(
            "TOKENSYNC_GITHUB_WEBHOOK_SECRET is not set: set it to the GitHub App's webhook "
            "secret to verify its deliveries"
        )
    verify_signature(delivery, secret)
    delivery_id = delivery.header("X-GitHub-Delivery")
    if not delivery_id or len(delivery_id) > _MAX_ID or not delivery_id.isprintable():
        raise DeliveryError("the delivery has no X-GitHub-Delivery header (its id)")
    event = delivery.header("X-GitHub-Event") or ""
    if event != EVENT:
        # Verified, and not a revocation (a ping when the webhook is set up, say): acknowledged.
        return Notice(SOURCE, delivery_id, _shown(event))
    payload = _payload(delivery.body)
    action = payload.get("action")
    if action != "revoked":
        return Notice(SOURCE, delivery_id, f"{EVENT}.{_shown(action)}")
    sender = payload.get("sender")
    user_id = sender.get("id") if isinstance(sender, dict) else None
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise DeliveryError("the github_app_authorization payload has no sender.id (a user id)")
    names = tuple(n for n, p in platforms.items() if p.revocation == "github")
    reason = f"{EVENT}.revoked"
    return Notice(SOURCE, delivery_id, reason, (AccountRevocation(str(user_id), names, reason),))


def verify_signature(delivery: Delivery, secret: str) -> None:
    """X-Hub-Signature-256 must be the HMAC-SHA256 of the body under the secret."""
    given = delivery.header("X-Hub-Signature-256")
    if not given:
        raise UnverifiedDeliveryError(
            "the delivery has no X-Hub-Signature-256 header: not verified, nothing changed"
        )
    expected = _PREFIX + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise UnverifiedDeliveryError(
            "X-Hub-Signature-256 does not match the body under TOKENSYNC_GITHUB_WEBHOOK_SECRET: "
            "not verified, nothing changed"
        )


def _payload(body: bytes) -> dict[str, object]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DeliveryError("the delivery's body is not JSON") from None
    if not isinstance(payload, dict):
        raise DeliveryError("the delivery's body is not a JSON object")
    return payload


def _shown(value: object) -> str:
    """An event or action name for the document: short, printable."""
    text = value if isinstance(value, str) else ""
    text = "".join(c for c in text if c.isalnum() or c in "_.-")[:64]
    return text or "unknown"
