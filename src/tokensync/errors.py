"""The exceptions tokensync raises, and the exit code each one means.

    TokensyncError
    ├── UsageError               bad option, configuration or input (exit 2)
    │   ├── ConfigError          settings, platform definitions, keys
    │   │   └── WrongKeyError    no configured key opens the stored tokens (refused before writing)
    │   ├── ImportFormatError    a bad line of `tokens import`
    │   └── DeliveryError        a revocation delivery that is malformed (`revocations ingest`)
    │       └── UnverifiedDeliveryError  its signature, issuer, audience or time does not check
    ├── StorageError             the database is unreachable or failed (exit 3)
    │   ├── DatabaseTimeoutError the database stopped answering
    │   ├── NoDatabaseError      a command that only reads found no database (or no schema)
    │   ├── SchemaTooOldError    a command that only reads found a schema it must not migrate
    │   └── SchemaTooNewError    the schema is newer than this program
    ├── CryptoError              a ciphertext that no key of the keyring opens (per item, exit 1)
    ├── UnreadableRowError       a stored row another program wrote out of range (per item, exit 1)
    ├── ConnectionNotFoundError  no connection of that user and platform (exit 1)
    ├── LeaseLostError           another run took over a connection this run was polling (per item)
    ├── PositionExpiredError     a change-feed position older than what was pruned (exit 4)
    └── ProviderError            what a platform answered (per item, exit 1)
        ├── PermanentError       the grant is dead: needs re-authorisation
        ├── ClientConfigError    our client credentials are wrong: fix the configuration
        ├── RateLimitedError     slow down; `retry_after` seconds when the platform said
        ├── TransientError       5xx, timeouts, connection errors, garbage bodies
        └── MalformedResponseError  a response of an unexpected shape (a transient kind)

    Interrupted (a BaseException, like KeyboardInterrupt)  SIGTERM or SIGINT stopped a command
                                 that is not a job (exit 128 + the signal: 143, 130)

Messages never carry a secret: callers build them from ids and codes, and any text of a provider's
or a platform's passes tokensync.redaction.scrub first (with the secrets of its request).
The exit code of each branch is in one table, EXIT_CODES, read by `exit_code_for`.
"""

from __future__ import annotations

from typing import Protocol

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_STORAGE = 3
# A reader of the change feed must read it again from the beginning (`data changes`).
EXIT_POSITION_EXPIRED = 4
# A command stopped by a signal exits as a shell reports a process the signal ended.
EXIT_SIGNAL_BASE = 128


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


class WrongKeyError(ConfigError):
    """None of the configured keys opens a token the database holds: writing with them would
    leave the database under two keys, so nothing is written."""

    code = "wrong_key"


class ImportFormatError(UsageError):
    """A line of a token import is not valid."""

    code = "invalid_import"


class DeliveryError(UsageError):
    """A revocation delivery handed to `revocations ingest` is not one: nothing is changed."""

    code = "invalid_delivery"


class UnverifiedDeliveryError(DeliveryError):
    """A revocation delivery whose signature (or, for a security event token, issuer, audience
    or time) does not check: refused, nothing changed."""

    code = "unverified_delivery"


class StorageError(TokensyncError):
    """The database is unreachable or a statement failed."""

    code = "database_error"


class DatabaseTimeoutError(StorageError):
    """The database did not answer in time: a server that hangs is treated as one that is gone."""

    code = "database_timeout"


class SchemaTooNewError(StorageError):
    """The database was migrated by a newer tokensync."""

    code = "schema_too_new"


class NoDatabaseError(StorageError):
    """A command that only reads found no database, or one without tokensync's schema: it never
    creates one (a typo in the URL must not leave an empty database behind)."""

    code = "no_database"


class SchemaTooOldError(StorageError):
    """A command that only reads found an older schema, which only a migration may change."""

    code = "schema_too_old"


class UnreadableRowError(TokensyncError):
    """A stored row holds a value this program cannot read (a time far out of range, written by
    another program): that row fails, never the run."""

    code = "unreadable_row"


class CryptoError(TokensyncError):
    """A stored ciphertext could not be decrypted with any configured key."""

    code = "decrypt_failed"


class ConnectionNotFoundError(TokensyncError):
    """The application asked for a connection that is not stored (never imported, or removed)."""

    code = "not_found"


class LeaseLostError(TokensyncError):
    """Another run took over what this run was working on (its lease had lapsed)."""

    code = "lease_lost"


class PositionExpiredError(TokensyncError):
    """A change-feed position older than the tombstones `data prune` removed: a reader there
    would miss deletions, so it must read the feed again from the beginning."""

    code = "position_expired"


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
    (PositionExpiredError, EXIT_POSITION_EXPIRED),
)


class Concluded(Protocol):
    """What every command's result says of how the command ends: the one exit-code protocol.
    A result whose items may fail in part exits 1 when one did (`exit_code_of`); a result that
    exists only when the command succeeded exits 0; an error ends a command with
    `exit_code_for(error)` instead."""

    @property
    def exit_code(self) -> int:
        """The code the command that printed this result exits with."""
        ...


def exit_code_of(success: bool) -> int:
    """A result that may fail in part: 0 when nothing failed, else 1."""
    return EXIT_OK if success else EXIT_FAILURES


def exit_code_for(error: TokensyncError) -> int:
    """The exit code a command ends with when `error` stopped it."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_FAILURES


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived while a command that is not a job ran (tokensync.interrupts).

    A BaseException, so that no `except Exception` on the way swallows it: it unwinds every open
    transaction (rolled back) up to the command, which reports it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: 143 for SIGTERM, 130 for SIGINT."""
        return EXIT_SIGNAL_BASE + self.signum

    @property
    def signal_name(self) -> str:
        """SIGTERM or SIGINT."""
        import signal

        return signal.Signals(self.signum).name
