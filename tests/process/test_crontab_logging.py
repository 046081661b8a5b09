"""crontab.example's job lines, run as cron runs them (bash -c, after cron's `\\%` unescaping),
with a stand-in tokensync and logger: what each line logs, where, and with which exit code; and
logrotate.example rotating exactly those logs."""

from __future__ import annotations

import fcntl
import getpass
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Prints a document on stdout and a line on stderr, records that it ran, exits 1 (some failed).
FAKE_TOKENSYNC = """#!/bin/bash
echo "$*" >> "$CALLS"
echo '{"success": false, "cronType": "'"$1"'", "tokensFailed": 1}'
echo "tokensync: refresh_failed: 1 of 3 connections failed" >&2
exit 1
"""
# Appends its arguments and what it read to a file instead of syslog.
FAKE_LOGGER = """#!/bin/bash
echo "logger $* :: $(cat)" >> "$SYSLOG"
"""


def cron_line(starting: str) -> str:
    (line,) = [
        line
        for line in (ROOT / "crontab.example").read_text().splitlines()
        if line.startswith(starting)
    ]
    return line.split(None, 5)[5].replace("\\%", "%")


class Host:
    """A scratch root: the line's absolute paths moved under tmp_path, stand-ins on PATH."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        for name in ("etc/tokensync", "var/log/tokensync", "run/lock", "bin", "textfile"):
            (tmp_path / name).mkdir(parents=True)
        (tmp_path / "etc/tokensync/env").write_text("TOKENSYNC_DATABASE_URL=sqlite:///x.db\n")
        for name, text in (("tokensync", FAKE_TOKENSYNC), ("logger", FAKE_LOGGER)):
            path = tmp_path / "bin" / name
            path.write_text(text)
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        self.calls = tmp_path / "calls"
        self.syslog = tmp_path / "syslog"
        self.calls.touch()
        self.syslog.touch()

    def localise(self, command: str) -> str:
        for prefix in ("/etc/tokensync/", "/var/log/tokensync/", "/run/lock/"):
            command = command.replace(prefix, f"{self.root}{prefix}")
        return command.replace("/var/lib/node_exporter/textfile/", f"{self.root}/textfile/")

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{self.root}/bin:/usr/bin:/bin",
            "CALLS": str(self.calls),
            "SYSLOG": str(self.syslog),
            "HOME": str(self.root),
        }
        return subprocess.run(
            ["bash", "-c", self.localise(command)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock (util-linux) is not installed")
@pytest.mark.parametrize(
    ("starting", "job", "short"),
    [("*/5 ", "refresh-tokens", "refresh"), ("*/30 ", "poll-platforms", "poll")],
)
def test_a_job_line_logs_its_run_and_a_skipped_one(
    tmp_path: Path, starting: str, job: str, short: str
) -> None:
    host = Host(tmp_path)
    command = cron_line(starting)
    logs = tmp_path / "var/log/tokensync"

    done = host.run(command)
    # Nothing reaches cron's mail; the line ends with tokensync's code, not logger's.
    assert (done.stdout, done.stderr) == ("", "")
    assert done.returncode == 1
    assert host.calls.read_text().split()[0] == job
    assert f'"cronType": "{job}"' in (logs / f"{short}.jsonl").read_text()
    assert "tokensync: refresh_failed" in (logs / f"{short}.err.log").read_text()
    assert f"-t tokensync-{short} :: " in host.syslog.read_text()

    # A run still holding the lock: the next one is skipped, and says so.
    lock = tmp_path / f"run/lock/tokensync-{short}.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        skipped = host.run(command)
    assert (skipped.stdout, skipped.stderr) == ("", "")
    assert skipped.returncode == 75
    assert len(host.calls.read_text().splitlines()) == 1, "tokensync must not have run again"
    last = (logs / f"{short}.err.log").read_text().splitlines()[-1]
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ skipped: the previous {job} still holds {lock}", last
    ), last
    assert f"-p user.warning -t tokensync-{short} :: {last}" in host.syslog.read_text()
    assert len((logs / f"{short}.jsonl").read_text().splitlines()) == 1


def test_the_daily_lines_keep_stderr_out_of_cron_mail(tmp_path: Path) -> None:
    host = Host(tmp_path)
    done = host.run(cron_line("40 3 "))
    assert (done.stdout, done.stderr) == ("", "")
    assert done.returncode == 1, "pipefail: the line fails when tokensync does"
    assert host.calls.read_text().startswith("data prune --deleted-before")
    assert "refresh_failed" in (tmp_path / "var/log/tokensync/prune.err.log").read_text()


def logged_files() -> set[str]:
    """Every file under /var/log/tokensync that a line of crontab.example writes."""
    text = (ROOT / "crontab.example").read_text()
    return set(re.findall(r"(?:>>|tee -a )(/var/log/tokensync/\S+)", text))


def test_logrotate_example_covers_every_log_the_crontab_writes() -> None:
    text = (ROOT / "logrotate.example").read_text()
    (patterns,) = re.findall(
        r"^(/var/log/tokensync/\S+(?: /var/log/tokensync/\S+)*) \{$", text, re.M
    )
    written = logged_files()
    assert {"/var/log/tokensync/refresh.jsonl", "/var/log/tokensync/refresh.err.log"} <= written
    for path in written:
        assert any(Path(path).match(pattern) for pattern in patterns.split()), path
    body = text.split("{", 1)[1]
    # The directory belongs to the jobs' user (crontab.example's install lines): without `su`
    # logrotate refuses it; each run reopens its logs, so no copytruncate is needed.
    assert re.search(r"^\s*su tokensync tokensync$", body, re.M)
    assert re.search(r"^\s*rotate \d+$", body, re.M) and "copytruncate" not in body


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate is not installed")
def test_logrotate_example_rotates_the_logs(tmp_path: Path) -> None:
    """logrotate itself, on a scratch copy of the logs, as the current user."""
    logs = tmp_path / "var/log/tokensync"
    logs.mkdir(parents=True)
    logs.chmod(0o750)
    for path in logged_files():
        (logs / Path(path).name).write_text("a line\n")
    user = getpass.getuser()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True, check=True).stdout
    config = (
        (ROOT / "logrotate.example")
        .read_text()
        .replace("/var/log/", f"{tmp_path}/var/log/")
        .replace("tokensync tokensync", f"{user} {group.strip()}")
    )
    (tmp_path / "logrotate.conf").write_text(config)
    done = subprocess.run(
        [
            "logrotate",
            "--force",
            "--state",
            str(tmp_path / "state"),
            str(tmp_path / "logrotate.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for path in logged_files():
        name = Path(path).name
        fresh = logs / name
        assert fresh.exists() and fresh.stat().st_size == 0, name
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
        (rotated,) = [p for p in os.listdir(logs) if p.startswith(f"{name}-")]
        assert (logs / rotated).read_text() == "a line\n"  # delaycompress: the newest stays plain
