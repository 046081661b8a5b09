"""The settings of `revocations ingest`: GitHub's webhook secret (TOKENSYNC_GITHUB_WEBHOOK_SECRET,
from the environment like every secret), and Google's RISC receiver (`google_risc_audience`, the
client ids a security event token must be addressed to; `google_risc_jwks_url`, where its keys
are) from the config file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokensync.errors import ConfigError
from tokensync.settings.values import check_url

# Where Google's RISC configuration (https://accounts.google.com/.well-known/risc-configuration)
# says its signing keys are.
GOOGLE_RISC_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_RISC_ISSUER = "https://accounts.google.com/"
# A webhook secret shorter than this is no secret (GitHub's own are 20 random bytes or more).
_SHORTEST_SECRET = 16


@dataclass(frozen=True)
class RevocationSources:
    """Where pushed revocations come from, and how each is verified."""

    github_webhook_secret: str | None = field(default=None, repr=False)
    google_risc_audience: tuple[str, ...] = ()
    google_risc_jwks_url: str = GOOGLE_RISC_JWKS_URL
    google_risc_issuer: str = GOOGLE_RISC_ISSUER


def revocation_sources(doc: Mapping[str, Any], env: Mapping[str, str]) -> RevocationSources:
    """Read and check the settings (the config file's `google_risc_*`, the environment's
    secret); a bad one raises ConfigError naming it, never echoing the secret."""
    secret = env.get("TOKENSYNC_GITHUB_WEBHOOK_SECRET") or None
    if secret is not None and len(secret.strip()) < _SHORTEST_SECRET:
        raise ConfigError(
            f"TOKENSYNC_GITHUB_WEBHOOK_SECRET is shorter than {_SHORTEST_SECRET} characters: "
            "give the GitHub App's webhook secret"
        )
    audience = doc.get("google_risc_audience", [])
    if isinstance(audience, str):
        audience = [audience]
    if not isinstance(audience, list) or not all(
        isinstance(a, str) and a.strip() for a in audience
    ):
        raise ConfigError("google_risc_audience must be a client id or a list of client ids")
    url = doc.get("google_risc_jwks_url", GOOGLE_RISC_JWKS_URL)
    if not isinstance(url, str):
        raise ConfigError("google_risc_jwks_url must be a string")
    return RevocationSources(
        github_webhook_secret=secret.strip() if secret else None,
        google_risc_audience=tuple(a.strip() for a in audience),
        google_risc_jwks_url=check_url(url, "google_risc_jwks_url"),
    )
