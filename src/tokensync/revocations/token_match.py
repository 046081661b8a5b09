"""Which connection holds the refresh token a `token-revoked` event names.

First from the keyed digests stored beside the refresh tokens (token_digests.py): the event's
identifier under each configured key, looked up in an index, kept when the digest was written
for the grant the row holds. Then the rows whose digests are unknown (a token another program
wrote, one refreshed into a new one, one under a key no longer configured) are read themselves,
a page at a time, and their digests written for the next time: only those rows are decrypted.
"""

from __future__ import annotations

from tokensync.crypto import binding
from tokensync.errors import CryptoError
from tokensync.revocations.notice import TokenRevocation
from tokensync.runtime.deps import Deps
from tokensync.store.revocations import GrantRevocation
from tokensync.token_digests import DigestKeys, identifies

_PAGE = 500


async def revoked_grants(deps: Deps, token: TokenRevocation) -> list[GrantRevocation]:
    """The connections (and the grant each holds) whose refresh token the event names."""
    keyring = deps.require_keyring()
    keys = DigestKeys(keyring.secrets)
    db = deps.db
    digests = keys.candidates(token.identifier)
    found = await db.call(db.store.find_refresh_digests, token.algorithm, digests, token.platforms)
    matched = {conn_id: generation for conn_id, generation in found}
    after = 0
    while True:
        page = await db.call(
            db.store.undigested_refresh_tokens, token.platforms, keys.fingerprints, after, _PAGE
        )
        for conn in page:
            assert conn.refresh_token_enc is not None
            try:
                refresh = keyring.decrypt(
                    conn.refresh_token_enc,
                    binding(conn.user_id, conn.platform, "refresh"),
                    conn.label,
                )
            except CryptoError:
                continue  # a token no key opens names no grant this run can tell
            await db.call(db.store.note_refresh_digests, conn, keys.of_token(refresh))
            if identifies(token.algorithm, token.identifier, refresh):
                matched[conn.id] = conn.grant_generation
        if len(page) < _PAGE:
            break
        after = page[-1].id
    return [GrantRevocation(i, g, token.reason) for i, g in sorted(matched.items())]
