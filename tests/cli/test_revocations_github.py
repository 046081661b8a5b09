"""`revocations ingest --source github` on both engines: GitHub's github_app_authorization webhook,
signed with a test secret in the payload shape of GitHub's docs, verified, applied once, and told
to the application through the outbox (and on to a Standard Webhooks receiver)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
import respx

from tests.cli.test_events_cli import Hooks, configure, hooks  # noqa: F401 (the receiver fixture)
from tests.support.support import CLIENT_ENV, Cli, connection, expire_all, query_value
from tokensync.client import open_client
from tokensync.errors import UnverifiedDeliveryError

SECRET = "test-github-app-webhook-secret-0123"
GITHUB_ENV = {"TOKENSYNC_GITHUB_WEBHOOK_SECRET": SECRET}
OCTOCAT = 583231
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def authorization_revoked(user_id: int = OCTOCAT, login: str = "octocat") -> bytes:
    """A github_app_authorization delivery's body, as GitHub sends it (compact JSON)."""
    payload = {
        "action": "revoked",
        "sender": {
            "login": login,
            "id": user_id,
            "node_id": "MDQ6VXNlcjU4MzIzMQ==",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "",
            "url": f"https://api.github.com/users/{login}",
            "html_url": f"https://github.com/{login}",
            "type": "User",
            "site_admin": False,
        },
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def headers_for(
    body: bytes,
    *,
    delivery: str = DELIVERY,
    event: str = "github_app_authorization",
    secret: str = SECRET,
) -> dict[str, str]:
    """The headers GitHub sends with a delivery, signed with `secret`."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/a1b2c3d",
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": "292430182",
        "X-GitHub-Hook-Installation-Target-ID": "79929171",
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def ingest(cli: Cli, body: bytes, headers: dict[str, str], **env: str) -> object:
    options = [item for name, value in headers.items() for item in ("--header", f"{name}: {value}")]
    return cli(
        "revocations",
        "ingest",
        "--source",
        "github",
        *options,
        stdin=body,
        extra_env={**GITHUB_ENV, **env},
    )


def connect(cli: Cli, *rows: tuple[str, str, str | None]) -> None:
    lines = [
        json.dumps(
            {
                "userId": user,
                "platform": platform,
                "accessToken": f"AT-{platform}-{user}",
                "refreshToken": f"RT-{platform}-{user}",
                "expiresIn": 3600,
                **({"providerUserId": account} if account else {}),
            }
        )
        for user, platform, account in rows
    ]
    assert cli("tokens", "import", stdin="\n".join(lines)).code == 0


def statuses(cli: Cli) -> dict[tuple[str, str], str]:
    return {(c["userId"], c["platform"]): c["status"] for c in cli("tokens", "list").json}


def events(cli: Cli) -> list[tuple[str, dict[str, object]]]:
    lines = cli("events", "list").out.splitlines()
    return [(e["type"], e["data"]) for e in map(json.loads, lines)]


@pytest.fixture
def accounts(cli: Cli) -> dict[str, int]:
    """Two app users connected with the same GitHub account, another GitHub account, and a
    Google connection: the connection ids by user."""
    connect(
        cli,
        ("u1", "github", str(OCTOCAT)),
        ("u2", "github", str(OCTOCAT)),
        ("u3", "github", "1"),
        ("u1", "youtube", str(OCTOCAT)),  # the same digits at Google: another account entirely
    )
    return {c["userId"]: c["id"] for c in cli("tokens", "list", "--platform", "github").json}


def test_a_verified_revocation_revokes_every_connection_of_the_account(
    cli: Cli, db_url: str, accounts: dict[str, int], mock_http: respx.MockRouter
) -> None:
    body = authorization_revoked()
    result = ingest(cli, body, headers_for(body))
    assert result.code == 0, result.err
    assert result.json == {
        "success": True,
        "source": "github",
        "deliveryId": DELIVERY,
        "event": "github_app_authorization.revoked",
        "replayed": False,
        "accounts": 1,
        "unknownAccounts": 0,
        "revoked": [
            {
                "connectionId": accounts[u],
                "userId": u,
                "platform": "github",
                "providerUserId": "583231",
            }
            for u in ("u1", "u2")
        ],
    }
    assert statuses(cli) == {
        ("u1", "github"): "revoked",
        ("u2", "github"): "revoked",
        ("u3", "github"): "active",
        ("u1", "youtube"): "active",
    }
    revoked = connection(db_url, "u1", "github")
    assert (revoked.access_token_enc, revoked.refresh_token_enc) == ("", None), "tokens cleared"
    assert revoked.grant_generation == 2, "a refresh in flight stores nothing of the old grant"
    assert events(cli) == [
        (
            "connection.revoked",
            {
                "connectionId": accounts[u],
                "userId": u,
                "platform": "github",
                "source": "github",
                "reason": "github_app_authorization.revoked",
            },
        )
        for u in ("u1", "u2")
    ]
    # No refresh and no poll: strict respx has no route, so a request would fail the run.
    expire_all(db_url)
    revoked_users = ("--user", "u1", "--user", "u2")
    refreshed = cli("refresh-tokens", "--platform", "github", *revoked_users)
    polled = cli("poll-platforms", "--platform", "github", *revoked_users)
    assert refreshed.code == 0 and refreshed.json["tokensChecked"] == 0, refreshed.out
    assert refreshed.json["skipped"]["byReason"] == {"revoked": 2}
    assert polled.code == 0 and polled.json["pollsSuccessful"] + polled.json["pollsFailed"] == 0
    assert polled.json["skipped"]["byReason"] == {"revoked": 2}, polled.out
    got = cli("tokens", "get", "--user", "u1", "--platform", "github")
    assert got.code == 1 and got.json["error"]["code"] == "revoked"


def test_the_same_delivery_again_changes_nothing(
    cli: Cli, db_url: str, accounts: dict[str, int]
) -> None:
    body = authorization_revoked()
    assert ingest(cli, body, headers_for(body)).code == 0
    # The user connects again; GitHub redelivers the old delivery (same X-GitHub-Delivery).
    connect(cli, ("u1", "github", str(OCTOCAT)))
    again = ingest(cli, body, headers_for(body))
    assert again.code == 0, again.err
    assert again.json["replayed"] is True and again.json["revoked"] == []
    assert statuses(cli)[("u1", "github")] == "active", "the new grant is left alone"
    assert [kind for kind, _ in events(cli)] == [
        "connection.revoked",
        "connection.revoked",
        "connection.recovered",
    ]
    assert query_value(db_url, "SELECT COUNT(*) FROM revocation_deliveries") == 1


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        (
            headers_for(authorization_revoked(), secret="another-secret-entirely-0123"),
            "unverified_delivery",
            "X-Hub-Signature-256 does not match the body",
        ),
        (
            {k: v for k, v in headers_for(authorization_revoked()).items() if "Signature" not in k},
            "unverified_delivery",
            "the delivery has no X-Hub-Signature-256 header",
        ),
        (
            # Signed, but for another body: the user id was changed on the way.
            headers_for(authorization_revoked(user_id=1)),
            "unverified_delivery",
            "X-Hub-Signature-256 does not match the body",
        ),
        (
            {k: v for k, v in headers_for(authorization_revoked()).items() if "Delivery" not in k},
            "invalid_delivery",
            "the delivery has no X-GitHub-Delivery header",
        ),
    ],
)
def test_anything_unverified_is_refused_and_nothing_changes(
    cli: Cli,
    db_url: str,
    accounts: dict[str, int],
    headers: dict[str, str],
    code: str,
    message: str,
) -> None:
    result = ingest(cli, authorization_revoked(), headers)
    assert result.code == 2
    assert result.json["error"]["code"] == code
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert SECRET not in result.out + result.err
    assert set(statuses(cli).values()) == {"active"}
    assert events(cli) == []
    assert query_value(db_url, "SELECT COUNT(*) FROM revocation_deliveries") == 0


def test_without_the_secret_configured_nothing_is_trusted(
    cli: Cli, accounts: dict[str, int]
) -> None:
    body = authorization_revoked()
    result = ingest(cli, body, headers_for(body), TOKENSYNC_GITHUB_WEBHOOK_SECRET="")
    assert result.code == 2 and result.json["error"]["code"] == "config_error"
    assert "TOKENSYNC_GITHUB_WEBHOOK_SECRET is not set" in result.err
    assert set(statuses(cli).values()) == {"active"}


def test_an_unknown_account_and_other_events_are_acknowledged_and_counted(
    cli: Cli, accounts: dict[str, int]
) -> None:
    stranger = authorization_revoked(user_id=9919, login="stranger")
    unknown = ingest(cli, stranger, headers_for(stranger, delivery="d-unknown"))
    assert unknown.code == 0, unknown.err
    assert (unknown.json["accounts"], unknown.json["unknownAccounts"]) == (1, 1)
    assert unknown.json["revoked"] == []
    ping = json.dumps({"zen": "Design for failure.", "hook_id": 292430182}).encode()
    acknowledged = ingest(cli, ping, headers_for(ping, delivery="d-ping", event="ping"))
    assert acknowledged.code == 0, acknowledged.err
    assert (acknowledged.json["event"], acknowledged.json["accounts"]) == ("ping", 0)
    assert set(statuses(cli).values()) == {"active"} and events(cli) == []


def test_the_envelope_on_stdin_is_the_same_delivery(cli: Cli, accounts: dict[str, int]) -> None:
    body = authorization_revoked()
    envelope = json.dumps({"headers": headers_for(body), "body": body.decode()})
    result = cli(
        "revocations", "ingest", "--source", "github", stdin=envelope, extra_env=GITHUB_ENV
    )
    assert result.code == 0, result.err
    assert [c["userId"] for c in result.json["revoked"]] == ["u1", "u2"]
    parsed = json.dumps({"headers": headers_for(body), "body": json.loads(body)})
    refused = cli("revocations", "ingest", "--source", "github", stdin=parsed, extra_env=GITHUB_ENV)
    assert refused.code == 2 and refused.json["error"]["code"] == "invalid_delivery"
    assert "the envelope's body must be the raw body as a string" in refused.err


def test_the_python_api_takes_the_receivers_request(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, cli: Cli, accounts: dict[str, int]
) -> None:
    for name, value in {**env, **CLIENT_ENV, **GITHUB_ENV}.items():
        monkeypatch.setenv(name, value)
    body = authorization_revoked()
    # Header names as a web framework may spell them.
    lowered = {name.lower(): value for name, value in headers_for(body).items()}
    with open_client() as client:
        with pytest.raises(UnverifiedDeliveryError):
            client.ingest_revocation("github", body + b" ", lowered)
        done = client.ingest_revocation("github", body, lowered)
    assert [c.user_id for c in done.revoked] == ["u1", "u2"] and not done.replayed
    assert statuses(cli)[("u1", "github")] == "revoked"


def test_connection_revoked_reaches_a_standard_webhooks_receiver(
    cli: Cli,
    tmp_path: Path,
    hooks: Hooks,  # noqa: F811 (the fixture imported above)
    accounts: dict[str, int],
) -> None:
    extra = configure(tmp_path, hooks, webhook=True)
    body = authorization_revoked()
    assert ingest(cli, body, headers_for(body), **extra).code == 0
    delivered = cli("events", "deliver", extra_env=extra)
    assert delivered.code == 0 and delivered.json["delivered"] == 2, delivered.out
    received = sorted(
        (e["type"], e["data"]["userId"], e["data"]["source"]) for e in hooks.accepted.values()
    )
    assert received == [
        ("connection.revoked", "u1", "github"),
        ("connection.revoked", "u2", "github"),
    ]
    assert hooks.rejected == 0
