"""What `tokensync doctor` asks over the network: each platform's token endpoint, with the
configured client and a refresh token that cannot exist (a right client is told `invalid_grant`,
a wrong one `invalid_client`), and the webhook receiver, with a signed `test` event. No user's
grant is touched."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import httpx

from tokensync.doctor.report import Check
from tokensync.errors import ClientConfigError, PermanentError, ProviderError
from tokensync.events.webhook import Answer, send, signed
from tokensync.oauth.token_endpoint import refresh_grant
from tokensync.platforms.catalog import Platform, credential_variables
from tokensync.redaction import Secrets
from tokensync.settings import Settings
from tokensync.store.models import StoredEvent

# What is sent as the refresh token: no provider issued it, so no grant can be touched.
PROBE_REFRESH_TOKEN = "tokensync-doctor-probe-not-a-refresh-token"
TEST_EVENT = "test"


async def check_credentials(
    client: httpx.AsyncClient, platforms: Sequence[Platform], settings: Settings, secrets: Secrets
) -> list[Check]:
    """One check per platform with client credentials: does its token endpoint accept them?
    Platforms that share one client and endpoint (Google's) are asked once."""
    asked: dict[tuple[str, str | None, str | None, str], Check] = {}
    checks = []
    for platform in platforms:
        key = (platform.token_url, platform.client_id, platform.client_secret, platform.auth_method)
        if key not in asked:
            asked[key] = await _probe(client, platform, settings, secrets)
        found = asked[key]
        checks.append(Check(found.name, found.status, found.found, found.fix, platform.name))
    return checks


async def _probe(
    client: httpx.AsyncClient, platform: Platform, settings: Settings, secrets: Secrets
) -> Check:
    fix = (
        f"check {credential_variables(platform.name)}, and auth_method (now {platform.auth_method})"
    )
    try:
        await refresh_grant(
            client,
            platform,
            PROBE_REFRESH_TOKEN,
            timeout=settings.request_timeout,
            secrets=secrets,
        )
    except PermanentError:
        found = "the token endpoint accepted the client (and refused the made-up refresh token)"
        return Check.ok("credentials", found)
    except ClientConfigError as exc:
        return Check(
            "credentials", "fail", f"the token endpoint refused the client: {exc.message}", fix
        )
    except ProviderError as exc:
        found = f"could not tell: the token endpoint answered {exc.code}: {exc.message}"
        return Check("credentials", "warn", found, "run doctor again later")
    found = "the token endpoint issued tokens for a refresh token that does not exist"
    return Check("credentials", "warn", found, f"check token_url ({platform.token_url})")


async def send_test_event(client: httpx.AsyncClient, settings: Settings, now: datetime) -> Check:
    """Deliver a signed `test` event to webhook_url; the receiver's answer."""
    url = settings.webhook_url
    if url is None or not settings.webhook_secrets:
        return Check("webhook_test", "skip", "no webhook is configured to send a test event to")
    event = StoredEvent(
        id=0,
        seq=None,
        event_id=f"evt_test_{uuid.uuid4().hex}",
        type=TEST_EVENT,
        user_id=None,
        connection_id=None,
        data={"message": "a test event from tokensync doctor: nothing happened to any connection"},
        created_at=now,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        give_up_at=now,
        last_attempt_at=None,
        last_error=None,
        delivered_at=None,
    )
    verdict = await send(
        client, url, signed(event, settings.webhook_secrets, now), timeout=settings.webhook_timeout
    )
    if verdict.answer is Answer.DELIVERED:
        return Check.ok(
            "webhook_test", f"the receiver accepted a signed test event ({event.event_id})"
        )
    found = f"the receiver did not accept a signed test event: {verdict.error}"
    fix = (
        "check that the receiver verifies with the same secret as TOKENSYNC_WEBHOOK_SECRET, and "
        "accepts events of a type it does not know"
    )
    return Check("webhook_test", "fail", found, fix)
