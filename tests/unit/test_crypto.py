from __future__ import annotations

import stat

import pytest

from tokensync.crypto import Keyring, binding, create_keys_file, generate_key, read_keys_file
from tokensync.errors import ConfigError, CryptoError


def test_round_trip_and_binding() -> None:
    ring = Keyring([generate_key()])
    alice = binding("alice", "spotify", "refresh")
    ciphertext = ring.encrypt("rt-secret", alice)
    assert "rt-secret" not in ciphertext
    assert ring.decrypt(ciphertext, alice, "alice") == "rt-secret"
    for other in (
        binding("bob", "spotify", "refresh"),
        binding("alice", "discord", "refresh"),
        binding("alice", "spotify", "access"),
    ):
        with pytest.raises(CryptoError, match="belongs to another connection"):
            ring.decrypt(ciphertext, other, "bob")


def test_every_key_decrypts_primary_encrypts() -> None:
    old, new = generate_key(), generate_key()
    bound = binding("u", "github", "access")
    legacy = Keyring([old]).encrypt("tok", bound)
    ring = Keyring([new, old])
    assert ring.decrypt(legacy, bound, "u") == "tok"
    assert not ring.is_current(legacy)
    rotated = ring.reencrypt(legacy, bound, "u")
    assert ring.is_current(rotated)
    assert Keyring([new]).decrypt(rotated, bound, "u") == "tok"


def test_wrong_key_names_the_connection_not_the_secret() -> None:
    bound = binding("u", "github", "access")
    ciphertext = Keyring([generate_key()]).encrypt("tok-123", bound)
    with pytest.raises(CryptoError) as info:
        Keyring([generate_key()]).decrypt(ciphertext, bound, "connection 7 (github, user u)")
    assert "connection 7" in info.value.message
    assert "tok-123" not in info.value.message and ciphertext not in info.value.message


def test_invalid_key_is_a_config_error_without_the_key() -> None:
    with pytest.raises(ConfigError, match="key #2") as info:
        Keyring([generate_key(), "not-a-key-at-all"])
    assert "not-a-key-at-all" not in info.value.message
    with pytest.raises(ConfigError, match="no encryption key"):
        Keyring([])


def test_key_file_is_private_and_readable(tmp_path) -> None:
    path = tmp_path / "dir" / "tokensync.key"
    create_keys_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = read_keys_file(path)
    assert len(keys) == 1
    Keyring(keys)
    with pytest.raises(FileExistsError):
        create_keys_file(path)


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 100, 4096])
def test_the_sealer_makes_fernet_tokens_byte_for_byte(size: int) -> None:
    """The keyring's faster encryption is Fernet's, exactly: same IV and time, same token."""
    import os

    from cryptography.fernet import Fernet

    from tokensync.crypto import FernetSealer

    key = generate_key().encode()
    data, iv = os.urandom(size), os.urandom(16)
    ours = FernetSealer(key).seal(data, iv=iv, at=1_790_000_000)
    assert ours == Fernet(key)._encrypt_from_parts(data, 1_790_000_000, iv).decode()
    assert Fernet(key).decrypt(FernetSealer(key).seal(data)) == data
