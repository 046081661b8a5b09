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
