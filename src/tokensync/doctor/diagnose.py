"""A doctor's visit: every check in turn, each told to `report` as it ends (the command prints
one line each on stderr), the store's first, then the network's (one HTTP client, one loop)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tokensync.connections.status import read_status
from tokensync.crypto import Keyring
from tokensync.doctor.checks import (
    check_clock,
    check_database,
    check_google_testing,
    check_keys,
    check_spool,
    check_webhook_settings,
    status_checks,
)
from tokensync.doctor.probes import check_credentials, send_test_event
from tokensync.doctor.report import Check, Diagnosis
from tokensync.errors import StorageError
from tokensync.http.transport import http_client
from tokensync.redaction import NO_SECRETS
from tokensync.runtime import event_loop
from tokensync.runtime.clock import Clock
from tokensync.settings import Settings


def diagnose(
    settings: Settings,
    *,
    platforms: Sequence[str],
    send_test: bool,
    where: str,
    keyring: Callable[[], Keyring | None],
    clock: Clock,
    report: Callable[[Check], None],
) -> Diagnosis:
    """Every check; `platforms` limits the credential checks (none: every platform with client
    credentials). `where` names the database in messages; `keyring` reads the configured keys
    (None: there are none yet)."""
    checks: list[Check] = []

    def note(found: Check | Sequence[Check] | None) -> None:
        for check in [found] if isinstance(found, Check) else found or ():
            checks.append(check)
            report(check)

    store, opened = check_database(settings, where)
    note(opened)
    if store is not None and all(c.status != "fail" for c in opened):
        try:
            note(check_keys(store, keyring))
            note(check_clock(store, settings, clock.now))
            status = read_status(store, settings, clock.now())
            note(
                [
                    c
                    for c in status_checks(status)
                    if not platforms or c.platform in (None, *platforms)
                ]
            )
            note(check_google_testing(store, settings))
        except StorageError as exc:
            note(
                Check(
                    "database",
                    "fail",
                    f"{where} failed a query: {exc.message}",
                    "check the database",
                )
            )
        finally:
            store.close()
    elif store is not None:
        store.close()
    note(check_spool(settings))
    note(check_webhook_settings(settings))
    note(event_loop.run(_network(settings, platforms, send_test, clock)))
    return Diagnosis(checks)


async def _network(
    settings: Settings, platforms: Sequence[str], send_test: bool, clock: Clock
) -> list[Check]:
    chosen = [
        p
        for name, p in settings.platforms.items()
        if p.has_credentials and (not platforms or name in platforms)
    ]
    secrets = NO_SECRETS.plus(*settings.secrets)
    client = http_client(settings.request_timeout, 8)
    try:
        checks = await check_credentials(client, chosen, settings, secrets)
        if send_test:
            checks.append(await send_test_event(client, settings, clock.now()))
        return checks
    finally:
        await client.aclose()
