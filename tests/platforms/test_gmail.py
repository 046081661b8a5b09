"""Gmail: a full list (resumable) from a profile historyId, then history; a 404 means start over."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from tests.platforms.support import (
    FakeTokens,
    Sleeps,
    api,
    collect,
    collect_until,
    context,
    keys,
    last_state,
)
from tests.support import payloads as p
from tokensync.errors import MalformedResponseError, RateLimitedError
from tokensync.platforms.endpoint import SyncState, Walk
from tokensync.platforms.google import GmailMessages

pytestmark = pytest.mark.anyio
ME = f"{p.GMAIL}/users/me"


def metadata(router: respx.MockRouter) -> respx.Route:
    """GET /users/me/messages/{id}?format=metadata for any id."""
    route = router.get(
        host="gmail.googleapis.com",
        path__regex=r"^/gmail/v1/users/me/messages/[^/]+$",
        params__contains={"format": "metadata"},
    )
    route.side_effect = lambda request: httpx.Response(
        200, json=p.gmail_message(request.url.path.rsplit("/", 1)[1])
    )
    return route


def fetched(route: respx.Route) -> list[str]:
    return sorted(c.request.url.path.rsplit("/", 1)[1] for c in route.calls)


async def test_first_sync_lists_and_fetches_metadata_of_unknown_messages(
    router: respx.MockRouter,
) -> None:
    router.get(f"{ME}/profile").respond(200, json=p.gmail_profile("5000"))
    router.get(f"{ME}/messages", params={"maxResults": "100"}).respond(
        200, json=p.gmail_list(["m1", "m2", "m3"])
    )
    meta = metadata(router)
    batches = await collect(GmailMessages(), api(p.GMAIL), ctx=context(known={"m1"}))
    assert sorted(keys(batches)) == ["m2", "m3"] and fetched(meta) == ["m2", "m3"]
    assert last_state(batches) == SyncState(cursor="5000")
    params = meta.calls[0].request.url.params
    assert params["format"] == "metadata"
    assert params.get_list("metadataHeaders") == ["From", "Subject", "Date"]


async def test_a_bounded_full_sync_resumes_and_stores_the_cursor_at_the_end(
    router: respx.MockRouter,
) -> None:
    profile = router.get(f"{ME}/profile").respond(200, json=p.gmail_profile("5000"))
    listing = router.get(f"{ME}/messages").mock(
        side_effect=[
            httpx.Response(200, json=p.gmail_list(["m1"], next_token="P2")),
            httpx.Response(200, json=p.gmail_list(["m2"])),
        ]
    )
    metadata(router)
    first = await collect(GmailMessages(), api(p.GMAIL), ctx=context(max_pages=1))
    state = last_state(first)
    assert keys(first) == ["m1"] and state.cursor is None
    assert state.extra == {"fullSync": True, "historyId": "5000", "pageToken": "P2"}
    second = await collect(GmailMessages(), api(p.GMAIL), state, context(max_pages=1))
    assert listing.calls[1].request.url.params["pageToken"] == "P2"
    assert profile.call_count == 1, "the resumed sync keeps the first historyId"
    assert keys(second) == ["m2"] and last_state(second) == SyncState(cursor="5000")


async def test_history_then_the_404_reset(router: respx.MockRouter) -> None:
    history = router.get(f"{ME}/history").mock(
        side_effect=[
            httpx.Response(200, json=p.gmail_history([("5001", ["m9"])], "5002")),
            httpx.Response(
                404,
                json={
                    "error": {
                        "code": 404,
                        "message": "Requested entity was not found.",
                        "status": "NOT_FOUND",
                    }
                },
            ),
        ]
    )
    meta = metadata(router)
    batches = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="5000"))
    assert keys(batches) == ["m9"] and last_state(batches) == SyncState(cursor="5002")
    params = history.calls[0].request.url.params
    assert (params["startHistoryId"], params["maxResults"]) == ("5000", "500")
    assert params.get_list("historyTypes") == [
        "messageAdded",
        "messageDeleted",
        "labelAdded",
        "labelRemoved",
    ]

    router.get(f"{ME}/profile").respond(200, json=p.gmail_profile("9000"))
    router.get(f"{ME}/messages", params={"maxResults": "100"}).respond(
        200, json=p.gmail_list(["m9", "m10"])
    )
    reset = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="1"), context({"m9"}))
    assert keys(reset) == ["m10"] and last_state(reset) == SyncState(cursor="9000")
    assert fetched(meta) == ["m10", "m9"]


async def test_history_pages_move_the_cursor_record_by_record(router: respx.MockRouter) -> None:
    history = router.get(f"{ME}/history").mock(
        side_effect=[
            httpx.Response(200, json=p.gmail_history([("6001", ["a"])], "6100", "H2")),
            httpx.Response(200, json=p.gmail_history([("6050", ["b"])], "6100", "H3")),
            httpx.Response(200, json=p.gmail_history([("6080", ["c"])], "6100")),
        ]
    )
    metadata(router)
    first = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="6000"), context(None, 2))
    assert [b.state.cursor for b in first] == ["6001", "6050"]
    assert history.calls[1].request.url.params["startHistoryId"] == "6000"
    assert history.calls[1].request.url.params["pageToken"] == "H2"
    second = await collect(GmailMessages(), api(p.GMAIL), last_state(first))
    assert history.calls[2].request.url.params["startHistoryId"] == "6050"
    assert keys(second) == ["c"] and last_state(second).cursor == "6100"


async def test_a_deleted_message_is_skipped(router: respx.MockRouter) -> None:
    router.get(f"{ME}/history").respond(200, json=p.gmail_history([("7001", ["gone"])], "7002"))
    router.get(f"{ME}/messages/gone").respond(404, json={"error": {"code": 404}})
    batches = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="7000"))
    assert keys(batches) == [] and last_state(batches).cursor == "7002"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"history": [{"id": "1", "messagesAdded": [{"message": {}}]}], "historyId": "2"}, "id"),
        ({"history": {"id": "1"}, "historyId": "2"}, "history"),
        ({"history": []}, "historyId"),
        ({"history": [], "historyId": "12 OR 1"}, "historyId"),
    ],
)
async def test_a_malformed_history_page_stores_nothing(
    router: respx.MockRouter, body: object, field: str
) -> None:
    router.get(f"{ME}/history").respond(200, json=body)
    batches, error = await collect_until(GmailMessages(), api(p.GMAIL), SyncState(cursor="1"))
    assert isinstance(error, MalformedResponseError) and batches == []
    assert "gmail history" in str(error) and field in str(error)


async def test_a_message_id_is_not_put_in_a_path_unchecked(router: respx.MockRouter) -> None:
    router.get(f"{ME}/history").respond(200, json=p.gmail_history([("2", ["../../profile"])], "3"))
    batches, error = await collect_until(GmailMessages(), api(p.GMAIL), SyncState(cursor="1"))
    assert isinstance(error, MalformedResponseError) and batches == []


async def test_a_google_rate_limit_fails_the_page_and_stops_the_fetches(
    router: respx.MockRouter,
) -> None:
    router.get(f"{ME}/history").respond(200, json=p.gmail_history([("2", ["m1", "m2", "m3"])], "3"))
    limited = p.google_error(403, "Rate Limit Exceeded", "rateLimitExceeded", "PERMISSION_DENIED")
    router.get(f"{ME}/messages/m1").respond(403, json=limited)
    router.get(f"{ME}/messages/m2").respond(200, json=p.gmail_message("m2"))
    router.get(f"{ME}/messages/m3").respond(200, json=p.gmail_message("m3"))
    sleeps = Sleeps()
    batches, error = await collect_until(
        GmailMessages(), api(p.GMAIL, sleeps=sleeps, max_wait=10), SyncState(cursor="1")
    )
    assert isinstance(error, RateLimitedError) and error.status == 403
    assert batches == [] and sleeps == [], "60 s (Google gives no delay) is above max_wait"


async def test_concurrent_401s_share_one_refresh(router: respx.MockRouter) -> None:
    router.get(f"{ME}/history").respond(
        200, json=p.gmail_history([("2", ["m1", "m2", "m3", "m4"])], "3")
    )

    async def refused(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # all four are in flight before the first 401 comes back
        return httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED"}})

    old = router.get(
        host="gmail.googleapis.com",
        path__regex=r"^/gmail/v1/users/me/messages/m\d$",
        headers={"Authorization": "Bearer old"},
    ).mock(side_effect=refused)
    new = metadata(router)
    tokens = FakeTokens()
    batches = await collect(GmailMessages(), api(p.GMAIL, tokens), SyncState(cursor="1"))
    assert sorted(keys(batches)) == ["m1", "m2", "m3", "m4"]
    assert tokens.refreshes == 1 and old.call_count == 4 and new.call_count == 4


# -- deletions and label changes -------------------------------------------------------------

RESYNC = "absent_after_resync"


def stored(*ids: str, labels: tuple[str, ...] = ("INBOX", "UNREAD")) -> dict[str, dict[str, Any]]:
    """Messages as the store holds them: their metadata."""
    return {i: {**p.gmail_message(i), "labelIds": list(labels)} for i in ids}


async def test_history_pages_carry_deletions_and_label_changes(router: respx.MockRouter) -> None:
    router.get(f"{ME}/history").mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.gmail_history(
                    [
                        p.gmail_record("8001", labels_added={"m1": ["TRASH"]}),
                        p.gmail_record("8002", labels_removed={"m2": ["UNREAD"]}),
                        p.gmail_record("8003", deleted=["m3"]),
                    ],
                    "8010",
                    "H2",
                ),
            ),
            httpx.Response(
                200,
                json=p.gmail_history(
                    [
                        p.gmail_record("8004", labels_removed={"m1": ["TRASH"]}),
                        p.gmail_record("8005", labels_added={"m1": ["STARRED"]}),
                        p.gmail_record("8006", deleted=["m2"]),
                    ],
                    "8010",
                ),
            ),
        ]
    )
    ctx = context(stored("m1", "m2", "m3"))
    batches = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="8000"), ctx)
    first, second = batches
    # A message moved to the trash is still there, with its labels as they now are.
    assert {i.key: i.data["labelIds"] for i in first.items} == {
        "m1": ["INBOX", "UNREAD", "TRASH"],
        "m2": ["INBOX"],
    }
    assert first.deleted == ["m3"] and first.walk is None
    assert {i.key: i.data["labelIds"] for i in second.items} == {
        "m1": ["INBOX", "UNREAD", "STARRED"]
    }, "each page's changes apply in order to the stored copy"
    assert second.deleted == ["m2"] and last_state(batches) == SyncState(cursor="8010")


async def test_changes_within_a_page_apply_in_order_and_a_deletion_wins(
    router: respx.MockRouter,
) -> None:
    router.get(f"{ME}/history").respond(
        200,
        json=p.gmail_history(
            [
                p.gmail_record("9001", labels_added={"m1": ["TRASH"]}),
                p.gmail_record("9002", labels_removed={"m1": ["TRASH", "UNREAD"]}),
                p.gmail_record("9003", labels_added={"m2": ["IMPORTANT"]}),
                p.gmail_record("9004", added=["m4"], labels_added={"m4": ["STARRED"]}),
                p.gmail_record("9005", deleted=["m2", "m4"]),
                p.gmail_record("9006", labels_added={"m5": ["INBOX"]}),
            ],
            "9010",
        ),
    )
    meta = metadata(router)
    ctx = context(stored("m1", "m2"))
    (batch,) = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="9000"), ctx)
    # m1 ends as it started but for UNREAD; m2 and m4 are gone, so neither is fetched nor
    # relabelled; m5 changed but was never stored, so it is fetched, as it is now.
    assert {i.key: i.data["labelIds"] for i in batch.items} == {
        "m1": ["INBOX"],
        "m5": ["INBOX", "UNREAD"],
    }
    assert batch.deleted == ["m2", "m4"] and fetched(meta) == ["m5"]


async def test_a_label_change_that_changes_nothing_stores_nothing(
    router: respx.MockRouter,
) -> None:
    router.get(f"{ME}/history").respond(
        200, json=p.gmail_history([p.gmail_record("2", labels_added={"m1": ["INBOX"]})], "3")
    )
    ctx = context(stored("m1"))
    (batch,) = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="1"), ctx)
    assert batch.items == [] and batch.deleted == []


async def test_a_label_that_is_not_a_string_fails_the_page(router: respx.MockRouter) -> None:
    record = p.gmail_record("2", labels_added={"m1": ["TRASH"]})
    record["labelsAdded"][0]["labelIds"] = [7]
    router.get(f"{ME}/history").respond(200, json=p.gmail_history([record], "3"))
    batches, error = await collect_until(
        GmailMessages(), api(p.GMAIL), SyncState(cursor="1"), context(stored("m1"))
    )
    assert isinstance(error, MalformedResponseError) and batches == []


async def test_the_full_list_is_a_walk_that_counts_stored_messages_as_seen(
    router: respx.MockRouter,
) -> None:
    router.get(f"{ME}/profile").respond(200, json=p.gmail_profile("5000"))
    listing = router.get(f"{ME}/messages").mock(
        side_effect=[
            httpx.Response(200, json=p.gmail_list(["m1", "m2"], next_token="P2")),
            httpx.Response(200, json=p.gmail_list(["m3", "m4"], next_token="P3")),
            httpx.Response(200, json=p.gmail_list(["m5"])),
        ]
    )
    meta = metadata(router)
    ctx = context({"m1", "m4"}, max_pages=2)
    first = await collect(GmailMessages(), api(p.GMAIL), ctx=ctx)
    # Trash and spam are listed too: a trashed message is still there.
    assert listing.calls[0].request.url.params["includeSpamTrash"] == "true"
    assert [b.seen for b in first] == [["m1"], ["m4"]] and fetched(meta) == ["m2", "m3"]
    assert [b.walk for b in first] == [Walk(RESYNC, begins=True), Walk(RESYNC)], "cut short"
    second = await collect(GmailMessages(), api(p.GMAIL), last_state(first), ctx)
    assert [b.walk for b in second] == [Walk(RESYNC, ends=True)]
    assert keys(second) == ["m5"] and last_state(second) == SyncState(cursor="5000")
