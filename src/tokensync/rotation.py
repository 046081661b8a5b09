"""`keys rotate`: re-encrypt every stored token with the primary key, a batch at a time.

Each batch commits on its own and only swaps ciphertexts that did not change meanwhile, so the
command is safe to interrupt, to re-run, and to run beside the jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokensync.crypto import Keyring, binding
from tokensync.errors import CryptoError
from tokensync.store import Connection, Store


@dataclass
class RotationResult:
    """Counts of a rotation, and the connections no key could open."""

    rotated: int = 0
    current: int = 0
    changed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def document(self, keys: int) -> dict[str, Any]:
        """The JSON document `keys rotate` prints."""
        return {
            "success": not self.failures,
            "keys": keys,
            "rotated": self.rotated,
            "alreadyCurrent": self.current,
            "changedMeanwhile": self.changed,
            "failed": len(self.failures),
            "failures": self.failures[:100],
        }


def rotate_keys(store: Store, keyring: Keyring, batch_size: int = 500) -> RotationResult:
    """Re-encrypt what the primary key does not already encrypt."""
    result, after = RotationResult(), 0
    while True:
        page = store.token_page(after, batch_size)
        updates = []
        for conn in page:
            update = _reencrypted(conn, keyring, result)
            if update is not None:
                updates.append(update)
        if updates:
            done = store.replace_ciphertexts(updates)
            result.rotated += done
            result.changed += len(updates) - done
        if len(page) < batch_size:
            return result
        after = page[-1].id


def _reencrypted(
    conn: Connection, keyring: Keyring, result: RotationResult
) -> tuple[int, str, str | None, str, str | None] | None:
    columns = [("access", conn.access_token_enc), ("refresh", conn.refresh_token_enc)]
    if all(value is None or keyring.is_current(value) for _, value in columns):
        result.current += 1
        return None
    try:
        access, refresh = (
            keyring.reencrypt(value, binding(conn.user_id, conn.platform, column), conn.label)
            if value is not None
            else None
            for column, value in columns
        )
    except CryptoError as exc:
        result.failures.append(
            {
                "connectionId": conn.id,
                "userId": conn.user_id,
                "platform": conn.platform,
                "error": {"code": exc.code, "message": exc.message},
            }
        )
        return None
    assert access is not None
    return (conn.id, conn.access_token_enc, conn.refresh_token_enc, access, refresh)
