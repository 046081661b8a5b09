"""The registry of polling adapters: which endpoints each built-in platform polls.

The adapters import the API client and the endpoint types; nothing there imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tokensync.platforms.catalog import Platform
from tokensync.platforms.discord import UserGuilds
from tokensync.platforms.endpoint import Endpoint
from tokensync.platforms.github import Events, Repos
from tokensync.platforms.google import CalendarEvents, GmailMessages
from tokensync.platforms.spotify import RecentlyPlayed, TopTracks
from tokensync.platforms.youtube import LikedVideos

ENDPOINTS: Mapping[str, Sequence[Endpoint]] = {
    "spotify": (RecentlyPlayed(), TopTracks()),
    "youtube": (LikedVideos(),),
    "github": (Events(), Repos()),
    "discord": (UserGuilds(),),
    "google_gmail": (GmailMessages(),),
    "google_calendar": (CalendarEvents(),),
}


def endpoints_for(platform: str) -> Sequence[Endpoint]:
    """The polling adapters of a platform (none for custom platforms)."""
    return ENDPOINTS.get(platform, ())


def pollable_platforms(platforms: Mapping[str, Platform]) -> list[str]:
    """The configured platforms that have polling adapters and an API base."""
    return [name for name, p in platforms.items() if p.api_base and endpoints_for(name)]
