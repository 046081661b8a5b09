"""The checks `tokensync doctor` makes of the store and the settings: the database and its schema,
the keys against a sample of stored tokens, the spool directory, this host's clock, what `status`
flags (configuration problems, grants ending, failing connections, dead events), Google grants
that die at 7 days, and the webhook's settings. Each returns Checks; none changes anything."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta

from tokensync.connections.status import StatusReport
from tokensync.crypto import Keyring
from tokensync.doctor.report import Check
from tokensync.errors import NoDatabaseError, StorageError, TokensyncError
from tokensync.runtime.skew import clock_skew
from tokensync.settings import Settings
from tokensync.store import Store, open_store
from tokensync.store.base import migrations

# Stored tokens a keyring is tried on (the newest).
KEY_SAMPLE = 5
# A grant of an OAuth app in Google's "Testing" publishing status dies 7 days after it was made.
TESTING_LIFETIME = timedelta(days=7)
TESTING_MARGIN = timedelta(hours=12)
# The newest dead grants looked at.
DEATHS_SAMPLE = 200
# The platforms that share Google's OAuth client, and so its publishing status.
GOOGLE_PLATFORMS = ("youtube", "gmail", "calendar")


def check_database(settings: Settings, where: str) -> tuple[Store | None, list[Check]]:
    """The database is reachable and holds this program's schema; the store, to look further."""
    try:
        store = open_store(settings.database_url, create=False)
    except NoDatabaseError:
        fix = "check the database URL, or run `tokensync db migrate` to create it"
        return None, [Check("database", "fail", f"{where} does not exist", fix)]
    except StorageError as exc:
        fix = "check the database URL, and that the server is up and reachable from this host"
        return None, [Check("database", "fail", f"{where} is unreachable: {exc.message}", fix)]
    try:
        version = store.schema_version()
    except StorageError as exc:
        store.close()
        return None, [Check("database", "fail", f"{where}: {exc.message}", "check the database")]
    latest = migrations(store.engine)[-1][0]
    checks = [Check.ok("database", f"{where} answers")]
    if version == latest:
        checks.append(Check.ok("schema", f"schema {version}, this program's"))
    elif version == 0:
        fix = "run `tokensync db migrate` (or any job, which migrates first)"
        checks.append(Check("schema", "fail", "no tokensync schema", fix))
    elif version < latest:
        fix = "run `tokensync db migrate` (or any job, which migrates first)"
        checks.append(Check("schema", "fail", f"schema {version}, older than {latest}", fix))
    else:
        fix = "run a tokensync as new as the one that migrated it"
        checks.append(Check("schema", "fail", f"schema {version}, newer than {latest}", fix))
    return store, checks


def check_keys(store: Store, configured: Callable[[], Keyring | None]) -> Check:
    """The configured keys open the newest stored tokens. `configured` reads them, None when
    there are none yet (bootstrap.configured_keyring: never a new key file made here)."""
    try:
        keyring = configured()
    except TokensyncError as exc:
        return Check("keys", "fail", exc.message, "give a readable key file, or the keys")
    sample = store.newest_ciphertexts(KEY_SAMPLE)
    if not sample:
        return Check.ok("keys", "no tokens stored yet")
    if keyring is None:
        fix = "set TOKENSYNC_ENCRYPTION_KEYS (or TOKENSYNC_ENCRYPTION_KEYS_FILE) to their key"
        return Check("keys", "fail", "no key is configured, and tokens are stored", fix)
    opened = sum(keyring.opens(c) for c in sample)
    found = f"{opened} of the {len(sample)} newest stored tokens open with {keyring.source}"
    if opened == len(sample):
        return Check.ok("keys", found)
    if opened == 0:
        fix = "give the key they were encrypted with (first in the list); nothing can refresh"
        return Check("keys", "fail", found, fix)
    fix = "add the key the others were encrypted with, then run `tokensync keys rotate`"
    return Check("keys", "warn", found, fix)


def check_spool(settings: Settings) -> Check:
    """A run that loses the database keeps new tokens in the spool: it must be writable."""
    directory = settings.spool_dir
    fix = f"make {directory} writable by this user (or set TOKENSYNC_DATA_DIR)"
    if directory.exists() and not directory.is_dir():
        return Check("spool", "fail", f"{directory} is not a directory", fix)
    if directory.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=directory, prefix=".doctor-"):
                pass
        except OSError as exc:
            found = f"{directory} is not writable: {exc.strerror or type(exc).__name__}"
            return Check("spool", "fail", found, fix)
        return Check.ok("spool", f"{directory} is writable")
    parent = directory.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if os.access(parent, os.W_OK | os.X_OK):
        return Check.ok("spool", f"{directory} will be created when first needed")
    return Check("spool", "fail", f"{directory} cannot be created ({parent} is not writable)", fix)


def check_clock(store: Store, settings: Settings, now: Callable[[], datetime]) -> Check:
    """This host's clock against the database's (leases are judged by the database's)."""
    skew = clock_skew(store, now, settings.clock_skew_warning)
    if skew is None:
        return Check.ok("clock", "the database is a file on this host, and shares its clock")
    found = f"this host's clock is {skew.seconds:+.1f} s from the database's"
    if skew.too_far:
        fix = "synchronise this host's clock (NTP); clock_skew_warning sets how far is too far"
        return Check("clock", "fail", found, fix)
    return Check.ok("clock", found)


def status_checks(report: StatusReport) -> list[Check]:
    """What `status` flags: platforms the jobs will fail on, and what needs attention."""
    checks = [
        Check("configuration", "fail", p.message, "configure the platform", platform=p.platform)
        for p in report.problems
    ]
    within = int(report.expiring_within // 86400)
    if report.grants_ending_count:
        found = f"{report.grants_ending_count} grant(s) end within {within} day(s)"
        fix = "ask those users to connect again (`tokensync status` lists them)"
        checks.append(Check("grants_ending", "warn", found, fix))
    else:
        checks.append(Check.ok("grants_ending", f"no grant ends within {within} day(s)"))
    if report.failing_count:
        found = f"{report.failing_count} connection(s) failed their last refresh"
        fix = "`tokensync status` shows their errors (docs/troubleshooting.md says what each means)"
        checks.append(Check("failing", "warn", found, fix))
    else:
        checks.append(Check.ok("failing", "no connection is failing"))
    if report.events.dead:
        found = f"{report.events.dead} event(s) were never delivered (dead)"
        fix = "fix the webhook receiver, then `tokensync events replay` them"
        checks.append(Check("dead_events", "warn", found, fix))
    else:
        checks.append(Check.ok("dead_events", "no dead event"))
    return checks


def check_google_testing(store: Store, settings: Settings) -> Check | None:
    """Grants of Google's platforms that died about 7 days after they were made: the mark of an
    OAuth app still in "Testing" (every user's grant dies so). None: no Google platform is in
    use. Only first grants count: the start of a later grant of a connection is not kept."""
    google = tuple(p for p in GOOGLE_PLATFORMS if p in settings.platforms)
    if not google:
        return None
    deaths = store.grant_deaths(google, DEATHS_SAMPLE)
    if not deaths:
        return Check.ok("google_testing", "no Google grant has died")
    seven = sum(abs(died - made - TESTING_LIFETIME) <= TESTING_MARGIN for made, died in deaths)
    if not seven:
        return Check.ok(
            "google_testing", f"{len(deaths)} recent dead Google grant(s), none at 7 days"
        )
    found = f"{seven} of {len(deaths)} recent dead Google grants died 7 days after they were made"
    fix = (
        'publish the OAuth app in Google Cloud ("In production"): an app in "Testing" has its '
        "users' grants expire after 7 days"
    )
    # One such death may be chance; several, half of the deaths or more, are the app's status.
    wholesale = seven >= 2 and 2 * seven >= len(deaths)
    return Check("google_testing", "fail" if wholesale else "warn", found, fix)


def check_webhook_settings(settings: Settings) -> Check:
    """TOKENSYNC_WEBHOOK_SECRET without webhook_url signs nothing. (webhook_url without a secret
    never gets here: the settings refuse it, and every command exits 2 saying so.)"""
    url, secrets = settings.webhook_url, settings.webhook_secrets
    if url and secrets:
        return Check.ok("webhook", f"webhook_url and {len(secrets)} secret(s) are set")
    if secrets:
        fix = "set webhook_url in the config file, or drop TOKENSYNC_WEBHOOK_SECRET"
        return Check("webhook", "fail", "TOKENSYNC_WEBHOOK_SECRET is set without webhook_url", fix)
    return Check("webhook", "skip", "no webhook is configured: events wait to be pulled")
