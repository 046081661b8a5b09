"""What the command line does that typer does not: global options typed after the command, help
(not an error) for a bare command, the choices of options, and two examples in each command's
help."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import typer

if TYPE_CHECKING:
    from typer._click import Command

# The choices of options, shown in --help (jobs/options.py holds the same two for the jobs, and
# test_cli_conventions.py checks that they agree: importing it here would slow every start).
Results = Literal["all", "failures", "none"]
FailOnChoice = Literal["any", "operator"]
ListFormat = Literal["json", "jsonl", "table"]
ReportFormat = Literal["json", "table"]

# The global options: those taking a value, and the flags (-v counts; -q is quiet).
GLOBAL_WITH_VALUE = frozenset({"--database-url", "--config"})
GLOBAL_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet"})
_SHORT_CLUSTER = re.compile(r"-[vq]+")


def hoist_global_options(root: Command, argv: Sequence[str]) -> list[str]:
    """argv with the global options typed after the command moved before it, so that
    `tokensync status --database-url X -v` means `tokensync --database-url X -v status`.

    Exact about values and `--`: the value of a command's own option is never taken for a global
    option (`--user -v` keeps `-v` as the user id), nothing after `--` moves, and an option the
    command itself defines stays the command's.
    """
    args = list(argv)
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in GLOBAL_WITH_VALUE else 1
    first = i
    command = root
    while i < len(args):  # down the groups to the command named
        commands = getattr(command, "commands", None)
        if not isinstance(commands, dict) or args[i] not in commands:
            break
        command = commands[args[i]]
        i += 1
    if i == first:
        return args
    takes_value: set[str] = set()
    own: set[str] = set()
    for param in command.params:
        names = [*param.opts, *getattr(param, "secondary_opts", [])]
        own.update(names)
        is_flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
        if param.param_type_name == "option" and not is_flag:
            takes_value.update(names)
    moved: list[str] = []
    rest: list[str] = []
    j = i
    while j < len(args):
        arg = args[j]
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if arg == "--":
            rest += args[j:]
            break
        if name in own:
            step = 2 if arg in takes_value else 1  # `--opt=value` is one argument
            rest += args[j : j + step]
            j += step
        elif name in GLOBAL_WITH_VALUE and (arg != name or j + 1 < len(args)):
            step = 1 if arg != name else 2
            moved += args[j : j + step]
            j += step
        elif arg in GLOBAL_FLAGS or _SHORT_CLUSTER.fullmatch(arg):
            moved.append(arg)
            j += 1
        else:
            rest.append(arg)
            j += 1
    return args[:first] + moved + args[first:i] + rest


def group(help_text: str) -> typer.Typer:
    """A group of commands that, typed alone, prints its help (stdout, exit 0), as gh does."""
    sub = typer.Typer(help=help_text, invoke_without_command=True)
    sub.callback()(help_when_bare)
    return sub


def help_when_bare(ctx: typer.Context) -> None:
    """A group typed without a command: its help and list of commands on stdout, exit 0."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        sys.stdout.write(ctx.get_help() + "\n")
        raise typer.Exit(0)


def examples(*lines: str) -> str:
    """The epilog of a command's help: its examples, one a line, as typed."""
    # \b keeps click from rewrapping the paragraph into one line.
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


# Two examples of each command, shown at the end of its --help.
EXAMPLES = {
    "refresh-tokens": examples(
        "tokensync refresh-tokens --window 30m --results failures",
        "tokensync refresh-tokens --platform spotify --dry-run | jq .tokensChecked",
    ),
    "poll-platforms": examples(
        "tokensync poll-platforms --max-duration 25m",
        "tokensync poll-platforms --user u_1 --force",
    ),
    "tokens import": examples(
        "tokensync tokens import connections.jsonl",
        "tokensync tokens import --dry-run < connections.jsonl",
    ),
    "tokens get": examples(
        "tokensync tokens get --user u_1 --platform spotify | jq -er .accessToken",
        "tokensync tokens get --user u_1 --platform github --min-ttl 30m",
    ),
    "tokens disconnect": examples(
        "tokensync tokens disconnect --user u_1 --platform discord",
        "tokensync tokens disconnect --user u_1 --platform spotify --keep-data --dry-run",
    ),
    "revocations ingest": examples(
        "tokensync revocations ingest --source github --header 'X-GitHub-Event: "
        "github_app_authorization' --header 'X-GitHub-Delivery: 72d3162e' --header "
        "'X-Hub-Signature-256: sha256=...' < body.json",
        "tokensync revocations ingest --source google-risc < envelope.json",
    ),
    "users erase": examples(
        "tokensync users erase u_1 --dry-run",
        "tokensync users erase u_1",
    ),
    "tokens list": examples(
        "tokensync tokens list --status needs_reauth --format table",
        "tokensync tokens list --format jsonl --limit 1000 --after-id 5000",
    ),
    "api": examples(
        "tokensync api --user u_1 --platform github /user/repos --paginate | jq length",
        "tokensync api --user u_1 --platform spotify /me/player/pause -X PUT",
    ),
    "doctor": examples(
        "tokensync doctor",
        "tokensync doctor --platform spotify --send-test-event | jq '.checks[] | select(.fix)'",
    ),
    "status": examples(
        "tokensync status --format table",
        "tokensync status | jq .problems",
    ),
    "db migrate": examples(
        "tokensync db migrate",
        "tokensync db migrate --database-url postgresql://tokensync@db/tokensync",
    ),
    "data changes": examples(
        'tokensync data changes --after "$(cat feed.position)" --limit 500',
        "tokensync data changes --format jsonl --platform github > first-read.jsonl",
    ),
    "data prune": examples(
        "tokensync data prune --deleted-before 30d --dry-run",
        "tokensync data prune --deleted-before 90d",
    ),
    "keys generate": examples(
        "export TOKENSYNC_ENCRYPTION_KEYS=$(tokensync keys generate)",
        "TOKENSYNC_ENCRYPTION_KEYS=$(tokensync keys generate),$OLD_KEY tokensync keys rotate",
    ),
    "keys rotate": examples(
        "TOKENSYNC_ENCRYPTION_KEYS=$NEW_KEY,$OLD_KEY tokensync keys rotate",
        "tokensync keys rotate | jq .failures",
    ),
    "events list": examples(
        "tokensync events list --after 1200 --type connection.needs_reauth",
        "tokensync events list | jq -c '{seq, type}'",
    ),
    "events deliver": examples(
        "tokensync events deliver --max-duration 1m",
        "tokensync events deliver --reenable",
    ),
    "events replay": examples(
        "tokensync events replay --after 1200",
        "tokensync events replay --after 0 --type connection.needs_reauth",
    ),
}
