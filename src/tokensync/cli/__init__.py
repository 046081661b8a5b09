"""The command line: one module per command group, each a thin layer that reads options, calls
the capability below, and prints one JSON document with the documented exit code."""

import sys

# httpx imports its own command line client (click, rich, pygments: 60 ms of a run's start) when
# click is installed, as it is beside many applications; this program never runs it. Set here,
# in the command line's process only, before anything imports httpx. (None in sys.modules makes
# an import of that name fail: the import system's documented way, which typeshed does not type.)
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
