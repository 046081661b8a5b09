"""A throwaway PostgreSQL server for the test suite: initdb + pg_ctl on a free loopback port."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine."""


def find_bindir() -> Path:
    """Where initdb and pg_ctl live: TOKENSYNC_PG_BIN, Debian's layout, or PATH."""
    candidates = []
    if os.environ.get("TOKENSYNC_PG_BIN"):
        candidates.append(os.environ["TOKENSYNC_PG_BIN"])
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) found")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The servers this process started, by the address in their URLs: what restart() needs.
_STARTED: dict[str, tuple[list[str], Path, Path]] = {}


def restartable(url: str) -> bool:
    """Whether the server of this URL is one this process started (and so may restart)."""
    return _address(url) in _STARTED


def restart(url: str) -> None:
    """`pg_ctl restart -m fast` on a server this process started: every session ends, the
    server comes back on the same port."""
    command, data, log = _STARTED[_address(url)]
    subprocess.run(
        [*command, "-D", str(data), "-l", str(log), "-m", "fast", "-w", "-t", "60", "restart"],
        check=True,
        capture_output=True,
    )


def _runuser() -> str:
    """util-linux's runuser, which root's PATH has in /usr/sbin (a PATH without it finds it
    there too)."""
    found = shutil.which("runuser") or next(
        (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise PostgresUnavailable(
            "running as root, and no runuser (util-linux) to start PostgreSQL as postgres"
        )
    return found


def _address(url: str) -> str:
    return url.split("@", 1)[-1].split("/", 1)[0]


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server, yield its URL, stop it and delete its files."""
    bindir = find_bindir()
    base = Path(tempfile.mkdtemp(prefix="tokensync-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root.
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = [_runuser(), "-u", "postgres", "--"]
    data, log = base / "data", base / "server.log"
    port = free_port()
    try:
        subprocess.run(
            [*run_as, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
            + ["-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log)]
            + ["-o", options, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
        )
        _STARTED[f"127.0.0.1:{port}"] = ([*run_as, str(bindir / "pg_ctl")], data, log)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)
