"""Grants replaced cleanly: when an import or save_grant replaces a connection's grant with
another, the old grant is revoked at the provider, after the new one is stored.

The import writes each replaced grant's tokens to replaced_grants in its own transaction
(store/importing.py), on the platforms whose revocation ends that grant alone
(`revoke_superseded`: Google, Discord and GitHub end every grant of the user for the app, the new
one included, so theirs are never recorded). Once it has committed, `revoke_replaced` revokes
them, best effort: an attempt the provider fails is retried by the next job run (backing off from
a minute to six hours), for three days; a grant imported again (the same refresh token) is not
revoked at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from tokensync.crypto import binding
from tokensync.errors import CryptoError, PermanentError, ProviderError
from tokensync.oauth.revocation import decrypted_grant, revoke
from tokensync.platforms.catalog import Platform
from tokensync.runtime.deps import Deps
from tokensync.store.models import OldGrant, OldGrants
from tokensync.store.replaced import ReplacedGrant

GIVE_UP_AFTER = timedelta(days=3)
_FIRST_WAIT, _LONGEST_WAIT = timedelta(minutes=1), timedelta(hours=6)
_BATCH = 200


def revocable_alone(platforms: Mapping[str, Platform]) -> list[str]:
    """The platforms whose replaced grants are recorded: revoking one ends that grant alone."""
    return [n for n, p in platforms.items() if p.revoke_superseded and p.revocation]


async def revoke_replaced(deps: Deps, connections: Sequence[int] | None = None) -> OldGrants:
    """Revoke the replaced grants due now (of these connections; None: all); never raises for
    a provider's failure, which leaves the grant for a later attempt."""
    db = deps.db
    now = deps.clock.now()
    due = await db.call(db.store.due_replaced_grants, now, _BATCH, connections)
    revoked: list[OldGrant] = []
    pending: list[OldGrant] = []
    dropped: list[OldGrant] = []
    for grant in due:
        outcome, reason = await _attempt(deps, grant)
        named = OldGrant(grant.connection_id, grant.user_id, grant.platform, outcome == "revoked")
        if outcome == "revoked":
            revoked.append(named)
            await db.call(db.store.drop_replaced_grant, grant.id)
        elif outcome == "failed" and now - grant.replaced_at < GIVE_UP_AFTER:
            wait = min(_FIRST_WAIT * 2**grant.attempts, _LONGEST_WAIT)
            await db.call(db.store.replaced_grant_failed, grant.id, now + wait, reason)
            pending.append(_with(named, f"{reason}; retried by the next job run"))
        else:
            dropped.append(_with(named, reason))
            await db.call(db.store.drop_replaced_grant, grant.id)
    return OldGrants(tuple(revoked), tuple(pending), tuple(dropped))


async def _attempt(deps: Deps, grant: ReplacedGrant) -> tuple[str, str]:
    """("revoked" | "failed" | "dropped", why)."""
    platform = deps.settings.platforms.get(grant.platform)
    if platform is None or not platform.revoke_superseded or platform.revocation is None:
        return "dropped", f"{grant.platform} is not a platform whose grants are revoked alone now"
    label = f"connection {grant.connection_id} ({grant.platform}, user {grant.user_id})"
    keyring = deps.require_keyring()
    try:
        old = decrypted_grant(
            keyring,
            grant.user_id,
            grant.platform,
            grant.access_token_enc,
            grant.refresh_token_enc,
            label,
        )
    except CryptoError as exc:
        return "dropped", exc.message
    if await _same_grant(deps, grant, old.refresh_token):
        return "dropped", "the same grant was imported again: nothing to revoke"
    try:
        await revoke(
            deps.http, platform, old, timeout=deps.settings.request_timeout, secrets=deps.secrets
        )
    except PermanentError:
        return "revoked", ""  # the provider says the token is dead already: the grant is ended
    except ProviderError as exc:
        return "failed", f"the revocation failed ({exc.code})"
    return "revoked", ""


async def _same_grant(deps: Deps, grant: ReplacedGrant, old_refresh: str | None) -> bool:
    """Whether the connection holds the very refresh token replaced (a line imported twice)."""
    conn = await deps.db.call(deps.db.store.get_connection, grant.connection_id)
    if conn is None or conn.refresh_token_enc is None or old_refresh is None:
        return False
    try:
        current = deps.require_keyring().decrypt(
            conn.refresh_token_enc, binding(conn.user_id, conn.platform, "refresh"), conn.label
        )
    except CryptoError:
        return False
    return current == old_refresh


def _with(grant: OldGrant, reason: str) -> OldGrant:
    return OldGrant(grant.connection_id, grant.user_id, grant.platform, grant.revoked, reason)
