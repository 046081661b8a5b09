"""The JSON Schemas of src/tokensync/schemas/: each is a valid draft 2020-12 schema, closed at
every level, and describes what tokensync really prints.

The hooks of tests/contract.py validate every document the suite makes tokensync print; the
session below runs each command once more, so that every schema is used against real output
here, whatever else the suite does.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from jsonschema import Draft202012Validator

from tests.cli.test_revocations_github import SECRET as GITHUB_SECRET
from tests.cli.test_revocations_github import authorization_revoked, headers_for
from tests.contract import DOCUMENTS, ERROR, ContractBroken, check_output, validate
from tests.platforms import payloads as p
from tests.support import START, TOKEN_URLS, Cli, CliResult
from tests.webhook_receiver import SECRET
from tokensync import schemas
from tokensync.crypto import generate_key
from tokensync.jobs.results import RefreshResult
from tokensync.oauth.revocation import Revocation
from tokensync.output.job_document import job_document
from tokensync.refresh.outcome import Outcome, Refreshed
from tokensync.store import Connection

DOCUMENT_SCHEMAS = sorted(set(schemas.names()) - {"common.json"})


def test_every_schema_is_a_valid_draft_2020_12_schema_with_its_id() -> None:
    for name in schemas.names():
        schema = schemas.load(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        assert schema["$id"] == schemas.BASE_URI + name


def open_objects(node: object, where: str = "") -> Iterator[str]:
    """Where an object schema lets an unnamed property through: anything but
    `additionalProperties: false`, or a map whose keys are constrained by `propertyNames`."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            extra = node.get("additionalProperties")
            if extra is not False and not (isinstance(extra, dict) and "propertyNames" in node):
                yield where or "(top)"
        for key, value in node.items():
            yield from open_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from open_objects(value, f"{where}/{i}")


def test_every_object_of_every_schema_is_closed() -> None:
    for name in schemas.names():
        assert list(open_objects(schemas.load(name))) == [], name
    assert list(open_objects({"type": "object", "properties": {}})) == ["(top)"]


def test_the_hook_picks_the_schema_from_the_command_line_and_refuses_a_new_field() -> None:
    imported = {"success": True, "imported": 1, "inserted": 1, "updated": 0}
    argv = ["--database-url", "sqlite:///x.db", "-v", "tokens", "import"]
    assert check_output(argv, json.dumps(imported)) == ["tokens-import.json"]
    with pytest.raises(ContractBroken, match="'skipped' was unexpected"):
        check_output(argv, json.dumps({**imported, "skipped": 0}))
    with pytest.raises(ContractBroken, match="printed no document"):
        check_output(["status"], "")
    failed = {
        "success": False,
        "timestamp": "2026-11-28T14:07:30Z",
        "error": {"code": "no_database", "message": "no database"},
    }
    assert check_output(["status", "--format", "table"], json.dumps(failed)) == ["error.json"]
    assert check_output(["status", "--format", "table"], "platform  active\n") == []
    assert check_output(["keys", "generate"], "a-key\n") == []
    assert check_output(["tokens", "list", "--format", "jsonl"], "") == []
    with pytest.raises(ContractBroken):  # a time without its Z is no timestamp of ours
        validate({**failed, "timestamp": "2026-11-28T14:07:30"}, "error.json")


# -- a session of every command -------------------------------------------------------------------


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
    """u1's grant refreshes; u2's is dead."""
    if b"RT-u2" in request.content:
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
    new_keys = {"TOKENSYNC_ENCRYPTION_KEYS": f"{generate_key()},{key}"}
    assert run("keys", "rotate", extra_env=new_keys).json["rotated"] == 1
    assert run("refresh-tokens", "--results", "sometimes").code == 2
    assert run("events", "deliver").json["delivered"] >= 2  # the disconnect's, the erase's

    bodies = [json.loads(body) for body in hooks.bodies]
    used.extend(validate(body, "webhook-event.json") for body in bodies)
    assert {b["type"] for b in bodies} >= {"connection.needs_reauth", "data.changed", "user.erased"}
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


def test_the_generated_reference_pages_are_current() -> None:
    """docs/reference/cli.md and schemas.md say what the app and the schemas say (CI checks it
    too: `python scripts/reference.py --check`)."""
    from scripts import reference

    for path, text in reference.pages().items():
        assert path.read_text("utf-8") == text, f"{path} is stale: run scripts/reference.py"


def test_a_superseded_refresh_and_a_job_warning_fit_the_refresh_schema() -> None:
    """What no CLI test here can stage (a grant written while its older one is refreshed, a
    clock off the database's), rendered by the job document's own code."""
    conn = Connection(
        id=7, user_id="u1", platform="discord", access_token_enc="x", refresh_token_enc="y",
        token_type="Bearer", scope=None, expires_at=START, status="active",
        tokens_updated_at=START, last_refreshed_at=None, last_error_code=None,
        last_error_message=None, failure_count=0, next_attempt_at=None, lease_owner=None,
        lease_expires_at=None, last_sync_at=None, created_at=START, updated_at=START,
    )  # fmt: skip
    revoked = Revocation(True, endpoint="https://discord.com/api/oauth2/token/revoke")
    result = RefreshResult(run_id="r", started_at=START, spool_superseded=1, warnings=["clock"])
    result.count(Outcome(conn, Refreshed.SUPERSEDED, revocation=revoked), keep=True)
    gone = Revocation(False, already_invalid=True, reason="gone")
    result.count(Outcome(conn, Refreshed.SUPERSEDED, revocation=gone), keep=True)
    document = job_document(result)
    assert check_output(["refresh-tokens"], json.dumps(document)) == ["refresh-tokens.json"]
    assert document["tokensSuperseded"] == 2 and document["warnings"] == ["clock"]


def documents_shown(text: str) -> Iterator[object]:
    """The JSON values of a page's ```json blocks: each block whole, or each of its lines."""
    for block in text.split("```json\n")[1:]:
        body = block.split("```", 1)[0]
        try:
            yield json.loads(body)
        except ValueError:
            for line in body.splitlines():
                with contextlib.suppress(ValueError):
                    yield json.loads(line)


def test_every_document_the_docs_show_fits_a_schema() -> None:
    """The examples in README.md and docs/ are documents tokensync could print: each one with a
    `success` satisfies the schema of some command (or the error document's)."""
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    shown = 0
    for page in pages:
        for document in documents_shown(page.read_text("utf-8")):
            if isinstance(document, dict) and "success" in document:
                names = [*DOCUMENTS.values(), ERROR]
                try:
                    validate(document, *names)
                except ContractBroken as exc:
                    raise AssertionError(f"{page.relative_to(root)}: {exc}") from None
                shown += 1
    assert shown >= 7, "the docs show the documents of the main commands"
