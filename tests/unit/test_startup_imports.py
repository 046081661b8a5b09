"""What a command's process imports at start: every run pays for it before its first request."""

from __future__ import annotations

import subprocess
import sys

LOADED = (
    "import sys, {first}; "
    "print(','.join(m for m in ('httpx._main', 'click', 'pygments') if sys.modules.get(m)))"
)


def loaded(first: str) -> str:
    """The modules of httpx's command line client that importing `first` loads."""
    code = LOADED.format(first=first)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_command_line_never_imports_httpx_own_command_line_client() -> None:
    # Where click is installed (here: import-linter's), httpx alone loads its whole client...
    assert loaded("httpx") == "httpx._main,click,pygments"
    # ...which the command line, the jobs' collaborators and the HTTP client never load.
    assert loaded("tokensync.cli.main, tokensync.bootstrap, httpx") == ""
