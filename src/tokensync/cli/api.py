"""`api`: a request to a platform's API as a user's connection, after `gh api`: the answer's
JSON body on stdout, its status and rate limits on stderr with -v; never the token
(connections/api_request.py does the request)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tokensync import interrupts
from tokensync.cli.app import app
from tokensync.cli.command import check_filters, command_client, guarded, item_logger
from tokensync.cli.options import EXAMPLES
from tokensync.errors import TokensyncError, UsageError, exit_code_for
from tokensync.output.ending import exit_with, stdout_failed
from tokensync.output.stdout import Printed

if TYPE_CHECKING:
    from tokensync.connections.api_request import ApiAnswer
    from tokensync.settings import Settings


@app.command("api", epilog=EXAMPLES["api"])
def api(
    ctx: typer.Context,
    path: Annotated[
        str, typer.Argument(help="A path below the platform's api_base (or a URL on it).")
    ],
    user: Annotated[str, typer.Option("--user", help="The user id.", show_default=False)],
    platform: Annotated[str, typer.Option("--platform", help="The platform.", show_default=False)],
    method: Annotated[
        str, typer.Option("-X", "--method", help="GET, POST, PUT, PATCH or DELETE.")
    ] = "GET",
    field: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--field",
            help="key=value: a query parameter of a GET, else a member of the JSON body "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
    paginate: Annotated[
        bool,
        typer.Option("--paginate", help="Follow the platform's pages; print one JSON array."),
    ] = False,
) -> None:
    """Ask the platform's API as the user's connection: its fresh token, refreshed on a 401."""
    from tokensync.output.documents import connection_error_document

    def work(settings: Settings) -> ApiAnswer | Printed:
        check_filters(settings, [platform], [user])
        fields = [_field(f) for f in field or []]
        try:
            with interrupts.restored(), command_client(settings, item_logger(ctx, "api")) as c:
                return c.request(
                    user, platform, path, method=method, fields=fields, paginate=paginate
                )
        except TokensyncError as exc:
            if isinstance(exc, UsageError):
                raise
            return connection_error_document(user, platform, exc), exit_code_for(exc)

    answer = guarded(ctx, work)
    if isinstance(answer, tuple):
        exit_with(*answer)
    code = answer.exit_code
    try:
        sys.stdout.write(json.dumps(answer.body, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except OSError as exc:
        code = stdout_failed(exc, code)
    raise typer.Exit(code)


def _field(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"-f {text[:40]!r}: write it as key=value")
    return key, value
