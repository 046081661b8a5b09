"""The collaborators a job run receives, built once by tokensync.bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import httpx

from tokensync.crypto import Keyring
from tokensync.errors import ConfigError
from tokensync.redaction import NO_SECRETS, Secrets
from tokensync.runtime.async_store import AsyncStore
from tokensync.runtime.clock import Clock
from tokensync.runtime.limits import PlatformLimits
from tokensync.runtime.reportable import Reportable
from tokensync.settings import Settings
from tokensync.store.spool import Spool


def _ignore(item: Reportable) -> None:
    """The progress callback of a run nobody watches."""


@dataclass(frozen=True)
class Deps:
    """Everything a job works with; nothing else is reached for."""

    settings: Settings
    db: AsyncStore
    http: httpx.AsyncClient
    spool: Spool
    clock: Clock
    owner: str  # this run's id, and the owner of the leases it takes
    keyring: Keyring | None = None  # None for a dry run, which decrypts nothing
    limits: PlatformLimits = field(default_factory=PlatformLimits)
    progress: Callable[[Reportable], None] = _ignore

    @cached_property
    def secrets(self) -> Secrets:
        """Every configured secret and loaded key: what no answer of the other side may echo
        into a message (each request adds its own tokens)."""
        keys = self.keyring.secrets if self.keyring is not None else ()
        return NO_SECRETS.plus(*self.settings.secrets, *keys)

    def require_keyring(self) -> Keyring:
        """The keyring, which every run that touches tokens has."""
        if self.keyring is None:
            raise ConfigError("this run needs the encryption keys, and none were loaded")
        return self.keyring
