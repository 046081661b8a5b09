"""Each polling adapter against its platform's real shapes (respx, strict)."""

from __future__ import annotations

import httpx
import pytest
import respx
from bench import payloads as p

from tests.platforms.support import NOW, api, collect, context, keys, last_state
from tokensync.errors import MalformedResponseError
from tokensync.platforms.base import SyncState
from tokensync.platforms.discord import UserGuilds
from tokensync.platforms.github import Events, Repos
from tokensync.platforms.google import CalendarEvents, GmailMessages
from tokensync.platforms.spotify import RecentlyPlayed, TopTracks
from tokensync.platforms.youtube import LikedVideos

pytestmark = pytest.mark.anyio


@pytest.fixture
def router():  # type: ignore[no-untyped-def]
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock


# -- spotify ---------------------------------------------------------------------------------


async def test_recently_played_first_and_incremental(router: respx.MockRouter) -> None:
    route = router.get(f"{p.SPOTIFY}/me/player/recently-played").mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.spotify_recently_played(
                    [(1, "2026-11-28T10:00:00.000Z"), (2, "2026-11-28T09:00:00.000Z")],
                    after="1764324000000",
                ),
            ),
            httpx.Response(200, json=p.spotify_recently_played([], after=None)),
        ]
    )
    batches = await collect(RecentlyPlayed(), api(p.SPOTIFY))
    assert keys(batches) == [
        f"2026-11-28T10:00:00.000Z:{p.spotify_track(1)['id']}",
        f"2026-11-28T09:00:00.000Z:{p.spotify_track(2)['id']}",
    ]
    assert last_state(batches).cursor == "1764324000000"
    assert dict(route.calls[0].request.url.params) == {"limit": "50"}
    again = await collect(RecentlyPlayed(), api(p.SPOTIFY), last_state(batches))
    assert dict(route.calls[1].request.url.params) == {"limit": "50", "after": "1764324000000"}
    assert keys(again) == [] and last_state(again).cursor == "1764324000000"


async def test_recently_played_pages_are_bounded_and_resume_from_the_old_cursor(
    router: respx.MockRouter,
) -> None:
    url = f"{p.SPOTIFY}/me/player/recently-played"
    router.get(url).mock(
        side_effect=[
            httpx.Response(
                200,
                json=p.spotify_recently_played(
                    [(i, f"2026-11-28T10:0{i}:00.000Z")],
                    after=str(1764324000000 + i),
                    next_url=f"https://other-host.example/v1/me/player/recently-played?before={i}",
                ),
            )
            for i in range(3)
        ]
    )
    batches = await collect(
        RecentlyPlayed(), api(p.SPOTIFY), SyncState(cursor="1764300000000"), context(max_pages=2)
    )
    assert len(keys(batches)) == 2
    assert last_state(batches).cursor == "1764300000000", "cut short: the cursor stays"
    assert {str(c.request.url.host) for c in router.calls} == {"api.spotify.com"}


async def test_recently_played_refuses_a_cursor_that_is_not_milliseconds(
    router: respx.MockRouter,
) -> None:
    router.get(f"{p.SPOTIFY}/me/player/recently-played").respond(
        200, json=p.spotify_recently_played([(1, "2026-11-28T10:00:00.000Z")], after="yesterday")
    )
    with pytest.raises(MalformedResponseError, match="milliseconds"):
        await collect(RecentlyPlayed(), api(p.SPOTIFY))


async def test_top_tracks_pages_by_offset_with_ranks(router: respx.MockRouter) -> None:
    url = f"{p.SPOTIFY}/me/top/tracks"
    router.get(url, params={"time_range": "short_term", "limit": "50", "offset": "0"}).respond(
        200, json=p.spotify_top_tracks(list(range(50)), offset=0, total=52)
    )
    router.get(url, params={"time_range": "short_term", "limit": "50", "offset": "50"}).respond(
        200, json=p.spotify_top_tracks([50, 51], offset=50, total=52)
    )
    batches = await collect(TopTracks(), api(p.SPOTIFY))
    stored = [item for b in batches for item in b.items]
    assert len(stored) == 52 and stored[51].data["rank"] == 52


# -- youtube ---------------------------------------------------------------------------------


async def test_liked_videos_stop_at_a_known_video(router: respx.MockRouter) -> None:
    route = router.get(
        f"{p.YOUTUBE}/videos",
        params={"myRating": "like", "maxResults": "50", "part": "snippet,contentDetails"},
    ).respond(200, json=p.youtube_page([p.youtube_video(i) for i in range(3)], next_token="CDIQAA"))
    known = {p.youtube_video(1)["id"]}
    batches = await collect(LikedVideos(), api(p.YOUTUBE), ctx=context(known=known))
    assert len(keys(batches)) == 3 and route.call_count == 1
    assert last_state(batches).extra == {}


async def test_a_long_first_sync_resumes_next_run(router: respx.MockRouter) -> None:
    pages = {None: ("T1", range(0, 2)), "T1": ("T2", range(2, 4)), "T2": (None, range(4, 5))}

    def page(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("pageToken")
        next_token, numbers = pages[token]
        return httpx.Response(
            200, json=p.youtube_page([p.youtube_video(i) for i in numbers], next_token)
        )

    router.get(f"{p.YOUTUBE}/videos").mock(side_effect=page)
    first = await collect(LikedVideos(), api(p.YOUTUBE), ctx=context(max_pages=2))
    assert len(keys(first)) == 4 and last_state(first).extra == {"resume": "T2"}
    stored = set(keys(first))
    second = await collect(
        LikedVideos(), api(p.YOUTUBE), last_state(first), context(known=stored, max_pages=2)
    )
    assert set(keys(second)) - stored == {p.youtube_video(4)["id"]}
    assert last_state(second).extra == {}


# -- github ----------------------------------------------------------------------------------


async def test_events_use_etag_poll_interval_and_link_pages(router: respx.MockRouter) -> None:
    router.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    page2 = f"{p.GITHUB}/user/583231/events?per_page=100&page=2"
    events = router.get(f"{p.GITHUB}/users/octocat/events").mock(
        side_effect=[
            httpx.Response(
                200,
                json=[p.github_event(1), p.github_event(2)],
                headers={
                    "ETag": 'W/"e1"',
                    "X-Poll-Interval": "60",
                    "Link": f'<{page2}>; rel="next", <{page2}>; rel="last"',
                },
            ),
        ]
    )
    router.get(f"{p.GITHUB}/user/583231/events").respond(200, json=[p.github_event(3)])
    batches = await collect(Events(), api(p.GITHUB))
    assert keys(batches) == [p.github_event(i)["id"] for i in (1, 2, 3)]
    assert batches[0].state.etag is None, "the ETag moves with the last page"
    state = last_state(batches)
    assert state.etag == 'W/"e1"' and state.extra["login"] == "octocat"
    assert "If-None-Match" not in events.calls[0].request.headers
    # Polled again too early: X-Poll-Interval is obeyed without a request.
    early = await collect(Events(), api(p.GITHUB), state, context(now=NOW))
    assert keys(early) == [] and events.call_count == 1


async def test_events_304_costs_nothing(router: respx.MockRouter) -> None:
    route = router.get(
        f"{p.GITHUB}/users/octocat/events", headers={"If-None-Match": 'W/"e1"'}
    ).respond(304)
    state = SyncState(etag='W/"e1"', extra={"login": "octocat"})
    batches = await collect(Events(), api(p.GITHUB), state)
    assert keys(batches) == [] and last_state(batches).etag == 'W/"e1"' and route.called


async def test_events_stop_at_a_known_page(router: respx.MockRouter) -> None:
    later = f"{p.GITHUB}/user/583231/events?page=2"
    router.get(f"{p.GITHUB}/users/octocat/events").respond(
        200,
        json=[p.github_event(5), p.github_event(4)],
        headers={"ETag": '"e2"', "Link": f'<{later}>; rel="next"'},
    )
    known = {p.github_event(4)["id"]}
    batches = await collect(
        Events(), api(p.GITHUB), SyncState(extra={"login": "octocat"}), context(known=known)
    )
    assert len(keys(batches)) == 2 and last_state(batches).etag == '"e2"'


async def test_repos_follow_link_pages(router: respx.MockRouter) -> None:
    page2 = f"{p.GITHUB}/user/repos?per_page=100&sort=updated&page=2"
    router.get(f"{p.GITHUB}/user/repos", params={"per_page": "100", "sort": "updated"}).mock(
        side_effect=[
            httpx.Response(
                200, json=[p.github_repo(1)], headers={"Link": f'<{page2}>; rel="next"'}
            ),
            httpx.Response(200, json=[p.github_repo(2)]),
        ]
    )
    batches = await collect(Repos(), api(p.GITHUB))
    assert keys(batches) == ["1296270", "1296271"]


# -- discord ---------------------------------------------------------------------------------


async def test_guilds_snapshot_and_a_malformed_answer(router: respx.MockRouter) -> None:
    router.get(f"{p.DISCORD}/users/@me/guilds", params={"limit": "200"}).mock(
        side_effect=[
            httpx.Response(200, json=[p.discord_guild(i) for i in range(3)]),
            httpx.Response(200, json={"guilds": []}),
        ]
    )
    assert len(keys(await collect(UserGuilds(), api(p.DISCORD)))) == 3
    with pytest.raises(MalformedResponseError):
        await collect(UserGuilds(), api(p.DISCORD))


# -- google ----------------------------------------------------------------------------------


async def test_gmail_first_sync_lists_and_fetches_metadata(router: respx.MockRouter) -> None:
    router.get(f"{p.GMAIL}/users/me/profile").respond(
        200,
        json={
            "emailAddress": "me@example.com",
            "messagesTotal": 3,
            "threadsTotal": 3,
            "historyId": "5000",
        },
    )
    router.get(f"{p.GMAIL}/users/me/messages", params={"maxResults": "100"}).respond(
        200,
        json={
            "messages": [
                {"id": "m1", "threadId": "t1"},
                {"id": "m2", "threadId": "t2"},
                {"id": "m3", "threadId": "t3"},
            ],
            "resultSizeEstimate": 3,
        },
    )
    meta = router.get(
        host="gmail.googleapis.com",
        path__regex=r"/gmail/v1/users/me/messages/m[23]$",
        params__contains={"format": "metadata"},
    )
    meta.side_effect = lambda request: httpx.Response(
        200, json=p.gmail_message(request.url.path.rsplit("/", 1)[1])
    )
    batches = await collect(GmailMessages(), api(p.GMAIL), ctx=context(known={"m1"}))
    assert sorted(keys(batches)) == ["m2", "m3"], "known messages are not fetched again"
    assert last_state(batches).cursor == "5000" and last_state(batches).extra == {}
    assert meta.calls[0].request.url.params.get_list("metadataHeaders") == [
        "From",
        "Subject",
        "Date",
    ]


async def test_gmail_history_and_the_404_reset(router: respx.MockRouter) -> None:
    history = router.get(f"{p.GMAIL}/users/me/history").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "history": [
                        {
                            "id": "5001",
                            "messagesAdded": [
                                {"message": {"id": "m9", "threadId": "t9", "labelIds": ["INBOX"]}}
                            ],
                        }
                    ],
                    "historyId": "5002",
                },
            ),
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
    router.get(f"{p.GMAIL}/users/me/messages/m9").respond(200, json=p.gmail_message("m9"))
    batches = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="5000"))
    assert keys(batches) == ["m9"] and last_state(batches).cursor == "5002"
    assert history.calls[0].request.url.params["startHistoryId"] == "5000"

    router.get(f"{p.GMAIL}/users/me/profile").respond(200, json={"historyId": "9000"})
    router.get(f"{p.GMAIL}/users/me/messages", params={"maxResults": "100"}).respond(
        200, json={"resultSizeEstimate": 0}
    )
    reset = await collect(GmailMessages(), api(p.GMAIL), SyncState(cursor="1"))
    assert keys(reset) == [] and last_state(reset).cursor == "9000"


async def test_calendar_incremental_and_410_full_resync(router: respx.MockRouter) -> None:
    route = router.get(f"{p.CALENDAR}/calendars/primary/events").mock(
        side_effect=[
            httpx.Response(
                410, json={"error": {"code": 410, "message": "Sync token is no longer valid."}}
            ),
            httpx.Response(
                200,
                json=p.calendar_page(
                    [p.calendar_event(1), p.calendar_event(2, "cancelled")], sync_token="fresh"
                ),
            ),
        ]
    )
    batches = await collect(CalendarEvents(), api(p.CALENDAR), SyncState(cursor="stale"))
    assert route.calls[0].request.url.params["syncToken"] == "stale"
    full = route.calls[1].request.url.params
    assert "syncToken" not in full and full["singleEvents"] == "true"
    assert keys(batches) == ["evt0001", "evt0002"] and last_state(batches).cursor == "fresh"
    assert batches[0].items[1].data["status"] == "cancelled"


async def test_calendar_state_after_a_bounded_run(router: respx.MockRouter) -> None:
    router.get(f"{p.CALENDAR}/calendars/primary/events").respond(
        200, json=p.calendar_page([p.calendar_event(1)], page_token="next-page")
    )
    batches = await collect(CalendarEvents(), api(p.CALENDAR), ctx=context(max_pages=1))
    assert last_state(batches).cursor is None
    assert last_state(batches).extra == {"pageToken": "next-page"}
