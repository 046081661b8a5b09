"""The events as a user meets them, in process, on both engines: `events list` as JSON Lines with
--after and --type; `--fail-on operator`; `status`; disconnect and erase. The receiver runs on
loopback in a thread and verifies with the standardwebhooks package at the real time, as an
application does (tests/support/webhook_receiver.py). A run killed before its delivery is
tests/process/test_events_killed.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.support import Cli, seed
from tests.support.webhook_receiver import Hooks, configure, threaded_hooks
from tokensync.platforms.catalog import BUILTIN_PLATFORMS


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    with threaded_hooks() as state:
        yield state


def test_events_list_pages_and_filters_as_json_lines(
    cli: Cli, db_url: str, tmp_path: Path, hooks: Hooks
) -> None:
    extra = configure(tmp_path, hooks, webhook=False)
    seed(cli, ("u1", "discord"), ("u2", "discord"))
    run = cli("refresh-tokens", extra_env=extra)
    assert run.code == 1 and run.json["needsReauth"] == 2
    seed(cli, ("u1", "discord"))  # u1 connects again: recovered

    every = cli("events", "list", extra_env=extra)
    assert every.code == 0
    lines = [json.loads(text) for text in every.out.splitlines()]
    assert [(e["seq"], e["type"]) for e in lines] == [
        (1, "connection.needs_reauth"),
        (2, "connection.needs_reauth"),
        (3, "connection.recovered"),
    ]
    assert {e["data"]["userId"] for e in lines[:2]} == {"u1", "u2"}
    assert lines[2]["data"]["userId"] == "u1"
    assert all(e["id"].startswith("evt_") for e in lines)
    for token in ("AT-discord", "RT-discord"):
        assert token not in every.out

    after = cli("events", "list", "--after", "1", extra_env=extra)
    assert [json.loads(t)["seq"] for t in after.out.splitlines()] == [2, 3]
    typed = cli("events", "list", "--type", "connection.recovered", extra_env=extra)
    assert [json.loads(t)["seq"] for t in typed.out.splitlines()] == [3]
    assert cli("events", "list", "--after", "3", extra_env=extra).out == ""
    bad = cli("events", "list", "--type", "connection.nope", extra_env=extra)
    assert bad.code == 2 and bad.json["error"]["code"] == "usage_error"
    replay = cli("events", "replay", "--after", "0", extra_env=extra)
    assert replay.code == 2 and replay.json["error"]["code"] == "config_error"


def test_fail_on_operator_exits_0_for_dead_grants_and_1_for_the_rest(
    cli: Cli, tmp_path: Path, hooks: Hooks
) -> None:
    extra = configure(tmp_path, hooks, webhook=False)
    seed(cli, ("u1", "discord"))
    revoked = cli("refresh-tokens", "--fail-on", "operator", extra_env=extra)
    assert revoked.code == 0, revoked.out
    assert revoked.json["success"] is True and revoked.json["failOn"] == "operator"
    assert revoked.json["needsReauth"] == 1 and revoked.json["tokensFailed"] == 1

    hooks.token_status = 503  # the provider is down: an operator's business
    seed(cli, ("u2", "discord"))
    down = cli("refresh-tokens", "--fail-on", "operator", extra_env=extra)
    assert down.code == 1 and down.json["success"] is False

    bad = cli("refresh-tokens", "--fail-on", "never", extra_env=extra)
    assert bad.code == 2 and bad.json["error"]["code"] == "usage_error"

    # A poll that finds the grant dead (its refresh first says invalid_grant) is the user's too.
    hooks.token_status = 400
    seed(cli, ("u3", "discord"), ("u4", "discord"))
    polled = cli("poll-platforms", "--user", "u3", extra_env=extra)
    assert polled.code == 1 and polled.json["pollsFailed"] == 1
    lenient = cli("poll-platforms", "--user", "u4", "--fail-on", "operator", extra_env=extra)
    assert lenient.code == 0, lenient.out
    assert lenient.json["pollsFailed"] == 1 and lenient.json["success"] is True


def test_spotify_grant_end_from_authorization_is_listed_and_announced(
    cli: Cli, tmp_path: Path, hooks: Hooks
) -> None:
    extra = configure(tmp_path, hooks, webhook=False)
    authorized = datetime.now(UTC).replace(microsecond=0) - timedelta(days=180)
    line = {
        "userId": "u1",
        "platform": "spotify",
        "accessToken": "AT-spotify-u1",
        "refreshToken": "RT-spotify-u1",
        "expiresIn": 3600,
        "authorizedAt": authorized.isoformat(),
    }
    assert cli("tokens", "import", stdin=json.dumps(line), extra_env=extra).code == 0
    (listed,) = cli("tokens", "list", extra_env=extra).json
    ends = BUILTIN_PLATFORMS["spotify"].grant_end(authorized)
    assert ends is not None and ends - authorized >= timedelta(days=181)
    assert listed["refreshTokenExpiresAt"] == ends.strftime("%Y-%m-%dT%H:%M:%SZ")
    status = cli("status", extra_env=extra).json
    assert status["grantsEnding"]["count"] == 1
    assert status["grantsEnding"]["connections"][0]["userId"] == "u1"

    run = cli("refresh-tokens", "--platform", "discord", extra_env=extra)
    assert run.code == 0 and run.json["events"]["announced"] == {"failing": 0, "expiring": 1}
    again = cli("refresh-tokens", "--platform", "discord", extra_env=extra)
    assert again.json["events"]["announced"] == {"failing": 0, "expiring": 0}
    (event,) = [json.loads(t) for t in cli("events", "list", extra_env=extra).out.splitlines()]
    assert event["type"] == "connection.expiring"
    assert event["data"]["grantEndsAt"] == listed["refreshTokenExpiresAt"]


@pytest.mark.parametrize(
    ("authorized", "ends"),
    [
        (datetime(2026, 1, 15, 9, 30, tzinfo=UTC), datetime(2026, 7, 15, 9, 30, tzinfo=UTC)),
        (datetime(2026, 8, 31, 23, 0, tzinfo=UTC), datetime(2027, 2, 28, 23, 0, tzinfo=UTC)),
        (datetime(2027, 8, 31, 0, 0, tzinfo=UTC), datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
    ],
)
def test_spotify_grants_end_six_calendar_months_after_authorization(
    authorized: datetime, ends: datetime
) -> None:
    assert BUILTIN_PLATFORMS["spotify"].grant_end(authorized) == ends
    assert BUILTIN_PLATFORMS["discord"].grant_end(authorized) is None


def test_disconnect_and_erase_say_so_and_erase_leaves_only_its_own_event(
    cli: Cli, tmp_path: Path, hooks: Hooks
) -> None:
    extra = configure(tmp_path, hooks, webhook=False)
    seed(cli, ("u1", "discord"), ("u1", "spotify"), ("u2", "discord"))
    u2 = connection_id_of(cli, extra, "u2", "discord")
    gone = cli("tokens", "disconnect", "--user", "u2", "--platform", "discord", "--no-revoke")
    assert gone.code == 0, gone.out
    erased = cli("users", "erase", "u1", "--no-revoke", extra_env=extra)
    assert erased.code == 0, erased.out
    lines = [json.loads(t) for t in cli("events", "list", extra_env=extra).out.splitlines()]
    assert [(e["type"], e["data"]) for e in lines] == [
        (
            "connection.disconnected",
            {"connectionId": u2, "userId": "u2", "platform": "discord", "revoked": False},
        ),
        ("user.erased", {"userId": "u1"}),
    ]
    assert lines[1]["id"] == erased.json["event"]["id"]


def connection_id_of(cli: Cli, extra: dict[str, str], user: str, platform: str) -> int:
    listed = cli("tokens", "list", "--user", user, "--platform", platform, extra_env=extra).json
    return int(listed[0]["id"])
