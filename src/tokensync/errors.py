"""The exceptions tokensync raises, and the exit code each one means.

    TokensyncError
    ├── UsageError               bad option, configuration or input (exit 2)
    │   ├── ConfigError          settings, platform definitions, keys
    │   └── ImportFormatError    a bad line of `tokens import`
    ├── StorageError             the database is unreachable or failed (exit 3)
    │   └── SchemaTooNewError    the schema is newer than this program
    ├── CryptoError              a ciphertext that no key of the keyring opens (per item, exit 1)
    ├── ConnectionNotFoundError  no connection of that user and platform (exit 1)
    ├── LeaseLostError           another run took over a connection this run was polling (per item)
    └── ProviderError            what a platform answered (per item, exit 1)
        ├── PermanentError       the grant is dead: needs re-authorisation
        ├── ClientConfigError    our client credentials are wrong: fix the configuration
        ├── RateLimitedError     slow down; `retry_after` seconds when the platform said
        ├── TransientError       5xx, timeouts, connection errors, garbage bodies
        └── MalformedResponseError  a response of an unexpected shape (a transient kind)

Messages never carry a secret: callers build them from ids, codes and provider descriptions only.
The exit code of each branch is in one table, EXIT_CODES, read by `exit_code_for`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_STORAGE = 3


class TokensyncError(Exception):
    """Base of every error tokensync raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class UsageError(TokensyncError):
    """Bad usage, configuration or input, found before any work."""

    code = "usage_error"


class ConfigError(UsageError):
    """The settings, a platform definition or the encryption keys are wrong."""

    code = "config_error"


class ImportFormatError(UsageError):
    """A line of a token import is not valid."""

    code = "invalid_import"


class StorageError(TokensyncError):
    """The database is unreachable or a statement failed."""

    code = "database_error"


class DatabaseTimeoutError(StorageError):
    """The database did not answer in time: a server that hangs is treated as one that is gone."""

    code = "database_timeout"


class SchemaTooNewError(StorageError):
    """The database was migrated by a newer tokensync."""

    code = "schema_too_new"


class CryptoError(TokensyncError):
    """A stored ciphertext could not be decrypted with any configured key."""

    code = "decrypt_failed"


class ConnectionNotFoundError(TokensyncError):
    """The application asked for a connection that is not stored (never imported, or removed)."""

    code = "not_found"


class LeaseLostError(TokensyncError):
    """Another run took over what this run was working on (its lease had lapsed)."""

    code = "lease_lost"


class ProviderError(TokensyncError):
    """A platform's answer, classified."""

    code = "provider_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class PermanentError(ProviderError):
    """The refresh token is dead (revoked, expired, reused): the user must reconnect."""

    code = "invalid_grant"


class ClientConfigError(ProviderError):
    """This application's client credentials were refused: the operator must fix them."""

    code = "invalid_client"


class RateLimitedError(ProviderError):
    """The platform asked us to slow down."""

    code = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        status: int | None = 429,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """A failure worth retrying later: 5xx, timeout, connection error, a body we cannot read."""

    code = "transient"


class MalformedResponseError(TransientError):
    """A response whose shape is not what the platform documents."""

    code = "malformed_response"


# The documented exit codes, most specific first; anything else that failed is EXIT_FAILURES.
EXIT_CODES: tuple[tuple[type[TokensyncError], int], ...] = (
    (UsageError, EXIT_USAGE),
    (StorageError, EXIT_STORAGE),
)


def exit_code_for(error: TokensyncError) -> int:
    """The exit code a command ends with when `error` stopped it."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_FAILURES
