"""Token sets spooled by a run that lost the database, stored first by the next run or command that
refreshes (a refresh must never present a refresh token the spool has replaced)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tokensync.errors import CryptoError
from tokensync.oauth.revocation import decrypted_grant
from tokensync.refresh.storing import revoke_superseded
from tokensync.runtime.deps import Deps
from tokensync.store.spool import SpoolEntry


@dataclass(frozen=True)
class SpoolReport:
    """What applying the spool did: token sets stored, and those of grants the application
    replaced since (revoked where the platform allows, never stored)."""

    applied: int = 0
    superseded: int = 0


async def apply_spool(deps: Deps) -> SpoolReport:
    """Store the token sets a previous run could not."""
    db, applied, superseded = deps.db, 0, 0
    for path, entry in deps.spool.pending():
        became = await db.call(
            db.store.apply_spooled,
            entry.connection_id,
            entry.user_id,
            entry.platform,
            access_token_enc=entry.access_token_enc,
            refresh_token_enc=entry.refresh_token_enc,
            expires_at=datetime.fromisoformat(entry.expires_at) if entry.expires_at else None,
            issued_at=datetime.fromisoformat(entry.issued_at),
            now=deps.clock.now(),
            grant_generation=entry.grant_generation,
        )
        if became == "superseded":
            superseded += 1
            await _revoke_spooled(deps, entry)
        applied += became == "applied"
        deps.spool.done(path)
    return SpoolReport(applied, superseded)


async def _revoke_spooled(deps: Deps, entry: SpoolEntry) -> None:
    """The spooled tokens of a replaced grant: revoked where the platform allows (their fate is
    counted in the document, not itemised: the run that spooled them reported the row)."""
    platform = deps.settings.platforms.get(entry.platform)
    if platform is None or not platform.revoke_superseded or entry.refresh_token_enc is None:
        return
    try:
        grant = decrypted_grant(
            deps.require_keyring(),
            entry.user_id,
            entry.platform,
            entry.access_token_enc,
            entry.refresh_token_enc,
            "a spooled token set",
        )
    except CryptoError:
        return  # a key since removed: nothing can be presented
    await revoke_superseded(deps, platform, grant)
