"""Keyed digests of how Google's security events name a refresh token, kept beside its ciphertext
so that a `token-revoked` event finds its connection without decrypting every row.

Google's Cross-Account Protection names the revoked refresh token either by
`hash_base64_sha512_sha512` (base64 of SHA-512 of SHA-512 of the token) or by `prefix` (its first
16 characters). tokensync stores neither: it stores HMAC-SHA256 of each under a key derived from
the encryption key that was primary when it was written (and that key's fingerprint), so that the
database alone says nothing about any token. A lookup computes the candidate digests under every
configured key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

_LABEL = b"tokensync refresh token digest v1"
PREFIX_LENGTH = 16
ALGORITHMS = ("hash_base64_sha512_sha512", "prefix")


@dataclass(frozen=True)
class RefreshDigests:
    """The digests of one refresh token under one key."""

    key: str  # the key's fingerprint
    hashed: str  # of hash_base64_sha512_sha512
    prefix: str  # of its first 16 characters


class DigestKeys:
    """HMAC keys derived from the encryption keys (Fernet keys, as configured), primary first."""

    def __init__(self, encryption_keys: Sequence[str]) -> None:
        derived = [
            hmac.new(base64.urlsafe_b64decode(k.strip()), _LABEL, hashlib.sha256).digest()
            for k in encryption_keys
        ]
        self._keys = [(hashlib.sha256(d).hexdigest()[:16], d) for d in derived]

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """The fingerprint of each key."""
        return tuple(fp for fp, _ in self._keys)

    def of_token(self, refresh_token: str) -> RefreshDigests:
        """The digests to store beside a refresh token (under the primary key)."""
        fp, key = self._keys[0]
        return RefreshDigests(
            fp,
            _mac(key, google_identifier(refresh_token)),
            _mac(key, refresh_token[:PREFIX_LENGTH]),
        )

    def candidates(self, identifier: str) -> tuple[str, ...]:
        """What a stored digest of this identifier (either algorithm's) is under each key."""
        return tuple(_mac(key, identifier) for _, key in self._keys)


def google_identifier(refresh_token: str) -> str:
    """`hash_base64_sha512_sha512` of a refresh token, as Google's security events give it."""
    inner = hashlib.sha512(refresh_token.encode()).digest()
    return base64.b64encode(hashlib.sha512(inner).digest()).decode("ascii")


def identifies(algorithm: str, identifier: str, refresh_token: str) -> bool:
    """Whether an event's token identifier names this refresh token."""
    if algorithm == "prefix":
        expected = refresh_token[:PREFIX_LENGTH]
    else:
        expected = google_identifier(refresh_token)
    return hmac.compare_digest(expected.encode(), identifier.encode())


def _mac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
