"""The six built-in platforms' token endpoints and API bases, as PLATFORMS.md documents them."""

from __future__ import annotations

from dataclasses import dataclass

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class BuiltinPlatform:
    """What tokensync knows about a platform before any configuration."""

    token_url: str
    api_base: str
    auth_method: str
    credentials_fallback: str | None = None
    # Seconds assumed when a refresh answer has no expires_in; None: the token never expires.
    default_expires_in: int | None = 3600
    concurrency: int = 64


BUILTIN_PLATFORMS: dict[str, BuiltinPlatform] = {
    "spotify": BuiltinPlatform(
        token_url="https://accounts.spotify.com/api/token",
        api_base="https://api.spotify.com/v1",
        auth_method="client_secret_basic",
    ),
    "youtube": BuiltinPlatform(
        token_url=GOOGLE_TOKEN_URL,
        api_base="https://www.googleapis.com/youtube/v3",
        auth_method="client_secret_post",
        credentials_fallback="GOOGLE",
    ),
    "google_gmail": BuiltinPlatform(
        token_url=GOOGLE_TOKEN_URL,
        api_base="https://gmail.googleapis.com/gmail/v1",
        auth_method="client_secret_post",
        credentials_fallback="GOOGLE",
    ),
    "google_calendar": BuiltinPlatform(
        token_url=GOOGLE_TOKEN_URL,
        api_base="https://www.googleapis.com/calendar/v3",
        auth_method="client_secret_post",
        credentials_fallback="GOOGLE",
    ),
    "github": BuiltinPlatform(
        token_url="https://github.com/login/oauth/access_token",
        api_base="https://api.github.com",
        auth_method="client_secret_post",
        # Classic OAuth App tokens carry no expires_in and never expire.
        default_expires_in=None,
    ),
    "discord": BuiltinPlatform(
        token_url="https://discord.com/api/oauth2/token",
        api_base="https://discord.com/api/v10",
        auth_method="client_secret_post",
    ),
}
