"""Payloads for the adapter tests: the shapes from bench, plus Google extras and error bodies."""

from __future__ import annotations

from typing import Any

from bench.payloads import (
    CALENDAR,
    DISCORD,
    GITHUB,
    GMAIL,
    SPOTIFY,
    YOUTUBE,
    calendar_event,
    calendar_page,
    discord_guild,
    github_event,
    github_repo,
    github_user,
    gmail_message,
    spotify_recently_played,
    spotify_top_tracks,
    spotify_track,
    youtube_page,
    youtube_video,
)

__all__ = [
    "CALENDAR",
    "DISCORD",
    "GITHUB",
    "GMAIL",
    "SPOTIFY",
    "YOUTUBE",
    "calendar_event",
    "calendar_page",
    "discord_guild",
    "discord_rate_limited",
    "github_event",
    "github_repo",
    "github_user",
    "gmail_history",
    "gmail_list",
    "gmail_message",
    "gmail_profile",
    "google_error",
    "spotify_local_track",
    "spotify_recently_played",
    "spotify_top_tracks",
    "spotify_track",
    "youtube_page",
    "youtube_video",
]


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
    records: list[tuple[str, list[str]]], history_id: str, next_token: str | None = None
) -> dict[str, Any]:
    """A ListHistoryResponse: records are (record id, ids of the messages it added)."""
    body: dict[str, Any] = {"historyId": history_id}
    if records:
        body["history"] = [
            {
                "id": record_id,
                "messages": [{"id": m, "threadId": f"t{m}"} for m in added],
                "messagesAdded": [
                    {"message": {"id": m, "threadId": f"t{m}", "labelIds": ["INBOX", "UNREAD"]}}
                    for m in added
                ],
            }
            for record_id, added in records
        ]
    if next_token:
        body["nextPageToken"] = next_token
    return body


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
