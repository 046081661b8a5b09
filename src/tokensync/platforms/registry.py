"""Which endpoints each built-in platform polls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tokensync.platforms.base import Endpoint
from tokensync.platforms.discord import UserGuilds
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
