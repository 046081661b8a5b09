"""tokensync doctor, in process on both engines: each check finds what is wrong and says what to
do, the document validates (tests/support/contract.py), exit 1 when a check failed, and no secret
(a client secret, a key, a webhook secret) is ever printed. Platforms' token endpoints are strict
respx mocks answering as the platforms do; the webhook receivers are real, on loopback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from tests.support.support import CLIENT_ENV, TOKEN_URLS, Cli, CliResult, run_sql, seed
from tests.support.webhook_receiver import NEW_SECRET, SECRET, Hooks, threaded_hooks
from tokensync.crypto import generate_key

SPOTIFY_ID, SPOTIFY_SECRET = (
    CLIENT_ENV["TOKENSYNC_SPOTIFY_CLIENT_ID"],
    CLIENT_ENV["TOKENSYNC_SPOTIFY_CLIENT_SECRET"],
)
GOOGLE_ID, GOOGLE_SECRET = (
    CLIENT_ENV["TOKENSYNC_GOOGLE_CLIENT_ID"],
    CLIENT_ENV["TOKENSYNC_GOOGLE_CLIENT_SECRET"],
)


def by_name(result: CliResult) -> dict[tuple[str, str | None], dict[str, Any]]:
    """The document's checks by (name, platform)."""
    return {(c["name"], c["platform"]): c for c in result.json["checks"]}


def spotify_endpoint(request: httpx.Request) -> httpx.Response:
    """Spotify's token endpoint (client_secret_basic): a wrong client is 400 invalid_client; a
    refresh token it never issued, 400 invalid_grant."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    client = base64.b64decode(encoded).decode() if scheme == "Basic" else ""
    if client != f"{SPOTIFY_ID}:{SPOTIFY_SECRET}":
        return httpx.Response(
            400, json={"error": "invalid_client", "error_description": "Invalid client secret"}
        )
    return httpx.Response(
        400, json={"error": "invalid_grant", "error_description": "Invalid refresh token"}
    )


def google_endpoint(request: httpx.Request) -> httpx.Response:
    """Google's token endpoint (client_secret_post): a wrong client is 401 invalid_client."""
    form = parse_qs(request.content.decode())
    if form.get("client_id") != [GOOGLE_ID] or form.get("client_secret") != [GOOGLE_SECRET]:
        return httpx.Response(
            401, json={"error": "invalid_client", "error_description": "Unauthorized"}
        )
    return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Bad Request"})


@pytest.fixture
def endpoints(mock_http: respx.MockRouter) -> respx.MockRouter:
    mock_http.post(TOKEN_URLS["spotify"]).mock(side_effect=spotify_endpoint)
    mock_http.post(TOKEN_URLS["google"]).mock(side_effect=google_endpoint)
    return mock_http


def doctor(cli: Cli, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return cli("doctor", "--platform", "spotify", "--platform", "youtube", *args, extra_env=env)


def test_a_sound_deployment_passes_every_check(cli: Cli, endpoints: respx.MockRouter) -> None:
    seed(cli, ("u1", "spotify"), ("u2", "youtube"))
    result = doctor(cli)
    assert result.code == 0, result.out
    checks = by_name(result)
    assert result.json["success"] is True and result.json["counts"]["fail"] == 0
    for name in ("database", "schema", "keys", "spool", "failing", "dead_events"):
        assert checks[(name, None)]["status"] == "ok", checks[(name, None)]
    assert checks[("keys", None)]["found"].startswith("2 of the 2 newest stored tokens open")
    for platform in ("spotify", "youtube"):
        assert checks[("credentials", platform)]["status"] == "ok"
    assert checks[("webhook", None)]["status"] == "skip"
    # One line per check on stderr, for a person.
    assert "ok    credentials (spotify): the token endpoint accepted the client" in result.err


@pytest.mark.parametrize("platform", ["spotify", "google"])
def test_wrong_client_credentials_fail_their_platform_only(
    cli: Cli, endpoints: respx.MockRouter, platform: str
) -> None:
    wrong = {f"TOKENSYNC_{platform.upper()}_CLIENT_SECRET": "a-wrong-secret-value"}
    result = doctor(cli, env=wrong)
    assert result.code == 1, result.out
    checks = by_name(result)
    failed = "youtube" if platform == "google" else "spotify"
    other = "spotify" if platform == "google" else "youtube"
    assert checks[("credentials", failed)]["status"] == "fail"
    assert (
        "invalid_client" in checks[("credentials", failed)]["found"]
        or "refused the client" in (checks[("credentials", failed)]["found"])
    )
    assert f"TOKENSYNC_{platform.upper()}_CLIENT_SECRET" in checks[("credentials", failed)]["fix"]
    assert checks[("credentials", other)]["status"] == "ok"
    assert "a-wrong-secret-value" not in result.out + result.err


def test_a_key_that_opens_nothing_fails_and_is_never_shown(
    cli: Cli, endpoints: respx.MockRouter
) -> None:
    seed(cli, ("u1", "spotify"))
    other = generate_key()
    result = doctor(cli, env={"TOKENSYNC_ENCRYPTION_KEYS": other})
    assert result.code == 1
    keys = by_name(result)[("keys", None)]
    assert keys["status"] == "fail" and keys["found"].startswith("0 of the 1 newest")
    assert other not in result.out + result.err


def test_a_spool_path_that_cannot_be_a_directory_fails(
    cli: Cli, endpoints: respx.MockRouter, env: dict[str, str]
) -> None:
    data = Path(env["TOKENSYNC_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "spool").write_text("not a directory\n")
    result = doctor(cli)
    assert result.code == 1
    spool = by_name(result)[("spool", None)]
    assert spool["status"] == "fail" and "is not a directory" in spool["found"]


@pytest.fixture
def receiver() -> Iterator[Hooks]:
    with threaded_hooks() as hooks:
        yield hooks


@pytest.mark.parametrize("secret", [SECRET, NEW_SECRET])
def test_a_signed_test_event_shows_whether_the_receiver_accepts_it(
    cli: Cli, endpoints: respx.MockRouter, receiver: Hooks, tmp_path: Path, secret: str
) -> None:
    endpoints.route(host="127.0.0.1").pass_through()
    config = tmp_path / "hook.toml"
    config.write_text(f'webhook_url = "{receiver.url}/hook"\n')
    hooked = {"TOKENSYNC_CONFIG": str(config), "TOKENSYNC_WEBHOOK_SECRET": secret}
    result = doctor(cli, "--send-test-event", env=hooked)
    test = by_name(result)[("webhook_test", None)]
    if secret == SECRET:  # the receiver verifies with the same secret
        assert result.code == 0 and test["status"] == "ok", result.out
        (event,) = receiver.accepted.values()
        assert event["type"] == "test" and "nothing happened" in event["data"]["message"]
    else:  # it verifies with another one: 401
        assert result.code == 1 and test["status"] == "fail" and "http_401" in test["found"]
        assert receiver.rejected == 1 and not receiver.accepted
    assert secret not in result.out + result.err


def test_webhook_settings_that_do_not_go_together(
    cli: Cli, endpoints: respx.MockRouter, tmp_path: Path
) -> None:
    """A secret without a URL: the webhook check fails. A URL without a secret: the settings
    themselves are refused (exit 2), as for every command."""
    alone = doctor(cli, env={"TOKENSYNC_WEBHOOK_SECRET": SECRET})
    assert alone.code == 1 and by_name(alone)[("webhook", None)]["status"] == "fail"
    assert SECRET not in alone.out + alone.err
    config = tmp_path / "hook.toml"
    config.write_text('webhook_url = "https://app.example/hooks"\n')
    refused = cli("doctor", extra_env={"TOKENSYNC_CONFIG": str(config)})
    assert refused.code == 2 and refused.json["error"]["code"] == "config_error"


def died_after(db_url: str, user: str, days: float) -> None:
    """Mark a user's youtube grant dead, `days` after the connection was made."""
    made = datetime.now(UTC) - timedelta(days=30)
    run_sql(
        db_url,
        "UPDATE connections SET status = 'needs_reauth', last_error_code = 'invalid_grant', "
        "created_at = ?, updated_at = ? WHERE user_id = ?",
        made,
        made + timedelta(days=days),
        user,
    )


@pytest.mark.parametrize(
    ("lifetimes", "status"),
    [((7.0, 7.1, 6.9), "fail"), ((7.0, 2.0, 40.0), "warn"), ((3.0, 15.0), "ok")],
)
def test_google_grants_that_die_at_seven_days_mark_an_app_in_testing(
    cli: Cli, endpoints: respx.MockRouter, db_url: str, lifetimes: tuple[float, ...], status: str
) -> None:
    users = [f"u{i}" for i in range(len(lifetimes))]
    seed(cli, *((u, "youtube") for u in users))
    for user, days in zip(users, lifetimes, strict=True):
        died_after(db_url, user, days)
    result = doctor(cli)
    check = by_name(result)[("google_testing", None)]
    assert check["status"] == status, check
    assert result.code == (1 if status == "fail" else 0)
    if status != "ok":
        assert "In production" in check["fix"]


def test_a_database_that_is_not_there_fails_without_creating_one(
    run_cli: Cli, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.db"
    result = run_cli("--database-url", f"sqlite:///{missing}", "doctor")
    assert result.code == 1 and not missing.exists()
    assert by_name(result)[("database", None)]["status"] == "fail"


def test_a_file_without_the_schema_and_an_unreachable_server_fail(
    run_cli: Cli, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = run_cli("--database-url", f"sqlite:///{empty}", "doctor")
    assert result.code == 1
    assert by_name(result)[("schema", None)] == {
        "name": "schema",
        "status": "fail",
        "found": "no tokensync schema",
        "fix": "run `tokensync db migrate` (or any job, which migrates first)",
        "platform": None,
    }
    away = "postgresql://tokensync:a-db-password@127.0.0.1:1/tokensync?connect_timeout=5"
    result = run_cli("--database-url", away, "doctor")
    assert result.code == 1 and "unreachable" in by_name(result)[("database", None)]["found"]
    assert "a-db-password" not in result.out + result.err
    assert json.loads(result.out)["counts"]["fail"] >= 1
