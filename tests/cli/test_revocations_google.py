"""`revocations ingest --source google-risc` on both engines: Google's security event tokens,
signed by a test key that a loopback JWKS endpoint serves (as Google's certs URL does, with a
max-age), verified (signature, issuer, audience, time), each event type applied or acknowledged,
and a `token-revoked` event's hashed refresh token matched to the one connection holding it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.support import Cli, FakeClock, query_value, run_sql
from tokensync.client import AsyncTokenClient
from tokensync.crypto import Keyring, binding
from tokensync.errors import UnverifiedDeliveryError
from tokensync.settings import load_settings

AUDIENCE = "google-client-id-value.apps.googleusercontent.com"
ISSUER = "https://accounts.google.com/"
SUB = "110169484474386276334"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
GOOGLE_RT = {"u1": "1//0gAlpha-refresh-token-of-u1-xyz", "u2": "1//0gBravo-refresh-token-of-u2-xyz"}


@dataclass
class Signer:
    """A signing key and its key id."""

    kid: str
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        """The public half, as Google's JWKS lists it."""
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}


@dataclass
class Keys:
    """The loopback JWKS endpoint: the keys it serves, and how often it was asked."""

    served: list[Signer]
    fetches: int = 0
    url: str = ""


@pytest.fixture
def keys() -> Iterator[Keys]:
    state = Keys(served=[Signer("k-2026-12")])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = json.dumps({"keys": [s.jwk() for s in state.served]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Cache-Control", "public, max-age=3600, must-revalidate, no-transform")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/oauth2/v3/certs"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def risc_env(tmp_path: Path, keys: Keys) -> dict[str, str]:
    config = tmp_path / "risc.toml"
    config.write_text(
        f'google_risc_audience = ["{AUDIENCE}"]\ngoogle_risc_jwks_url = "{keys.url}"\n'
    )
    return {"TOKENSYNC_CONFIG": str(config)}


def security_event(
    signer: Signer,
    events: dict[str, Any],
    *,
    iat: float | None = None,
    jti: str | None = None,
    **claims: Any,
) -> str:
    """A security event token of the shape Google sends."""
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(time.time() if iat is None else iat),
        "jti": jti or uuid.uuid4().hex,
        "events": events,
        **claims,
    }
    return jwt.encode(
        body, signer.key, algorithm="RS256", headers={"kid": signer.kid, "typ": "secevent+jwt"}
    )


def account_event(kind: str, sub: str = SUB, **extra: Any) -> dict[str, Any]:
    return {kind: {"subject": {"subject_type": "iss-sub", "iss": ISSUER, "sub": sub}, **extra}}


def token_event(algorithm: str, identifier: str) -> dict[str, Any]:
    subject = {
        "subject_type": "oauth_token",
        "token_type": "refresh_token",
        "token_identifier_alg": algorithm,
        "token": identifier,
    }
    return {OAUTH + "token-revoked": {"subject": subject}}


def double_sha512(token: str) -> str:
    """Google's hash_base64_sha512_sha512 of a refresh token."""
    inner = hashlib.sha512(token.encode()).digest()
    return base64.b64encode(hashlib.sha512(inner).digest()).decode()


def ingest(cli: Cli, env: dict[str, str], token: str) -> Any:
    return cli("revocations", "ingest", "--source", "google-risc", stdin=token, extra_env=env)


def connect(cli: Cli) -> None:
    """u1 and u2 on YouTube and u1 on Gmail, all of one Google account; u3 another account."""
    rows = [
        ("u1", "youtube", SUB, GOOGLE_RT["u1"]),
        ("u1", "google_gmail", SUB, "1//0gCharlie-gmail-token"),
        ("u2", "youtube", "118000000000000000001", GOOGLE_RT["u2"]),
        ("u3", "github", SUB, "ghr_same_digits_other_platform"),
    ]
    lines = [
        json.dumps(
            {
                "userId": u,
                "platform": p,
                "accessToken": f"AT-{p}-{u}",
                "refreshToken": rt,
                "expiresIn": 3600,
                "providerUserId": account,
            }
        )
        for u, p, account, rt in rows
    ]
    assert cli("tokens", "import", stdin="\n".join(lines)).code == 0


def statuses(cli: Cli) -> dict[tuple[str, str], str]:
    return {(c["userId"], c["platform"]): c["status"] for c in cli("tokens", "list").json}


ALL_ACTIVE = {
    ("u1", "youtube"): "active",
    ("u1", "google_gmail"): "active",
    ("u2", "youtube"): "active",
    ("u3", "github"): "active",
}


@pytest.mark.parametrize(
    "kind", [OAUTH + "tokens-revoked", RISC + "account-disabled", RISC + "account-purged"]
)
def test_an_account_event_revokes_the_accounts_google_connections(
    cli: Cli, risc_env: dict[str, str], keys: Keys, kind: str
) -> None:
    connect(cli)
    extra = {"reason": "hijacking"} if kind.endswith("disabled") else {}
    result = ingest(cli, risc_env, security_event(keys.served[0], account_event(kind, **extra)))
    assert result.code == 0, result.err
    short = kind.rsplit("/", 1)[-1]
    assert (result.json["event"], result.json["accounts"], result.json["unknownAccounts"]) == (
        short,
        1,
        0,
    )
    assert {(c["userId"], c["platform"]) for c in result.json["revoked"]} == {
        ("u1", "youtube"),
        ("u1", "google_gmail"),
    }
    assert statuses(cli) == {
        **ALL_ACTIVE,
        ("u1", "youtube"): "revoked",
        ("u1", "google_gmail"): "revoked",
    }
    reasons = {json.loads(e)["data"]["reason"] for e in cli("events", "list").out.splitlines()}
    assert reasons == {short}


@pytest.mark.parametrize(
    "events",
    [
        account_event(RISC + "sessions-revoked"),
        account_event(RISC + "account-credential-change-required"),
        account_event(RISC + "account-enabled"),
        {RISC + "verification": {"state": "tokensync-test"}},
    ],
)
def test_events_that_end_no_grant_are_acknowledged(
    cli: Cli, risc_env: dict[str, str], keys: Keys, events: dict[str, Any]
) -> None:
    connect(cli)
    result = ingest(cli, risc_env, security_event(keys.served[0], events))
    assert result.code == 0, result.err
    assert (result.json["accounts"], result.json["revoked"]) == (0, [])
    assert statuses(cli) == ALL_ACTIVE
    assert cli("events", "list").out == ""


def test_an_unknown_account_is_acknowledged_and_a_replay_changes_nothing(
    cli: Cli, risc_env: dict[str, str], keys: Keys
) -> None:
    connect(cli)
    stranger = security_event(keys.served[0], account_event(OAUTH + "tokens-revoked", sub="9"))
    unknown = ingest(cli, risc_env, stranger)
    assert unknown.code == 0 and unknown.json["unknownAccounts"] == 1, unknown.out
    token = security_event(keys.served[0], account_event(OAUTH + "tokens-revoked"), jti="jti-1")
    assert ingest(cli, risc_env, token).code == 0
    assert (
        cli(
            "tokens",
            "import",
            stdin=json.dumps(
                {
                    "userId": "u1",
                    "platform": "youtube",
                    "accessToken": "AT-new",
                    "refreshToken": "1//0gNew",
                }
            ),
        ).code
        == 0
    )  # the user connects again; Google delivers the same event again
    again = ingest(cli, risc_env, token)
    assert again.code == 0 and again.json["replayed"] is True and again.json["revoked"] == []
    assert statuses(cli)[("u1", "youtube")] == "active"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda s: security_event(s, account_event(OAUTH + "tokens-revoked"), aud="other-app"),
            "its audience is none of google_risc_audience",
        ),
        (
            lambda s: security_event(
                s, account_event(OAUTH + "tokens-revoked"), iss="https://evil.example/"
            ),
            "its issuer is not https://accounts.google.com/",
        ),
        (
            lambda s: security_event(
                s, account_event(OAUTH + "tokens-revoked"), exp=int(time.time()) - 3600
            ),
            "it has expired (exp)",
        ),
        (
            lambda s: security_event(
                s, account_event(OAUTH + "tokens-revoked"), iat=time.time() - 4 * 86400
            ),
            "it was issued more than 3 days ago (iat)",
        ),
        (
            lambda s: security_event(
                Signer(s.kid), account_event(OAUTH + "tokens-revoked")
            ),  # the right key id, another key
            "its signature does not verify with Google's key",
        ),
        (
            lambda s: security_event(s, account_event(OAUTH + "tokens-revoked"))[:-8] + "AAAAAAAA",
            "its signature does not verify",
        ),
        (lambda s: "not.a.token", "the body is not a JWT"),
    ],
)
def test_anything_unverified_is_refused_and_nothing_changes(
    cli: Cli, db_url: str, risc_env: dict[str, str], keys: Keys, make: Any, message: str
) -> None:
    connect(cli)
    token = make(keys.served[0])
    result = ingest(cli, risc_env, token)
    assert result.code == 2, result.out
    assert result.json["error"]["code"] == "unverified_delivery"
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert token not in result.out + result.err, "the token is never printed"
    assert statuses(cli) == ALL_ACTIVE
    assert query_value(db_url, "SELECT COUNT(*) FROM revocation_deliveries") == 0


def test_an_unknown_key_id_refetches_the_keys_once_then_is_refused(
    cli: Cli, risc_env: dict[str, str], keys: Keys
) -> None:
    connect(cli)
    first = ingest(
        cli, risc_env, security_event(keys.served[0], account_event(RISC + "verification"))
    )
    assert first.code == 0 and keys.fetches == 1
    cached = ingest(
        cli, risc_env, security_event(keys.served[0], account_event(RISC + "verification"))
    )
    assert cached.code == 0 and keys.fetches == 1, "the keys are cached until their max-age"
    unknown = ingest(
        cli, risc_env, security_event(Signer("k-unknown"), account_event(OAUTH + "tokens-revoked"))
    )
    assert unknown.code == 2 and "key id 'k-unknown' is not one of Google's keys" in unknown.err
    assert keys.fetches == 2, "one refetch"
    # Google rotates in a new key: a token signed with it makes one fetch, and verifies.
    rotated = Signer("k-2027-01")
    keys.served.append(rotated)
    accepted = ingest(
        cli, risc_env, security_event(rotated, account_event(OAUTH + "tokens-revoked"))
    )
    assert accepted.code == 0, accepted.err
    assert keys.fetches == 3 and len(accepted.json["revoked"]) == 2


def test_the_keys_are_fetched_again_once_their_max_age_passed(
    env: dict[str, str], risc_env: dict[str, str], keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**env, **risc_env}.items():
        monkeypatch.setenv(name, value)
    clock = FakeClock()

    async def main() -> list[int]:
        fetched = []
        async with AsyncTokenClient(load_settings(), clock=clock) as client:
            for step in (0, 3500, 200):  # the max-age is 3600 s
                clock.elapsed += step
                verification = {RISC + "verification": {"state": "s"}}
                token = security_event(keys.served[0], verification, iat=clock.now().timestamp())
                await client.ingest_revocation("google-risc", token.encode(), {})
                fetched.append(keys.fetches)
            with pytest.raises(UnverifiedDeliveryError, match="issued in the future"):
                late = clock.now() + timedelta(minutes=5)
                token = security_event(keys.served[0], verification, iat=late.timestamp())
                await client.ingest_revocation("google-risc", token.encode(), {})
        return fetched

    assert asyncio.run(main()) == [1, 1, 2]


@pytest.mark.parametrize("algorithm", ["hash_base64_sha512_sha512", "prefix"])
def test_token_revoked_finds_the_one_connection_holding_that_refresh_token(
    cli: Cli, db_url: str, risc_env: dict[str, str], keys: Keys, algorithm: str
) -> None:
    connect(cli)
    refresh = GOOGLE_RT["u2"]
    identifier = double_sha512(refresh) if algorithm != "prefix" else refresh[:16]
    # Written by another program (or before schema 13): no digest; found by reading the tokens.
    run_sql(db_url, "UPDATE connections SET refresh_token_digest = NULL WHERE user_id = 'u2'")
    result = ingest(
        cli, risc_env, security_event(keys.served[0], token_event(algorithm, identifier))
    )
    assert result.code == 0, result.err
    assert [(c["userId"], c["platform"], c["providerUserId"]) for c in result.json["revoked"]] == [
        ("u2", "youtube", "118000000000000000001")
    ]
    assert statuses(cli) == {**ALL_ACTIVE, ("u2", "youtube"): "revoked"}
    # The other tokens' digests were stored at import: no row but u2's lacked one, and none does.
    digested = query_value(
        db_url,
        "SELECT COUNT(*) FROM connections WHERE platform <> 'github' AND status = 'active' "
        "AND refresh_token_digest IS NOT NULL AND refresh_prefix_digest IS NOT NULL",
    )
    assert digested == 2
    # The same token again (another event) names no connection any more: acknowledged.
    again = ingest(
        cli, risc_env, security_event(keys.served[0], token_event(algorithm, identifier))
    )
    assert again.code == 0 and again.json["unknownAccounts"] == 1 and again.json["revoked"] == []


def test_a_digest_of_a_replaced_grant_names_nothing(
    cli: Cli, db_url: str, key: str, risc_env: dict[str, str], keys: Keys
) -> None:
    connect(cli)
    old = GOOGLE_RT["u1"]
    # Another program (clients/node's saveGrant) writes a new grant: a new refresh token, the
    # generation one more, the digests of the old token left as they were.
    new = Keyring([key]).encrypt("1//0gDelta-the-new-grant", binding("u1", "youtube", "refresh"))
    run_sql(
        db_url,
        "UPDATE connections SET refresh_token_enc = ?, grant_generation = grant_generation + 1 "
        "WHERE user_id = 'u1' AND platform = 'youtube'",
        new,
    )
    named = token_event("hash_base64_sha512_sha512", double_sha512(old))
    result = ingest(cli, risc_env, security_event(keys.served[0], named))
    assert result.code == 0, result.err
    assert result.json["revoked"] == [] and result.json["unknownAccounts"] == 1
    assert statuses(cli) == ALL_ACTIVE
    # The new token's event finds it (its digests were written when it was read).
    renamed = token_event("prefix", "1//0gDelta-the-new-grant"[:16])
    found = ingest(cli, risc_env, security_event(keys.served[0], renamed))
    assert [(c["userId"], c["platform"]) for c in found.json["revoked"]] == [("u1", "youtube")]
