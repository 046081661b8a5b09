"""No secret leaves, whatever the other side echoes back: every surface of real runs (in process)
against a server on loopback that repeats what it was sent, on both engines: stdout, stderr with
-v, every text column of the database, the step summary, the metrics file, the ping body, the
event payloads and the webhook bodies. One answer at a time is tests/unit/test_echoed_answers.py."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests.support.hostile import Hostile, leaks, secret_runs, serving
from tests.support.support import Cli, CliResult, run_sql
from tests.support.webhook_receiver import SECRET as WEBHOOK_SECRET
from tests.unit.test_echoed_answers import ACCESS, CLIENT_SECRET, REFRESH
from tokensync.store.sqlite import sqlite_path


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("token_url", "http://example.com/oauth/token?client_secret=Qs3cret-in-query&x=1"),
        ("api_base", "http://alice:Us3cret-in-userinfo@example.com/api?key=Qs3cret-in-query"),
        ("revocation_url", "ftp://bob:Us3cret-in-userinfo@example.com/revoke#Fs3cret-in-frag"),
    ],
)
def test_a_refused_url_is_named_without_its_credentials(
    cli: Cli, tmp_path: Path, key: str, url: str, engine: str
) -> None:
    config = tmp_path / "tokensync.toml"
    config.write_text(f'[platforms.discord]\n{key} = "{url}"\n')
    result = cli("status", extra_env={"TOKENSYNC_CONFIG": str(config)})
    assert result.code == 2, result.out
    message = result.json["error"]["message"]
    assert key in message and "example.com" in message, message
    for secret in ("s3cret", "Qs3cret", "Us3cret", "Fs3cret", "alice", "bob", "x=1"):
        assert secret not in result.out + result.err, secret


# -- every surface of real runs ---------------------------------------------------------------

ENV_SECRETS = {
    "TOKENSYNC_DISCORD_CLIENT_SECRET": CLIENT_SECRET,
    "TOKENSYNC_SPOTIFY_CLIENT_SECRET": "sp Hostile/Basic+Secret%value=43&y",
    "TOKENSYNC_GITHUB_CLIENT_SECRET": "gh Hostile/Client+Secret%value=44&z",
    "TOKENSYNC_WEBHOOK_SECRET": WEBHOOK_SECRET,
}
# (user, platform, refresh token, expires in): the token endpoint answers by the token's name.
CONNECTIONS = [
    ("u-code", "discord", "rt.Hostile-Code_0123456789/+=~ sec&ret", 60),
    ("u-basic", "spotify", "rt.Hostile-Basic_0123456789/+=~ sec&ret", 60),
    ("u-grant", "discord", "rt.Hostile-grant_0123456789/+=~ sec&ret", 60),
    ("u-html", "discord", "rt.Hostile-html_0123456789/+=~ sec&ret", 60),
    ("u-poll", "github", "rt.Hostile-Poll_0123456789/+=~ sec&ret", 3600),
]


def _access(user: str) -> str:
    return f"at.Hostile-{user}_9876543210/+=~ tok&en"


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[Hostile]:
    """The hostile side; its padding before each echo is the test's `offset` parameter, if any."""
    callspec = getattr(request.node, "callspec", None)
    offset = callspec.params.get("offset", 189) if callspec is not None else 189
    with serving(Hostile(offset=offset)) as server:
        yield server


def _dump(db_url: str) -> str:
    """Every row of every table, as text."""
    rows: list[str] = []
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db:
            names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for name in names:
                rows += [repr(row) for row in db.execute(f'SELECT * FROM "{name}"')]
        return "\n".join(rows)
    with psycopg.connect(db_url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        for name in names:
            rows += [repr(row) for row in conn.execute(f'SELECT * FROM "{name}"')]
    return "\n".join(rows)


@pytest.mark.parametrize("offset", [0, 189, 295, 498])
def test_no_surface_shows_what_the_other_side_echoed(
    cli: Cli, db_url: str, tmp_path: Path, hostile: Hostile, key: str, offset: int
) -> None:
    config = tmp_path / "tokensync.toml"
    config.write_text(
        f'webhook_url = "{hostile.url}/hook"\n'
        f'[platforms.discord]\ntoken_url = "{hostile.url}/token"\n'
        f'[platforms.spotify]\ntoken_url = "{hostile.url}/token"\n'
        f'[platforms.github]\ntoken_url = "{hostile.url}/token"\n'
        f'api_base = "{hostile.url}/github"\n'
    )
    summary, metrics = tmp_path / "summary.md", tmp_path / "metrics.prom"
    env = {**ENV_SECRETS, "TOKENSYNC_CONFIG": str(config), "GITHUB_STEP_SUMMARY": str(summary)}
    lines = [
        json.dumps(
            {
                "userId": user,
                "platform": platform,
                "accessToken": _access(user),
                "refreshToken": refresh,
                "expiresIn": expires_in,
            }
        )
        for user, platform, refresh, expires_in in CONNECTIONS
    ]
    assert cli("tokens", "import", stdin="\n".join(lines), extra_env=env).code == 0
    monitoring = ("--metrics-file", str(metrics), "--ping-url", f"{hostile.url}/ping/check-id")

    results: list[CliResult] = []
    refresh = cli("-v", "refresh-tokens", *monitoring, extra_env=env)
    results.append(refresh)
    metrics_texts = [metrics.read_text()]
    poll = cli("-v", "poll-platforms", "--platform", "github", *monitoring, extra_env=env)
    results.append(poll)
    metrics_texts.append(metrics.read_text())
    for command in (("status",), ("tokens", "list"), ("events", "list"), ("events", "deliver")):
        results.append(cli("-v", *command, extra_env=env))

    # The runs met the hostile side as planned: each failure classified, each surface written.
    by_user = {r["userId"]: r for r in refresh.json["results"]}
    assert by_user["u-code"]["error"]["code"] == "provider_error", by_user["u-code"]
    assert by_user["u-basic"]["error"]["code"] == "provider_error"
    assert by_user["u-grant"]["status"] == "needs_reauth"
    assert by_user["u-grant"]["error"]["code"] == "invalid_grant"
    assert by_user["u-html"]["error"]["code"] == "malformed_response"
    assert hostile.token_requests >= 4
    assert {"/github/user", "/github/user/repos"} <= set(hostile.api_paths)  # JSON and HTML
    assert poll.json["success"] is False and "http_403" in poll.out
    assert summary.read_text() and all(metrics_texts) and len(hostile.pings) >= 2
    assert any(b"connection.needs_reauth" in body for body in hostile.webhooks)
    assert any("connection.needs_reauth" in r.out for r in results[2:])
    assert "\n" in refresh.err and "\n" in poll.err  # -v logged each item

    secrets = [REFRESH, ACCESS, key, WEBHOOK_SECRET, *ENV_SECRETS.values()]
    secrets += [refresh for _, _, refresh, _ in CONNECTIONS]
    secrets += [_access(user) for user, _, _, _ in CONNECTIONS]
    runs = secret_runs(*secrets)
    surfaces = {
        **{f"stdout of {i}": r.out for i, r in enumerate(results)},
        **{f"stderr of {i}": r.err for i, r in enumerate(results)},
        "database": _dump(db_url),
        "step summary": summary.read_text(),
        "metrics": "\n".join(metrics_texts),
        "pings": b"\n".join(hostile.pings).decode(),
        "webhooks": b"\n".join(hostile.webhooks).decode(),
    }
    for surface, text in surfaces.items():
        assert leaks(text, runs) == [], surface


DIRTY_CODE = "1//0gDirty-Token_0123456789"
DIRTY_MESSAGE = "acme: refused token 1//0gDirty-Token_0123456789abcdef with client_secret=xyz"


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_the_migration_cleans_what_an_earlier_version_stored(
    cli: Cli, db_url: str, engine: str
) -> None:
    """Stored by an older version: a provider's code word for word, a description with the
    refresh token in it, the same in a pending event. Migration 9 cleans them all."""
    line = {"userId": "u", "platform": "discord", "accessToken": "a", "refreshToken": "r"}
    assert cli("tokens", "import", stdin=json.dumps(line)).code == 0
    run_sql(
        db_url,
        "UPDATE connections SET last_error_code = ?, last_error_message = ?",
        DIRTY_CODE,
        DIRTY_MESSAGE,
    )
    data: dict[str, object] = {"connectionId": 1, "userId": "u", "platform": "discord"}
    data["error"] = {"code": DIRTY_CODE, "message": DIRTY_MESSAGE}
    kept = {**data, "error": {"code": "invalid_grant", "message": DIRTY_MESSAGE}}
    ids = ("evt_" + "d" * 32, "evt_" + "e" * 32)  # shaped as tokensync makes them (event.json)
    for event_id, payload in zip(ids, (data, kept), strict=True):
        run_sql(
            db_url,
            "INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, "
            "next_attempt_at, give_up_at) VALUES (?, 'connection.needs_reauth', 'u', 1, ?, "
            "'2026-12-01T00:00:00.000000Z', '2026-12-01T00:00:00.000000Z', "
            "'2026-12-04T00:00:00.000000Z')",
            event_id,
            json.dumps(payload),
        )
    run_sql(db_url, "DELETE FROM tokensync_schema WHERE version = 9")
    assert cli("db", "migrate").code == 0

    dump = _dump(db_url)
    for dirt in ("1//0gDirty", "Dirty-Token", "xyz"):
        assert dirt not in dump, dirt
    (row,) = cli("tokens", "list").json
    assert row["lastError"]["code"] == "provider_error", row
    assert "earlier version" in row["lastError"]["message"]
    events = cli("events", "list").out
    assert "invalid_grant" in events and "provider_error" in events
    assert "earlier version" in events


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_pending_event_is_cleaned_again_before_it_is_sent(
    cli: Cli, db_url: str, tmp_path: Path, hostile: Hostile, engine: str
) -> None:
    """An event written (after the migration) by an older worker still running: its message
    holds the configured client secret; the body sent does not."""
    config = tmp_path / "tokensync.toml"
    config.write_text(f'webhook_url = "{hostile.url}/hook"\n')
    env = {**ENV_SECRETS, "TOKENSYNC_CONFIG": str(config)}
    assert cli("db", "migrate", extra_env=env).code == 0
    data = {
        "connectionId": 1,
        "userId": "u",
        "platform": "discord",
        "error": {"code": "bad code", "message": f"echoed {quote(CLIENT_SECRET, safe='')}\x1b"},
    }
    run_sql(
        db_url,
        "INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, "
        "next_attempt_at, give_up_at) VALUES ('evt_late', 'connection.needs_reauth', 'u', 1, ?, "
        "'2026-12-01T00:00:00.000000Z', '2026-12-01T00:00:00.000000Z', "
        "'2099-12-04T00:00:00.000000Z')",
        json.dumps(data),
    )
    result = cli("events", "deliver", extra_env=env)
    assert result.code == 0, result.out
    (body,) = hostile.webhooks
    sent = json.loads(body)
    assert sent["data"]["error"]["code"] == "provider_error"
    assert sent["data"]["error"]["message"].startswith("echoed ***")
    assert leaks(body.decode(), secret_runs(CLIENT_SECRET)) == []
