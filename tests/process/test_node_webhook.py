"""examples/node/verify-webhook.mjs verifies what tokensync signs (either secret while rotating)
and refuses a forged, altered or replayed delivery. Skipped, saying why, without node."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.webhook_receiver import NEW_SECRET, SECRET
from tokensync.events.webhook import SignedRequest, signed
from tokensync.store.models import StoredEvent

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "node" / "verify-webhook.mjs"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the example is not run"
)
OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LTAxMjM0NTY3ODlhYmNk"


def event() -> StoredEvent:
    now = datetime.now(UTC)
    return StoredEvent(
        id=1,
        seq=1,
        event_id="evt_0123456789abcdef0123456789abcdef",
        type="connection.needs_reauth",
        user_id="u_ü",
        connection_id=7,
        data={"connectionId": 7, "userId": "u_ü", "platform": "discord"},
        created_at=now,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        give_up_at=now + timedelta(days=3),
        last_attempt_at=None,
        last_error=None,
        delivered_at=None,
    )


def node(
    request: SignedRequest, secret: str, body: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    delivery = {"headers": request.headers, "body": (body or request.body).decode()}
    return subprocess.run(
        [NODE, str(SCRIPT)],
        input=json.dumps(delivery),
        env={"WEBHOOK_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_either_secret_verifies_while_rotating() -> None:
    request = signed(event(), (NEW_SECRET, SECRET), datetime.now(UTC))
    for secret in (NEW_SECRET, SECRET):
        verified = node(request, secret)
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout) == json.loads(request.body)
    refused = node(request, OTHER_SECRET)
    assert refused.returncode == 1 and "no matching signature" in refused.stderr


def test_an_altered_or_replayed_delivery_is_refused() -> None:
    request = signed(event(), (SECRET,), datetime.now(UTC))
    altered = request.body.replace(b"needs_reauth", b"recovered")
    assert node(request, SECRET, altered).returncode == 1
    old = signed(event(), (SECRET,), datetime.now(UTC) - timedelta(minutes=10))
    replayed = node(old, SECRET)
    assert replayed.returncode == 1 and "too old" in replayed.stderr
