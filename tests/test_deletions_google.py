"""Calendar and Gmail mirror the platform (poll-platforms as a user runs it, both engines):
cancellations and deletions tombstone, label changes update, and a full resync (Calendar's 410,
Gmail's 404) tombstones what it did not list once it is complete, and not before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.platforms import payloads as p
from tests.support import Cli, live_keys, rows_of, seed, tombstones

RESYNC, SOURCE = "absent_after_resync", "deleted_at_source"
EVENTS = f"{p.CALENDAR}/calendars/primary/events"
GONE = {
    "error": {"code": 410, "message": "Sync token is no longer valid, a full sync is required."}
}


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    """Every `cli` run here polls what is due at once."""
    config = tmp_path / "poll.toml"
    config.write_text('poll_interval = "0s"\n')
    return config


@pytest.fixture
def one_page(tmp_path: Path) -> dict[str, str]:
    """The environment of a run that reads one page of each endpoint."""
    config = tmp_path / "one-page.toml"
    config.write_text('poll_interval = "0s"\nmax_pages = 1\n')
    return {"TOKENSYNC_CONFIG": str(config)}


def events_page(
    numbers: list[int], *, cancelled: tuple[int, ...] = (), **tokens: str
) -> httpx.Response:
    events = [p.calendar_event(n) for n in numbers]
    events += [p.calendar_event(n, "cancelled") for n in cancelled]
    return httpx.Response(200, json=p.calendar_page(events, **tokens))


def event_ids(*numbers: int) -> set[str]:
    return {str(p.calendar_event(n)["id"]) for n in numbers}


def only_endpoint(doc: dict[str, Any]) -> dict[str, Any]:
    (entry,) = doc["results"]
    (result,) = entry["results"]
    return result  # type: ignore[no-any-return]


# -- Calendar ----------------------------------------------------------------------------------


def test_a_cancelled_event_is_tombstoned_and_one_restored_comes_back(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "google_calendar"), expires_in=3600)
    mock_http.get(EVENTS).mock(
        side_effect=[
            events_page([1, 2, 3], sync_token="S1"),
            events_page([], cancelled=(2,), sync_token="S2"),
            events_page([2], sync_token="S3"),  # restored from the calendar's bin
        ]
    )
    where = (db_url, "u1", "google_calendar", "events")
    cli("poll-platforms")
    doc = cli("poll-platforms").json
    assert tombstones(*where) == {p.calendar_event(2)["id"]: SOURCE}
    assert only_endpoint(doc)["deletedItems"] == 1
    assert rows_of(*where)[p.calendar_event(2)["id"]].data["summary"] == "Meeting 2", "kept"
    cli("poll-platforms")
    assert tombstones(*where) == {} and live_keys(*where) == event_ids(1, 2, 3)


def test_a_410_resync_that_completes_tombstones_what_it_did_not_list(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "google_calendar"), expires_in=3600)
    mock_http.get(EVENTS).mock(
        side_effect=[
            events_page([1, 2, 3, 4], sync_token="S1"),
            httpx.Response(410, json=GONE),
            # Meanwhile 2 was deleted (long enough ago not to be listed), 4 cancelled, 5 added.
            events_page([1, 3, 5], cancelled=(4,), sync_token="S2"),
        ]
    )
    where = (db_url, "u1", "google_calendar", "events")
    cli("poll-platforms")
    doc = cli("poll-platforms").json
    assert tombstones(*where) == {
        p.calendar_event(2)["id"]: RESYNC,
        p.calendar_event(4)["id"]: SOURCE,
    }
    assert only_endpoint(doc)["deletedItems"] == 2 and live_keys(*where) == event_ids(1, 3, 5)


def test_a_410_resync_cut_short_marks_nothing_until_it_completes(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, one_page: dict[str, str]
) -> None:
    seed(cli, ("u1", "google_calendar"), expires_in=3600)
    route = mock_http.get(EVENTS).mock(
        side_effect=[
            events_page([1, 2, 3], sync_token="S1"),
            httpx.Response(410, json=GONE),
            events_page([1], page_token="P2"),
            events_page([4], sync_token="S2"),
        ]
    )
    where = (db_url, "u1", "google_calendar", "events")
    cli("poll-platforms", extra_env=one_page)
    cli("poll-platforms", extra_env=one_page)
    assert tombstones(*where) == {}, "a resync cut short by max_pages knows nothing is gone"
    cli("poll-platforms", extra_env=one_page)
    assert route.calls[3].request.url.params["pageToken"] == "P2"
    assert tombstones(*where) == {p.calendar_event(n)["id"]: RESYNC for n in (2, 3)}
    assert live_keys(*where) == event_ids(1, 4)
