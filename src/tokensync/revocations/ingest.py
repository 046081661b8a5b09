"""`revocations ingest`: one delivery verified by its source, then applied once.

Nothing is written before the delivery is verified: an unverified one raises (exit 2) with the
database untouched. A verified one is applied in one transaction (store/revocations.py): the
delivery's id remembered, each account's connections revoked, connection.revoked said for each.
The same delivery again finds its id remembered and changes nothing (`replayed`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tokensync.errors import EXIT_OK, UsageError
from tokensync.revocations import github, google_risc
from tokensync.revocations.delivery import Delivery
from tokensync.revocations.notice import Notice
from tokensync.revocations.token_match import revoked_grants
from tokensync.runtime.deps import Deps
from tokensync.store.revocations import RevokedConnection

SOURCES = (github.SOURCE, google_risc.SOURCE)


@dataclass(frozen=True)
class Ingestion:
    """What one delivery did."""

    source: str
    delivery_id: str
    event: str
    accounts: int  # accounts (and refresh tokens) the delivery revokes
    replayed: bool  # applied before: nothing changed now
    revoked: tuple[RevokedConnection, ...] = ()
    unknown_accounts: int = 0  # accounts (tokens) no connection holds: acknowledged

    @property
    def success(self) -> bool:
        """Always: a failure is raised, not returned."""
        return True

    def log_fields(self) -> dict[str, object]:
        """What a -v log line says of it: ids and counts, never a user id or a token."""
        return {
            "source": self.source,
            "event": self.event,
            "replayed": self.replayed,
            "revoked": len(self.revoked),
            "unknownAccounts": self.unknown_accounts,
        }

    @property
    def exit_code(self) -> int:
        """0: this result exists only when the command succeeded (Concluded)."""
        return EXIT_OK


async def ingest_revocation(deps: Deps, source: str, delivery: Delivery) -> Ingestion:
    """Verify `delivery` as `source` says, then apply what it says, once."""
    notice = await verified_notice(deps, source, delivery)
    grants = []
    unmatched = 0  # refresh tokens no connection holds: acknowledged, like unknown accounts
    for token in notice.tokens:
        found = await revoked_grants(deps, token)
        unmatched += not found
        grants += found
    db = deps.db
    applied = await db.call(
        db.store.apply_revocation,
        notice.source,
        notice.delivery_id,
        notice.accounts,
        deps.clock.now(),
        grants,
    )
    accounts = len(notice.accounts) + len(notice.tokens)
    if applied is None:
        return Ingestion(notice.source, notice.delivery_id, notice.event, accounts, replayed=True)
    return Ingestion(
        notice.source,
        notice.delivery_id,
        notice.event,
        accounts,
        replayed=False,
        revoked=applied.revoked,
        unknown_accounts=applied.unknown_accounts + unmatched,
    )


async def verified_notice(deps: Deps, source: str, delivery: Delivery) -> Notice:
    """The delivery verified and read by its source; raises when it does not verify."""
    settings = deps.settings
    if source == github.SOURCE:
        secret = settings.revocations.github_webhook_secret
        return github.github_notice(delivery, secret, settings.platforms)
    if source == google_risc.SOURCE:
        return await google_risc.google_notice(deps, delivery)
    raise UsageError(f"unknown source {source!r} (known: {', '.join(SOURCES)})")
