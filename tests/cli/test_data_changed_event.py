"""poll-platforms writes a data.changed event (the outbox) after each poll of an endpoint that
changed items: the counts and the feed position to read up to, never the items; both engines."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from tests.support import payloads as p
from tests.support.support import Cli, seed


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    config = tmp_path / "poll.toml"
    config.write_text('poll_interval = "0s"\n')
    return config


def data_events(cli: Cli) -> list[dict[str, object]]:
    out = cli("events", "list", "--type", "data.changed").out
    return [json.loads(line)["data"] for line in out.splitlines()]


def test_a_poll_that_changed_items_says_so_once_per_endpoint(
    cli: Cli, mock_http: respx.MockRouter
) -> None:
    seed(cli, ("u1", "spotify"), expires_in=3600)
    mock_http.get(f"{p.SPOTIFY}/me/player/recently-played").respond(
        200, json=p.spotify_recently_played([], after=None)
    )
    mock_http.get(f"{p.SPOTIFY}/me/top/tracks").mock(
        side_effect=[
            httpx.Response(200, json=p.spotify_top_tracks([1, 2, 3])),
            httpx.Response(200, json=p.spotify_top_tracks([2, 1, 3])),
            httpx.Response(200, json=p.spotify_top_tracks([2, 1, 3])),
        ]
    )
    assert cli("poll-platforms").code == 0
    (first,) = data_events(cli)
    assert set(first) == {
        "connectionId",
        "userId",
        "platform",
        "endpoint",
        "added",
        "updated",
        "deleted",
        "readUpTo",
    }
    assert (first["endpoint"], first["added"], first["updated"], first["deleted"]) == (
        "top_tracks",
        3,
        0,
        0,
    )
    # A reader that reached readUpTo has every change of that poll.
    feed = json.loads(cli("data", "changes").out)
    assert len(feed["changes"]) == 3
    upto = tuple(int(x) for x in str(first["readUpTo"]).split("-"))
    assert tuple(int(x) for x in feed["next"].split("-")) >= upto
    assert all(int(c["position"].split("-")[0]) < upto[0] for c in feed["changes"])

    assert cli("poll-platforms").code == 0  # two ranks changed
    second = data_events(cli)[-1]
    assert (second["added"], second["updated"], second["deleted"]) == (0, 2, 0)
    assert cli("poll-platforms").code == 0  # nothing changed: no event
    assert len(data_events(cli)) == 2


def read_to_the_end(cli: Cli) -> tuple[list[dict[str, object]], tuple[int, ...]]:
    """Every change of the feed, and the `next` after the last page."""
    changes: list[dict[str, object]] = []
    after: list[str] = []
    while True:
        page = json.loads(cli("data", "changes", "--limit", "2", *after).out)
        changes += page["changes"]
        after = ["--after", page["next"]]
        if not page["hasMore"]:
            return changes, tuple(int(x) for x in page["next"].split("-"))


def test_a_guild_snapshot_announces_its_own_last_batch_joins_and_leaves_alike(
    cli: Cli, mock_http: respx.MockRouter
) -> None:
    """Discord's snapshot is one batch, which writes the event in its own transaction: the
    readUpTo still lies past its changes, the tombstone of a guild left included."""
    seed(cli, ("u1", "discord"), expires_in=3600)
    guilds = [0, 1, 2]
    mock_http.get(f"{p.DISCORD}/users/@me/guilds").mock(
        side_effect=lambda r: httpx.Response(200, json=[p.discord_guild(i) for i in guilds])
    )
    assert cli("poll-platforms").code == 0
    guilds[:] = [0, 2, 3]
    assert cli("poll-platforms").code == 0
    first, second = data_events(cli)
    assert (first["added"], first["updated"], first["deleted"]) == (3, 0, 0)
    assert (second["added"], second["updated"], second["deleted"]) == (1, 0, 1)
    changes, end = read_to_the_end(cli)
    upto = tuple(int(x) for x in str(second["readUpTo"]).split("-"))
    assert {(c["op"], c["itemKey"]) for c in changes} == {
        ("upsert", str(p.discord_guild(n)["id"])) for n in (0, 2, 3)
    } | {("delete", str(p.discord_guild(1)["id"]))}
    assert all(tuple(int(x) for x in str(c["position"]).split("-")) < upto for c in changes)
    assert end >= upto
    assert cli("poll-platforms").code == 0  # nothing changed: no event
    assert len(data_events(cli)) == 2


def test_an_endpoint_that_cannot_tell_its_last_page_announces_after_it(
    cli: Cli, mock_http: respx.MockRouter
) -> None:
    """GitHub's events stop at a page or at a known event, which their adapter learns only after
    yielding: the event comes in a transaction of its own, after the poll's last one."""
    seed(cli, ("u1", "github"), expires_in=3600)
    mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    mock_http.get(f"{p.GITHUB}/users/octocat/events").respond(
        200, json=[p.github_event(i) for i in (2, 1, 0)]
    )
    mock_http.get(f"{p.GITHUB}/user/repos").respond(200, json=[])
    assert cli("poll-platforms").code == 0
    (event,) = data_events(cli)
    assert (event["endpoint"], event["added"], event["updated"]) == ("events", 3, 0)
    changes, end = read_to_the_end(cli)
    upto = tuple(int(x) for x in str(event["readUpTo"]).split("-"))
    assert len(changes) == 3 and end >= upto
    assert all(tuple(int(x) for x in str(c["position"]).split("-")) < upto for c in changes)
