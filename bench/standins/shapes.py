"""Objects of the platforms' real shapes, deterministic per user number and index."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

SPOTIFY = "https://api.spotify.com/v1"
GITHUB = "https://api.github.com"
NOW_MS = 1_795_852_800_000  # 2026-11-28T08:00:00Z: the newest play, event or push
TRACKS = 500
SENTINEL = 7_777_777_777_777  # stands for the user in JSON templates; user numbers are shorter
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def iso(ms: int, millis: bool = False) -> str:
    """An ISO 8601 UTC timestamp ending in Z."""
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    if millis:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def spotify_id(kind: str, n: int) -> str:
    """A 22-character base62 Spotify id."""
    value = int.from_bytes(hashlib.blake2b(f"{kind}{n}".encode(), digest_size=17).digest())
    chars = []
    for _ in range(22):
        value, digit = divmod(value, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def _spotify_ref(kind: str, object_id: str, name: str) -> dict[str, Any]:
    return {
        "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{object_id}"},
        "href": f"{SPOTIFY}/{kind}s/{object_id}",
        "id": object_id,
        "name": name,
        "type": kind,
        "uri": f"spotify:{kind}:{object_id}",
    }


@lru_cache(maxsize=TRACKS)
def spotify_track(n: int) -> dict[str, Any]:
    """A TrackObject (one of TRACKS; callers must not mutate it)."""
    track_id = spotify_id("track", n)
    artist = _spotify_ref("artist", spotify_id("artist", n % 40), f"Artist {n % 40}")
    album = _spotify_ref("album", spotify_id("album", n // 10), f"Album {n // 10}")
    return {
        "album": {
            "album_type": "album",
            "total_tracks": 10,
            "available_markets": ["GB", "US", "DE"],
            **album,
            "images": [
                {
                    "url": f"https://i.scdn.co/image/ab67616d0000b273{n:024x}",
                    "height": 640,
                    "width": 640,
                }
            ],
            "release_date": f"20{10 + n % 16:02d}-0{1 + n % 9}-1{n % 10}",
            "release_date_precision": "day",
            "artists": [artist],
        },
        "artists": [artist],
        "available_markets": ["GB", "US", "DE"],
        "disc_number": 1,
        "duration_ms": 150_000 + (n * 7919) % 150_000,
        "explicit": n % 7 == 0,
        "external_ids": {"isrc": f"USUM7{n:07d}"},
        **_spotify_ref("track", track_id, f"Track {n}"),
        "is_playable": True,
        "popularity": n % 100,
        "preview_url": None,
        "track_number": n % 10 + 1,
        "is_local": False,
    }


def dumps(value: Any) -> str:
    """Compact JSON."""
    return json.dumps(value, separators=(",", ":"))


def spotify_played_ms(user: int, index: int) -> int:
    """When the user's play `index` (0 is the newest) happened, in ms."""
    return NOW_MS - (user % 600) * 1000 - index * 211_000


def _spotify_context(playlist_number: int) -> dict[str, Any]:
    playlist = spotify_id("playlist", playlist_number)
    return {
        "type": "playlist",
        "href": f"{SPOTIFY}/playlists/{playlist}",
        "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist}"},
        "uri": f"spotify:playlist:{playlist}",
    }


def spotify_play(user: int, index: int) -> dict[str, Any]:
    """The user's play `index` as a PlayHistoryObject."""
    return {
        "track": spotify_track((user * 31 + index * 7) % TRACKS),
        "played_at": iso(spotify_played_ms(user, index), millis=True),
        "context": _spotify_context(user % 1000),
    }


@lru_cache(maxsize=TRACKS)
def spotify_track_json(n: int) -> str:
    """spotify_track(n) as JSON, cached: pages are assembled from these."""
    return dumps(spotify_track(n))


@lru_cache(maxsize=1000)
def _spotify_context_json(playlist_number: int) -> str:
    return dumps(_spotify_context(playlist_number))


def spotify_play_json(user: int, index: int) -> str:
    """spotify_play(user, index) as JSON, without serializing the track again."""
    track = spotify_track_json((user * 31 + index * 7) % TRACKS)
    played_at = iso(spotify_played_ms(user, index), millis=True)
    context = _spotify_context_json(user % 1000)
    return f'{{"track":{track},"played_at":"{played_at}","context":{context}}}'


def spotify_top_track_number(user: int, index: int) -> int:
    """Which track is the user's top track at rank index + 1 (distinct among the first TRACKS)."""
    return (user * 13 + index) % TRACKS


def github_login(user: int) -> str:
    """The login of the user with this number."""
    return f"user{user}"


def _github_owner(login: str, user: int) -> dict[str, Any]:
    return {
        "login": login,
        "id": user,
        "node_id": f"MDQ6VXNlcj{user}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user}?v=4",
        "gravatar_id": "",
        "url": f"{GITHUB}/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": "User",
        "site_admin": False,
    }


def github_user(user: int, repos: int) -> dict[str, Any]:
    """The authenticated user (GET /user)."""
    login = github_login(user)
    return {
        **_github_owner(login, user),
        "name": f"User {user}",
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "bio": None,
        "public_repos": repos,
        "public_gists": 0,
        "followers": 12,
        "following": 3,
        "created_at": "2015-03-01T10:00:00Z",
        "updated_at": iso(NOW_MS),
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "two_factor_authentication": True,
    }


def github_repo(user: int, index: int) -> dict[str, Any]:
    """The user's repository `index` (0 is the most recently updated; index < 1000)."""
    login = github_login(user)
    name = f"repo-{index}"
    updated = iso(NOW_MS - index * 86_400_000)
    return {
        "id": int(f"{user}{index:03d}"),
        "node_id": f"R_kgDO{user}x{index}",
        "name": name,
        "full_name": f"{login}/{name}",
        "private": index % 5 == 0,
        "owner": _github_owner(login, user),
        "html_url": f"https://github.com/{login}/{name}",
        "description": f"Repository {index} of {login}",
        "fork": index % 4 == 3,
        "url": f"{GITHUB}/repos/{login}/{name}",
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": updated,
        "pushed_at": updated,
        "stargazers_count": index * 37 % 300,
        "watchers_count": index * 37 % 300,
        "language": ("Python", "Go", "Rust", None)[index % 4],
        "forks_count": index % 9,
        "open_issues_count": index % 6,
        "default_branch": "main",
        "visibility": "private" if index % 5 == 0 else "public",
        "permissions": {"admin": True, "push": True, "pull": True},
    }


def github_event(user: int, index: int) -> dict[str, Any]:
    """The user's event `index` (0 is the newest; index < 1000)."""
    login = github_login(user)
    repo = github_repo(user, index % 7)
    created = iso(NOW_MS - index * 3_600_000)
    event: dict[str, Any] = {
        "id": f"4{user}{999 - index:03d}",
        "type": ("PushEvent", "WatchEvent", "CreateEvent")[index % 3],
        "actor": {
            key: _github_owner(login, user)[key]
            for key in ("id", "login", "gravatar_id", "url", "avatar_url")
        }
        | {"display_login": login},
        "repo": {"id": repo["id"], "name": repo["full_name"], "url": repo["url"]},
        "public": not repo["private"],
        "created_at": created,
    }
    if event["type"] == "PushEvent":
        head = hashlib.sha1(f"{index}".encode(), usedforsecurity=False).hexdigest()
        event["payload"] = {
            "repository_id": repo["id"],
            "push_id": int(f"2{user}{index:03d}"),
            "size": 1,
            "distinct_size": 1,
            "ref": "refs/heads/main",
            "head": head,
            "before": hashlib.sha1(head.encode(), usedforsecurity=False).hexdigest(),
        }
    elif event["type"] == "WatchEvent":
        event["payload"] = {"action": "started"}
    else:
        event["payload"] = {
            "ref": f"v1.{index}",
            "ref_type": "tag",
            "master_branch": "main",
            "description": repo["description"],
            "pusher_type": "user",
        }
    return event


@lru_cache(maxsize=2048)
def _github_template(kind: str, index: int) -> str:
    return dumps((github_repo if kind == "repo" else github_event)(SENTINEL, index))


def github_json(kind: str, user: int, indices: range) -> str:
    """A JSON array of the user's repos or events ("repo" or "event") by index.

    The builders use the user only as text (str(user)), so a template built once per index
    is filled in by replacing SENTINEL: much cheaper than serializing each page.
    """
    text = "[" + ",".join(_github_template(kind, index) for index in indices) + "]"
    return text.replace(str(SENTINEL), str(user))


def discord_guild(user: int, index: int, with_counts: bool) -> dict[str, Any]:
    """One of the user's guilds (MyGuildResponse); ids ascend with `index`."""
    number = (user * 7 + index) % 5000
    guild: dict[str, Any] = {
        "id": str(81_384_788_765_712_384 + index * 4_194_304_000 + user % 4_194_304),
        "name": f"Guild {number}",
        "icon": f"{number:032x}" if index % 3 else None,
        "banner": None,
        "owner": index == 0,
        "permissions": "2248473465835073" if index == 0 else "1071698660929",
        "features": ["COMMUNITY", "NEWS"] if index % 4 == 0 else [],
    }
    if with_counts:
        guild["approximate_member_count"] = 10 + number * 3
        guild["approximate_presence_count"] = 1 + number
    return guild
