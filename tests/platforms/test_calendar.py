"""Google Calendar: sync tokens, 410 Gone, cancelled events, resumable full syncs."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.platforms import payloads as p
from tests.platforms.support import api, collect, collect_until, context, keys, last_state
from tokensync.errors import MalformedResponseError
from tokensync.platforms.endpoint import SyncState
from tokensync.platforms.google import CalendarEvents

pytestmark = pytest.mark.anyio
EVENTS = f"{p.CALENDAR}/calendars/primary/events"
GONE = {
    "error": {"code": 410, "message": "Sync token is no longer valid, a full sync is required."}
}


async def test_first_sync_then_incremental_with_the_sync_token(router: respx.MockRouter) -> None:
    route = router.get(EVENTS).mock(
        side_effect=[
            httpx.Response(200, json=p.calendar_page([p.calendar_event(1)], sync_token="S1")),
            httpx.Response(
                200, json=p.calendar_page([p.calendar_event(1, "cancelled")], sync_token="S2")
            ),
        ]
    )
    first = await collect(CalendarEvents(), api(p.CALENDAR))
    assert dict(route.calls[0].request.url.params) == {"maxResults": "250", "singleEvents": "true"}
    assert keys(first) == ["evt0001"] and last_state(first) == SyncState(cursor="S1")
    second = await collect(CalendarEvents(), api(p.CALENDAR), last_state(first))
    # A sync token goes alone: no other filter may come with it.
    assert dict(route.calls[1].request.url.params) == {"maxResults": "250", "syncToken": "S1"}
    assert keys(second) == ["evt0001"] and second[0].items[0].data["status"] == "cancelled"
    assert last_state(second) == SyncState(cursor="S2")


async def test_410_drops_the_token_and_syncs_in_full_in_the_same_run(
    router: respx.MockRouter,
) -> None:
    route = router.get(EVENTS).mock(
        side_effect=[
            httpx.Response(410, json=GONE),
            httpx.Response(
                200,
                json=p.calendar_page(
                    [p.calendar_event(1), p.calendar_event(2, "cancelled")], sync_token="fresh"
                ),
            ),
        ]
    )
    batches = await collect(
        CalendarEvents(), api(p.CALENDAR), SyncState(cursor="stale"), context(max_pages=1)
    )
    assert route.calls[0].request.url.params["syncToken"] == "stale"
    full = route.calls[1].request.url.params
    assert "syncToken" not in full and full["singleEvents"] == "true"
    assert keys(batches) == ["evt0001", "evt0002"] and last_state(batches).cursor == "fresh"


async def test_410_twice_is_an_error_not_a_loop(router: respx.MockRouter) -> None:
    route = router.get(EVENTS).respond(410, json=GONE)
    batches, error = await collect_until(CalendarEvents(), api(p.CALENDAR), SyncState("stale"))
    assert isinstance(error, MalformedResponseError) and batches == [] and route.call_count == 2


async def test_a_bounded_sync_resumes_at_its_page_token(router: respx.MockRouter) -> None:
    route = router.get(EVENTS).mock(
        side_effect=[
            httpx.Response(200, json=p.calendar_page([p.calendar_event(1)], page_token="PT2")),
            httpx.Response(200, json=p.calendar_page([p.calendar_event(2)], sync_token="S9")),
        ]
    )
    first = await collect(CalendarEvents(), api(p.CALENDAR), ctx=context(max_pages=1))
    assert last_state(first) == SyncState(extra={"pageToken": "PT2"})
    second = await collect(CalendarEvents(), api(p.CALENDAR), last_state(first))
    assert dict(route.calls[1].request.url.params) == {
        "maxResults": "250",
        "singleEvents": "true",
        "pageToken": "PT2",
    }
    assert keys(second) == ["evt0002"] and last_state(second) == SyncState(cursor="S9")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "calendar#events", "nextSyncToken": "S"}, "'items'"),
        ({"items": [{"status": "confirmed"}], "nextSyncToken": "S"}, "'id'"),
        ({"items": []}, "'nextSyncToken'"),
    ],
)
async def test_a_malformed_page_stores_nothing(
    router: respx.MockRouter, body: object, field: str
) -> None:
    router.get(EVENTS).respond(200, json=body)
    batches, error = await collect_until(CalendarEvents(), api(p.CALENDAR))
    assert isinstance(error, MalformedResponseError) and batches == []
    assert "calendar events" in str(error) and field in str(error)


async def test_an_html_page_is_malformed(router: respx.MockRouter) -> None:
    router.get(EVENTS).respond(200, html="<html><body>Error 502 (Server Error)</body></html>")
    batches, error = await collect_until(CalendarEvents(), api(p.CALENDAR))
    assert isinstance(error, MalformedResponseError) and "text/html" in str(error)
    assert batches == []
