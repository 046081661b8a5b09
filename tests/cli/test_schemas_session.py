"""A session of every command, run in process, against the JSON Schemas of src/tokensync/schemas/:
the hooks of tests/support/contract.py validate every document the suite makes tokensync print;
this session runs each command once more, so that every schema is used against real output here,
whatever else the suite does. The schemas themselves are tests/unit/test_schemas.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.cli.test_revocations_github import SECRET as GITHUB_SECRET
from tests.cli.test_revocations_github import authorization_revoked, headers_for
from tests.support import payloads as p
from tests.support.contract import ContractBroken, check_output, validate
from tests.support.support import TOKEN_URLS, Cli, CliResult
from tests.support.webhook_receiver import SECRET
from tests.unit.test_schemas import DOCUMENT_SCHEMAS
from tokensync.crypto import generate_key


class Hooks:
    """A webhook receiver on loopback that takes every delivery; the bodies it got."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.url = ""


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def engine() -> str:
    """The schemas do not depend on the engine: SQLite is enough here."""
    return "sqlite"


@pytest.fixture
def cli_config(tmp_path: Path, hooks: Hooks) -> Path:
    config = tmp_path / "schemas.toml"
    config.write_text(f'webhook_url = "{hooks.url}"\n')
    return config


def discord_token(request: httpx.Request) -> httpx.Response:
    """u1's grant refreshes; u2's is dead, and so is doctor's made-up refresh token."""
    if b"RT-u2" in request.content or b"tokensync-doctor" in request.content:
        return httpx.Response(400, json={"error": "invalid_grant", "error_description": "bad"})
    return httpx.Response(
        200, json={"access_token": "AT-new", "refresh_token": "RT-new", "expires_in": 604800}
    )


def test_every_schema_describes_what_a_session_of_every_command_prints(
    cli: Cli, mock_http: respx.MockRouter, hooks: Hooks, key: str
) -> None:
    mock_http.post(TOKEN_URLS["discord"]).mock(side_effect=discord_token)
    mock_http.get(f"{p.DISCORD}/users/@me/guilds").respond(200, json=[p.discord_guild(1)])
    mock_http.route(host="127.0.0.1").pass_through()  # the webhook receiver
    used: list[str] = []
    printed: list[tuple[tuple[str, ...], str]] = []
    webhook = {"TOKENSYNC_WEBHOOK_SECRET": SECRET}

    def run(*args: str, stdin: str = "", extra_env: dict[str, str] | None = None) -> CliResult:
        result = cli(*args, stdin=stdin, extra_env={**webhook, **(extra_env or {})})
        used.extend(check_output(args, result.out))  # cli validated it too
        printed.append((args, result.out))
        return result

    def line(user: str, platform: str, expires_in: int) -> str:
        token = {"accessToken": f"AT-{user}", "refreshToken": f"RT-{user}", "expiresIn": expires_in}
        return json.dumps({"userId": user, "platform": platform, **token})

    assert run("db", "migrate").code == 0
    lines = [line("u1", "discord", 60), line("u2", "discord", 60), line("u3", "spotify", 7200)]
    assert run("tokens", "import", stdin="\n".join(lines)).code == 0
    assert run("refresh-tokens", "--dry-run").json["tokensChecked"] == 2
    refreshed = run("refresh-tokens", "--user", "u1", "--user", "u2", "--user", "u3")
    assert (refreshed.json["tokensRefreshed"], refreshed.json["needsReauth"]) == (1, 1)
    assert refreshed.json["skipped"]["byReason"] == {"not_due": 1}
    assert refreshed.json["events"]["delivered"] == 1, refreshed.out
    assert run("poll-platforms", "--platform", "discord", "--dry-run").code == 0
    assert run("poll-platforms", "--platform", "discord").json["itemsStored"] == 1
    assert run("tokens", "import", stdin=line("u2", "discord", 3600)).code == 0  # recovered
    assert run("status").json["events"]["pending"] == 1
    assert len(run("tokens", "list").json) == 3
    assert len(run("tokens", "list", "--format", "jsonl").out.splitlines()) == 3
    assert run("tokens", "get", "--user", "u3", "--platform", "spotify").json["refreshed"] is False
    assert run("tokens", "get", "--user", "nobody", "--platform", "spotify").code == 1
    assert run("events", "deliver").json["delivered"] == 1
    # needs_reauth, the poll's data.changed, recovered
    assert run("events", "replay", "--after", "0").json["replayed"] == 3
    feed = run("data", "changes")
    assert [c["op"] for c in feed.json["changes"]] == ["upsert"] and not feed.json["hasMore"]
    lines = run("data", "changes", "--format", "jsonl").out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["next"] == feed.json["next"]
    assert run("data", "changes", "--after", feed.json["next"]).json["changes"] == []
    revoked = authorization_revoked()
    envelope = json.dumps({"headers": headers_for(revoked), "body": revoked.decode()})
    github = {"TOKENSYNC_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET}
    ingested = run("revocations", "ingest", "--source", "github", stdin=envelope, extra_env=github)
    assert ingested.json["unknownAccounts"] == 1
    revoke = ("--user", "u1", "--platform", "discord", "--no-revoke")
    assert run("tokens", "disconnect", *revoke, "--dry-run").json["dryRun"] is True
    assert run("tokens", "disconnect", *revoke).json["deleted"]["connections"] == 1
    assert run("users", "erase", "u3", "--no-revoke", "--dry-run").json["dryRun"] is True
    assert run("users", "erase", "u3", "--no-revoke").json["success"] is True
    listed = [json.loads(text)["type"] for text in run("events", "list").out.splitlines()]
    assert {"connection.recovered", "connection.disconnected", "user.erased"} <= set(listed)
    assert run("data", "prune", "--deleted-before", "30d", "--dry-run").json["wouldRemove"] == 0
    assert run("data", "prune", "--deleted-before", "30d").json["removed"] == 0
    doctor = run("doctor", "--platform", "discord", "--send-test-event")
    assert doctor.code == 0 and doctor.json["counts"]["fail"] == 0, doctor.out
    new_keys = {"TOKENSYNC_ENCRYPTION_KEYS": f"{generate_key()},{key}"}
    assert run("keys", "rotate", extra_env=new_keys).json["rotated"] == 1
    assert run("refresh-tokens", "--results", "sometimes").code == 2
    assert run("events", "deliver").json["delivered"] >= 2  # the disconnect's, the erase's

    bodies = [json.loads(body) for body in hooks.bodies]
    used.extend(validate(body, "webhook-event.json") for body in bodies)
    assert {b["type"] for b in bodies} >= {
        "connection.needs_reauth",
        "data.changed",
        "user.erased",
        "test",
    }
    assert sorted(set(used)) == DOCUMENT_SCHEMAS, "every schema used against real output"
    assert_closed(printed, [(body, "webhook-event.json") for body in bodies])


def assert_closed(printed: list[tuple[tuple[str, ...], str]], bodies: list[Any]) -> None:
    """Each real document with one field more (at its top, or in its first item) is refused."""
    for args, out in printed:
        if not out.strip():
            continue
        for text in out.splitlines() if out.lstrip().startswith("{") else [out]:
            document = json.loads(text)
            target = document[0] if isinstance(document, list) and document else document
            if isinstance(target, dict):
                target["undocumented"] = 1
                with pytest.raises(ContractBroken, match="undocumented"):
                    check_output(args, json.dumps(document))
    for body, name in bodies:
        with pytest.raises(ContractBroken, match="undocumented"):
            validate({**body, "undocumented": 1}, name)


def test_a_delivered_user_erased_event_lists_with_its_data_scrubbed(cli: Cli, hooks: Hooks) -> None:
    env = {"TOKENSYNC_WEBHOOK_SECRET": SECRET}
    line = '{"userId": "u9", "platform": "github", "accessToken": "a"}'
    assert cli("tokens", "import", stdin=line, extra_env=env).code == 0
    assert cli("users", "erase", "u9", "--no-revoke", extra_env=env).code == 0
    assert cli("events", "deliver", extra_env=env).json["delivered"] == 1
    (event,) = [json.loads(text) for text in cli("events", "list", extra_env=env).out.splitlines()]
    assert (event["type"], event["data"]) == ("user.erased", {})  # event.json allows it
    (body,) = [json.loads(b) for b in hooks.bodies]
    assert body["data"] == {"userId": "u9"}
