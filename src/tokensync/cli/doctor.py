"""`doctor`: is this deployment set up right? A line per check on stderr, one document on stdout,
exit 1 when a check failed (doctor/ holds the checks)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tokensync.cli.app import app
from tokensync.cli.command import PlatformOpt, check_filters, finish
from tokensync.cli.options import EXAMPLES
from tokensync.output import ending
from tokensync.output.stdout import Printed, printed

if TYPE_CHECKING:
    from tokensync.doctor.report import Check
    from tokensync.settings import Settings


@app.command("doctor", epilog=EXAMPLES["doctor"])
def doctor(
    ctx: typer.Context,
    platform: PlatformOpt = None,
    send_test_event: Annotated[
        bool,
        typer.Option(
            "--send-test-event", help="Deliver a signed `test` event to webhook_url, and say how."
        ),
    ] = False,
) -> None:
    """Check the database, schema, keys, spool, clock, client credentials and webhook; say what
    to fix."""

    def work(settings: Settings) -> Printed:
        from tokensync import bootstrap
        from tokensync.doctor.diagnose import diagnose
        from tokensync.output.doctor_document import doctor_document
        from tokensync.runtime.clock import SystemClock

        chosen = check_filters(settings, platform or [], []).platforms
        diagnosis = diagnose(
            settings,
            platforms=chosen,
            send_test=send_test_event,
            where=bootstrap.describe_database(settings),
            keyring=lambda: bootstrap.configured_keyring(settings),
            clock=SystemClock(),
            report=_line,
        )
        return printed(doctor_document(diagnosis), diagnosis)

    finish(ctx, work)


def _line(check: Check) -> None:
    """A check as a person reads it on stderr: status, name (platform), what was found; the fix."""
    if ending.is_quiet():
        return
    name = f"{check.name} ({check.platform})" if check.platform else check.name
    line = f"{check.status:<4}  {name}: {check.found}"
    if check.fix:
        line += f"\n      -> {check.fix}"
    sys.stderr.write(line + "\n")
