"""Payloads of the platforms' real shapes (from the OpenAPI descriptions in ../shared/api-specs).

The adapter tests answer with them through respx; tests/support/provider.py serves them on loopback.
"""

from __future__ import annotations

from typing import Any

SPOTIFY = "https://api.spotify.com/v1"
GITHUB = "https://api.github.com"
DISCORD = "https://discord.com/api/v10"
YOUTUBE = "https://www.googleapis.com/youtube/v3"
GMAIL = "https://gmail.googleapis.com/gmail/v1"
CALENDAR = "https://www.googleapis.com/calendar/v3"


def spotify_track(n: int) -> dict[str, Any]:
    """A TrackObject."""
    track_id = f"4iV5W9uYEdYUVa79Axb7R{n:x}"
    return {
        "album": {
            "album_type": "album",
            "total_tracks": 12,
            "available_markets": ["GB", "US"],
            "external_urls": {"spotify": f"https://open.spotify.com/album/alb{n}"},
            "href": f"{SPOTIFY}/albums/alb{n}",
            "id": f"alb{n}",
            "images": [],
            "name": f"Album {n}",
            "release_date": "2021-06-04",
            "release_date_precision": "day",
            "type": "album",
            "uri": f"spotify:album:alb{n}",
            "artists": [
                {
                    "external_urls": {"spotify": "https://open.spotify.com/artist/a1"},
                    "href": f"{SPOTIFY}/artists/a1",
                    "id": "a1",
                    "name": "Artist",
                    "type": "artist",
                    "uri": "spotify:artist:a1",
                }
            ],
        },
        "artists": [
            {
                "external_urls": {"spotify": "https://open.spotify.com/artist/a1"},
                "href": f"{SPOTIFY}/artists/a1",
                "id": "a1",
                "name": "Artist",
                "type": "artist",
                "uri": "spotify:artist:a1",
            }
        ],
        "available_markets": ["GB", "US"],
        "disc_number": 1,
        "duration_ms": 215000 + n,
        "explicit": False,
        "external_ids": {"isrc": f"USUM7210{n:04d}"},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"{SPOTIFY}/tracks/{track_id}",
        "id": track_id,
        "is_playable": True,
        "name": f"Track {n}",
        "popularity": 50,
        "preview_url": None,
        "track_number": n % 12 + 1,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
        "is_local": False,
    }


def spotify_recently_played(
    plays: list[tuple[int, str]], *, after: str | None, next_url: str | None = None
) -> dict[str, Any]:
    """A CursorPagingPlayHistoryObject: plays are (track number, played_at)."""
    return {
        "href": f"{SPOTIFY}/me/player/recently-played?limit=50",
        "limit": 50,
        "next": next_url,
        "cursors": {"after": after, "before": "1700000000000"} if plays else None,
        "total": len(plays),
        "items": [
            {
                "track": spotify_track(n),
                "played_at": played_at,
                "context": {
                    "type": "playlist",
                    "href": f"{SPOTIFY}/playlists/p1",
                    "external_urls": {"spotify": "https://open.spotify.com/playlist/p1"},
                    "uri": "spotify:playlist:p1",
                },
            }
            for n, played_at in plays
        ],
    }


def spotify_top_tracks(
    numbers: list[int], offset: int = 0, total: int | None = None
) -> dict[str, Any]:
    """A PagingTrackObject."""
    total = len(numbers) if total is None else total
    more = offset + len(numbers) < total
    return {
        "href": f"{SPOTIFY}/me/top/tracks?offset={offset}&limit=50",
        "limit": 50,
        "offset": offset,
        "total": total,
        "previous": None,
        "next": f"{SPOTIFY}/me/top/tracks?offset={offset + 50}&limit=50" if more else None,
        "items": [spotify_track(n) for n in numbers],
    }


def github_user(login: str = "octocat") -> dict[str, Any]:
    """GET /user (private user)."""
    return {
        "login": login,
        "id": 583231,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "type": "User",
        "site_admin": False,
        "name": "The Octocat",
        "public_repos": 8,
        "html_url": f"https://github.com/{login}",
        "created_at": "2011-01-25T18:44:36Z",
    }


def github_event(n: int, login: str = "octocat") -> dict[str, Any]:
    """An event of GET /users/{login}/events."""
    return {
        "id": str(40000000000 + n),
        "type": "PushEvent",
        "public": True,
        "created_at": f"2026-11-28T1{n % 10}:00:00Z",
        "actor": {
            "id": 583231,
            "login": login,
            "display_login": login,
            "url": f"{GITHUB}/users/{login}",
            "avatar_url": "https://avatars.githubusercontent.com/u/583231",
        },
        "repo": {
            "id": 1296269,
            "name": f"{login}/Hello-World",
            "url": f"{GITHUB}/repos/{login}/Hello-World",
        },
        "payload": {
            "push_id": 10115855396 + n,
            "size": 1,
            "ref": "refs/heads/main",
            "head": f"{n:040x}",
            "before": f"{n + 1:040x}",
        },
    }


def github_repo(n: int, login: str = "octocat", stars: int = 80) -> dict[str, Any]:
    """A repository of GET /user/repos."""
    return {
        "id": 1296269 + n,
        "node_id": f"MDEwOlJlcG9zaXRvcnkx{n}",
        "name": f"repo-{n}",
        "full_name": f"{login}/repo-{n}",
        "private": False,
        "owner": {"login": login, "id": 583231},
        "html_url": f"https://github.com/{login}/repo-{n}",
        "fork": False,
        "stargazers_count": stars,
        "updated_at": "2026-11-27T10:00:00Z",
    }


def discord_guild(n: int) -> dict[str, Any]:
    """A MyGuildResponse."""
    return {
        "id": str(197038439483310086 + n),
        "name": f"Guild {n}",
        "icon": None,
        "owner": n == 0,
        "permissions": "2147483647",
        "features": ["COMMUNITY"],
        "approximate_member_count": None,
        "approximate_presence_count": None,
    }


def calendar_event(n: int, status: str = "confirmed") -> dict[str, Any]:
    """An Event resource."""
    return {
        "kind": "calendar#event",
        "etag": f'"{3181161784712000 + n}"',
        "id": f"evt{n:04d}",
        "status": status,
        "summary": f"Meeting {n}",
        "created": "2026-11-01T10:00:00.000Z",
        "updated": "2026-11-27T10:00:00.000Z",
        "start": {"dateTime": "2026-12-01T10:00:00Z"},
        "end": {"dateTime": "2026-12-01T11:00:00Z"},
        "iCalUID": f"evt{n:04d}@google.com",
        "sequence": 0,
    }


def calendar_page(
    events: list[dict[str, Any]], *, page_token: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    """An Events list page: nextPageToken, or nextSyncToken on the last page."""
    body: dict[str, Any] = {
        "kind": "calendar#events",
        "etag": '"p3"',
        "summary": "me@example.com",
        "updated": "2026-11-28T10:00:00.000Z",
        "timeZone": "UTC",
        "accessRole": "owner",
        "defaultReminders": [],
        "items": events,
    }
    if page_token:
        body["nextPageToken"] = page_token
    if sync_token:
        body["nextSyncToken"] = sync_token
    return body


def gmail_message(message_id: str, history_id: str = "1001") -> dict[str, Any]:
    """A Message resource in format=metadata."""
    return {
        "id": message_id,
        "threadId": f"t{message_id}",
        "labelIds": ["INBOX", "UNREAD"],
        "snippet": "Hello there",
        "historyId": history_id,
        "internalDate": "1764324000000",
        "sizeEstimate": 2048,
        "payload": {
            "mimeType": "multipart/alternative",
            "headers": [
                {"name": "From", "value": "a@example.com"},
                {"name": "Subject", "value": f"Message {message_id}"},
                {"name": "Date", "value": "Fri, 28 Nov 2026 10:00:00 +0000"},
            ],
        },
    }


def youtube_video(n: int) -> dict[str, Any]:
    """A Video resource with snippet and contentDetails."""
    return {
        "kind": "youtube#video",
        "etag": f"etag{n}",
        "id": f"dQw4w9WgX{n:02d}",
        "snippet": {
            "publishedAt": "2026-11-01T10:00:00Z",
            "channelId": "UCuAXFkgsw1L7xaCfnd5JJOw",
            "title": f"Video {n}",
            "description": "",
            "channelTitle": "Channel",
            "categoryId": "10",
            "liveBroadcastContent": "none",
        },
        "contentDetails": {
            "duration": "PT3M33S",
            "dimension": "2d",
            "definition": "hd",
            "caption": "false",
            "licensedContent": True,
            "projection": "rectangular",
        },
    }


def youtube_page(videos: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    """A VideoListResponse."""
    body: dict[str, Any] = {
        "kind": "youtube#videoListResponse",
        "etag": "list-etag",
        "pageInfo": {"totalResults": 500, "resultsPerPage": 50},
        "items": videos,
    }
    if next_token:
        body["nextPageToken"] = next_token
    return body


# -- what only the adapter tests answer with: Gmail's lists, error bodies, a local track -----------


def gmail_profile(history_id: str) -> dict[str, Any]:
    """A Profile (GET /users/me/profile)."""
    return {
        "emailAddress": "me@example.com",
        "messagesTotal": 3,
        "threadsTotal": 3,
        "historyId": history_id,
    }


def gmail_list(ids: list[str], next_token: str | None = None) -> dict[str, Any]:
    """A ListMessagesResponse: ids and thread ids only."""
    body: dict[str, Any] = {"resultSizeEstimate": len(ids)}
    if ids:
        body["messages"] = [{"id": i, "threadId": f"t{i}"} for i in ids]
    if next_token:
        body["nextPageToken"] = next_token
    return body


def gmail_history(
    records: list[tuple[str, list[str]]] | list[dict[str, Any]],
    history_id: str,
    next_token: str | None = None,
) -> dict[str, Any]:
    """A ListHistoryResponse: records are History objects (gmail_record), or (record id, ids of
    the messages it added)."""
    body: dict[str, Any] = {"historyId": history_id}
    if records:
        body["history"] = [
            r if isinstance(r, dict) else gmail_record(r[0], added=r[1]) for r in records
        ]
    if next_token:
        body["nextPageToken"] = next_token
    return body


def gmail_record(
    record_id: str,
    *,
    added: list[str] | None = None,
    deleted: list[str] | None = None,
    labels_added: dict[str, list[str]] | None = None,
    labels_removed: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A History record: messages added, deleted for good, and labels added or removed."""

    def message(m: str, labels: list[str] | None = None) -> dict[str, Any]:
        return {"id": m, "threadId": f"t{m}", **({"labelIds": labels} if labels else {})}

    changes: dict[str, Any] = {
        "messagesAdded": [{"message": message(m, ["INBOX", "UNREAD"])} for m in added or []],
        "messagesDeleted": [{"message": message(m)} for m in deleted or []],
        "labelsAdded": [
            {"message": message(m, ["INBOX", *ids]), "labelIds": ids}
            for m, ids in (labels_added or {}).items()
        ],
        "labelsRemoved": [
            {"message": message(m, ["INBOX"]), "labelIds": ids}
            for m, ids in (labels_removed or {}).items()
        ],
    }
    touched = [*(added or []), *(deleted or []), *(labels_added or {}), *(labels_removed or {})]
    record: dict[str, Any] = {"id": record_id, "messages": [message(m) for m in touched]}
    record.update({name: entries for name, entries in changes.items() if entries})
    return record


def google_error(code: int, message: str, reason: str, status: str) -> dict[str, Any]:
    """Google's JSON error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "usageLimits", "reason": reason}],
            "status": status,
        }
    }


def discord_rate_limited(retry_after: float) -> dict[str, Any]:
    """Discord's 429 body."""
    return {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}


def spotify_local_track(name: str) -> dict[str, Any]:
    """A TrackObject of a local file: no id, a spotify:local URI."""
    return {
        "album": {"album_type": None, "artists": [], "id": None, "name": "", "type": "album"},
        "artists": [{"id": None, "name": "Someone", "type": "artist", "uri": None}],
        "duration_ms": 180000,
        "explicit": False,
        "external_urls": {},
        "href": None,
        "id": None,
        "is_local": True,
        "name": name,
        "popularity": 0,
        "type": "track",
        "uri": f"spotify:local:Someone::{name}:180",
    }
