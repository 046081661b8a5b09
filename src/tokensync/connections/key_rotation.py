"""`keys rotate`: re-encrypt every stored token with the primary key, a batch at a time.

Each batch commits on its own and only swaps ciphertexts that did not change meanwhile, so the
command is safe to interrupt, to re-run, and to run beside the jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tokensync.crypto import Keyring, binding
from tokensync.errors import CryptoError, exit_code_of
from tokensync.store import Connection, Store


@dataclass
class RotationResult:
    """Counts of a rotation, and the connections no key could open."""

    keys: int
    rotated: int = 0
    current: int = 0
    changed: int = 0
    failures: list[tuple[Connection, CryptoError]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """Every stored token is now encrypted with the primary key."""
        return not self.failures

    @property
    def exit_code(self) -> int:
        """1 when something failed (Concluded)."""
        return exit_code_of(self.success)


def rotate_keys(
    store: Store,
    keyring: Keyring,
    batch_size: int = 500,
    progress: Callable[[int], None] = lambda rows: None,
) -> RotationResult:
    """Re-encrypt what the primary key does not already encrypt; `progress` is told the count
    of connections read so far, a page at a time."""
    result, after, read = RotationResult(keys=keyring.size), 0, 0
    while True:
        page = store.token_page(after, batch_size)
        read += len(page)
        progress(read)
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
    if not conn.access_token_enc:  # revoked: no token to re-encrypt
        result.current += 1
        return None
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
        result.failures.append((conn, exc))
        return None
    assert access is not None
    return (conn.id, conn.access_token_enc, conn.refresh_token_enc, access, refresh)
