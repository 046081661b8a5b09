"""What a platform is to tokensync, and the six built-in ones as docs/platforms.md documents them.

One description serves both: a built-in platform is a Platform with its defaults and without
credentials; settings/platform_tables.py fills in the configuration (credentials, overrides)
with `replace`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# How a platform revokes a grant (docs/platforms.md, each platform's Revocation): Google's own
# endpoint, RFC 7009, or GitHub's grant deletion; None: the platform offers no way (Spotify), or
# none is configured.
REVOCATION_KINDS = ("google", "rfc7009", "github")
# Requests in flight: per run (settings.concurrency) and per platform (Platform.concurrency).
DEFAULT_CONCURRENCY = 64
# Seconds a token lives when a refresh answer has no expires_in and the platform sets none.
DEFAULT_EXPIRES_IN = 3600
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"


@dataclass(frozen=True)
class Platform:
    """One platform's token endpoint, API base, credentials and limits."""

    name: str
    token_url: str
    api_base: str | None
    auth_method: str = "client_secret_post"
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    # The prefix of the environment variables tried after the platform's own (GOOGLE).
    credentials_fallback: str | None = None
    # Seconds assumed when a refresh answer has no expires_in; None: the token never expires.
    default_expires_in: int | None = DEFAULT_EXPIRES_IN
    concurrency: int = DEFAULT_CONCURRENCY
    revocation: str | None = None  # one of REVOCATION_KINDS
    # Where a grant is revoked; GitHub's endpoint is built from api_base and the client id.
    revocation_url: str | None = None
    # Why a grant cannot be revoked here, for the disconnect receipt (Spotify: where the user
    # removes the app instead).
    no_revocation: str | None = None
    # A grant's documented lifetime from the user's authorization, which refreshing does not
    # extend (Spotify: six months); None: no such rule.
    grant_lifetime_months: int | None = None
    # Whether the tokens a refresh of a superseded grant returned (the application wrote a newer
    # grant meanwhile) are revoked. Only where revoking them ends that older grant alone: Google,
    # Discord and GitHub end every grant of the user for the app, the new one included.
    revoke_superseded: bool = False

    @property
    def issued_by_google(self) -> bool:
        """Whether Google issues this platform's grants (its OpenID `sub` names the account)."""
        return self.token_url == GOOGLE_TOKEN_URL

    @property
    def has_credentials(self) -> bool:
        """Whether both halves of the client credentials are configured."""
        return bool(self.client_id and self.client_secret)

    def grant_end(self, authorized_at: datetime) -> datetime | None:
        """When a grant authorised at `authorized_at` ends by the platform's rule (None: no
        rule): the same day of the month that many months later, or that month's last day."""
        if self.grant_lifetime_months is None:
            return None
        months = authorized_at.month - 1 + self.grant_lifetime_months
        year, month = authorized_at.year + months // 12, months % 12 + 1
        day = min(authorized_at.day, calendar.monthrange(year, month)[1])
        return authorized_at.replace(year=year, month=month, day=day)


# Why a platform's superseded tokens are not revoked by default (the refresh document says so).
USER_WIDE_REVOCATION = (
    "its revocation ends every grant of the user for this app, the newer one included; the "
    "older grant's tokens were not stored, and are not revoked"
)


def credential_variables(name: str) -> str:
    """The environment variables that give a platform's client credentials, as a message
    names them (a Google platform's shared TOKENSYNC_GOOGLE_* too)."""
    own = f"TOKENSYNC_{name.upper()}_CLIENT_ID and TOKENSYNC_{name.upper()}_CLIENT_SECRET"
    builtin = BUILTIN_PLATFORMS.get(name)
    fallback = builtin.credentials_fallback if builtin is not None else None
    shared = f"TOKENSYNC_{fallback}_CLIENT_ID and TOKENSYNC_{fallback}_CLIENT_SECRET"
    return f"{own} (or {shared})" if fallback else own


def _google(name: str, api_base: str) -> Platform:
    return Platform(
        name=name,
        token_url=GOOGLE_TOKEN_URL,
        api_base=api_base,
        credentials_fallback="GOOGLE",
        revocation="google",
        revocation_url=GOOGLE_REVOKE_URL,
    )


BUILTIN_PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            name="spotify",
            token_url="https://accounts.spotify.com/api/token",
            api_base="https://api.spotify.com/v1",
            auth_method="client_secret_basic",
            no_revocation="Spotify has no revocation endpoint: the user removes the app at "
            "https://www.spotify.com/account/apps (an access token keeps working until it "
            "expires, within the hour)",
            # developer.spotify.com, "Refreshing tokens": six months from the authorization, not
            # extended by refreshing (from 2026-07-20 for apps registered before 2026-06-18).
            grant_lifetime_months=6,
        ),
        _google("youtube", "https://www.googleapis.com/youtube/v3"),
        _google("google_gmail", "https://gmail.googleapis.com/gmail/v1"),
        _google("google_calendar", "https://www.googleapis.com/calendar/v3"),
        Platform(
            name="github",
            token_url="https://github.com/login/oauth/access_token",
            api_base="https://api.github.com",
            # Classic OAuth App tokens carry no expires_in and never expire.
            default_expires_in=None,
            revocation="github",
        ),
        Platform(
            name="discord",
            token_url="https://discord.com/api/oauth2/token",
            api_base="https://discord.com/api/v10",
            revocation="rfc7009",
            revocation_url="https://discord.com/api/oauth2/token/revoke",
        ),
    )
}
