"""python -m bench.standins: serve on 127.0.0.1, print {"url": ...} as one line, stop on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import fields
from pathlib import Path

from bench.standins.server import Options, StandinServer
from bench.standins.tokens import make_tokens

_TYPES = {"float": float, "int": int, "str": str}


def parser() -> argparse.ArgumentParser:
    """One flag per Options field; --no-NAME for booleans and for options that may be None."""
    parser = argparse.ArgumentParser(prog="python -m bench.standins", description=__doc__)
    defaults = Options()
    for option in fields(Options):
        flag, default = "--" + option.name.replace("_", "-"), getattr(defaults, option.name)
        kind = str(option.type)
        if kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
            continue
        parser.add_argument(flag, type=_TYPES[kind.split(" | ")[0]], default=default)
        if kind.endswith("| None"):
            no = "--no-" + option.name.replace("_", "-")
            parser.add_argument(no, dest=option.name, action="store_const", const=None)
    parser.add_argument("--grants", type=int, default=0, help="seed make_tokens(N)")
    parser.add_argument("--grants-file", type=Path, help="seed one refresh token a line")
    return parser


async def serve(server: StandinServer) -> None:
    """Serve until SIGTERM or SIGINT; the URL goes to stdout first."""
    await server.start()
    sys.stdout.write(json.dumps({"url": server.url}) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, seed the grants, serve."""
    args = vars(parser().parse_args(argv))
    grants, grants_file = args.pop("grants"), args.pop("grants_file")
    server = StandinServer(Options(**args))
    server.add_grants(make_tokens(grants))
    if grants_file is not None:
        lines = grants_file.read_text().splitlines()
        server.add_grants(line.strip() for line in lines if line.strip())
    asyncio.run(serve(server))


if __name__ == "__main__":
    main()
