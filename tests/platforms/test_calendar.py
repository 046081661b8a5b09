"""Google Calendar: sync tokens, 410 Gone, cancelled events, resumable full syncs as walks."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.platforms.support import api, collect, collect_until, context, keys, last_state
from tests.support import payloads as p
from tokensync.errors import MalformedResponseError
from tokensync.platforms.endpoint import SyncState, Walk
from tokensync.platforms.google import CalendarEvents

pytestmark = pytest.mark.anyio
EVENTS = f"{p.CALENDAR}/calendars/primary/events"
GONE = {
    "error": {"code": 410, "message": "Sync token is no longer valid, a full sync is required."}
}
RESYNC = "absent_after_resync"


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
    assert first[0].walk == Walk(RESYNC, begins=True, ends=True), "a full sync is a walk"
    second = await collect(CalendarEvents(), api(p.CALENDAR), last_state(first))
    # A sync token goes alone: no other filter may come with it.
    assert dict(route.calls[1].request.url.params) == {"maxResults": "250", "syncToken": "S1"}
    # Cancelled: deleted at the source, its stored copy kept as it was.
    assert keys(second) == [] and second[0].deleted == ["evt0001"]
    assert second[0].walk is None, "an incremental sync tombstones only what it is told"
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
    assert keys(batches) == ["evt0001"] and batches[0].deleted == ["evt0002"]
    assert last_state(batches).cursor == "fresh"
    assert batches[0].walk == Walk(RESYNC, begins=True, ends=True)


async def test_a_410_while_a_full_sync_resumes_begins_the_walk_again(
    router: respx.MockRouter,
) -> None:
    route = router.get(EVENTS).mock(
        side_effect=[
            httpx.Response(410, json=GONE),
            httpx.Response(200, json=p.calendar_page([p.calendar_event(1)], page_token="PT2")),
            httpx.Response(200, json=p.calendar_page([p.calendar_event(2)], sync_token="S9")),
        ]
    )
    resumed = SyncState(extra={"pageToken": "expired"})
    batches = await collect(CalendarEvents(), api(p.CALENDAR), resumed)
    assert route.calls[0].request.url.params["pageToken"] == "expired"
    assert "pageToken" not in route.calls[1].request.url.params, "over from the first page"
    assert [b.walk for b in batches] == [Walk(RESYNC, begins=True), Walk(RESYNC, ends=True)]


async def test_incremental_pages_cut_short_carry_deletions_and_no_walk(
    router: respx.MockRouter,
) -> None:
    router.get(EVENTS).mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.calendar_page(
                    [p.calendar_event(1, "cancelled"), p.calendar_event(2)], page_token="PT2"
                ),
            ),
        ]
    )
    batches = await collect(
        CalendarEvents(), api(p.CALENDAR), SyncState(cursor="S1"), context(max_pages=1)
    )
    assert keys(batches) == ["evt0002"] and batches[0].deleted == ["evt0001"]
    assert batches[0].walk is None
    assert last_state(batches) == SyncState(cursor="S1", extra={"pageToken": "PT2"})


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
    assert first[0].walk == Walk(RESYNC, begins=True), "cut short: the walk does not end"
    second = await collect(CalendarEvents(), api(p.CALENDAR), last_state(first))
    assert second[0].walk == Walk(RESYNC, ends=True), "carried on, not begun again"
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
