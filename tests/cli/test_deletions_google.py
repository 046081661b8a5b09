"""Calendar and Gmail mirror the platform (poll-platforms as a user runs it, both engines):
cancellations and deletions tombstone, label changes update, and a full resync (Calendar's 410,
Gmail's 404) tombstones what it did not list once it is complete, and not before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.support import payloads as p
from tests.support.support import Cli, live_keys, rows_of, seed, tombstones

RESYNC, SOURCE = "absent_after_resync", "deleted_at_source"
EVENTS = f"{p.CALENDAR}/calendars/primary/events"
ME = f"{p.GMAIL}/users/me"
GONE = {
    "error": {"code": 410, "message": "Sync token is no longer valid, a full sync is required."}
}
TOO_OLD = {
    "error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
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


# -- Gmail -------------------------------------------------------------------------------------


def gmail(router: respx.MockRouter) -> list[str]:
    """Every message's metadata, as it is now; returns the ids fetched, in order."""
    fetched: list[str] = []

    def message(request: httpx.Request) -> httpx.Response:
        fetched.append(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json=p.gmail_message(fetched[-1]))

    router.get(
        host="gmail.googleapis.com",
        path__regex=r"^/gmail/v1/users/me/messages/[^/]+$",
        params__contains={"format": "metadata"},
    ).mock(side_effect=message)
    return fetched


def labels(db_url: str, message: str) -> list[str]:
    return list(rows_of(db_url, "u1", "google_gmail", "messages")[message].data["labelIds"])


def test_gmail_follows_deletions_and_label_changes_across_history_pages(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "google_gmail"), expires_in=3600)
    fetched = gmail(mock_http)
    mock_http.get(f"{ME}/profile").respond(200, json=p.gmail_profile("100"))
    mock_http.get(f"{ME}/messages", params={"maxResults": "100"}).respond(
        200, json=p.gmail_list(["m1", "m2", "m3"])
    )
    mock_http.get(f"{ME}/history").mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.gmail_history(
                    [
                        p.gmail_record("101", labels_added={"m1": ["TRASH"]}),
                        p.gmail_record("102", deleted=["m2"]),
                    ],
                    "200",
                    "H2",
                ),
            ),
            httpx.Response(
                200,
                json=p.gmail_history(
                    [
                        p.gmail_record("103", labels_removed={"m1": ["UNREAD"]}),
                        p.gmail_record("104", added=["m4"]),
                    ],
                    "200",
                ),
            ),
        ]
    )
    where = (db_url, "u1", "google_gmail", "messages")
    cli("poll-platforms")
    doc = cli("poll-platforms").json
    assert tombstones(*where) == {"m2": SOURCE}
    assert live_keys(*where) == {"m1", "m3", "m4"}, "a message in the trash is still there"
    assert labels(db_url, "m1") == ["INBOX", "TRASH"]
    assert sorted(fetched) == ["m1", "m2", "m3", "m4"], "a relabelled message is not fetched"
    result = only_endpoint(doc)
    assert (result["deletedItems"], result["newItems"]) == (1, 1)


def test_a_404_relist_tombstones_what_it_did_not_list_once_complete(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, one_page: dict[str, str]
) -> None:
    seed(cli, ("u1", "google_gmail"), expires_in=3600)
    fetched = gmail(mock_http)
    mock_http.get(f"{ME}/profile").mock(
        side_effect=[
            httpx.Response(200, json=p.gmail_profile("100")),
            httpx.Response(200, json=p.gmail_profile("300")),
        ]
    )
    listing = mock_http.get(f"{ME}/messages", params={"maxResults": "100"}).mock(
        side_effect=[
            httpx.Response(200, json=p.gmail_list(["m1", "m2", "m3"])),
            httpx.Response(200, json=p.gmail_list(["m1", "m5"], next_token="P2")),
            httpx.Response(200, json=p.gmail_list(["m3"])),
        ]
    )
    mock_http.get(f"{ME}/history").mock(
        side_effect=[
            httpx.Response(404, json=TOO_OLD),
            httpx.Response(
                200,
                json=p.gmail_history(
                    [p.gmail_record("301", labels_added={"m2": ["STARRED"]})], "310"
                ),
            ),
        ]
    )
    where = (db_url, "u1", "google_gmail", "messages")
    cli("poll-platforms", extra_env=one_page)
    cli("poll-platforms", extra_env=one_page)  # history too old: the re-list's first page
    assert tombstones(*where) == {}, "a re-list cut short knows nothing is gone"
    doc = cli("poll-platforms", extra_env=one_page).json  # its last page
    assert listing.calls[2].request.url.params["pageToken"] == "P2"
    assert tombstones(*where) == {"m2": RESYNC} and only_endpoint(doc)["deletedItems"] == 1
    assert fetched == ["m1", "m2", "m3", "m5"], "messages stored already are not fetched again"
    # m2 was there after all (it changes): it is fetched and its tombstone goes.
    cli("poll-platforms", extra_env=one_page)
    assert tombstones(*where) == {} and live_keys(*where) == {"m1", "m2", "m3", "m5"}
    assert fetched[-1] == "m2"
