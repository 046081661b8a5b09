"""crontab.example through bash: every job line has valid cron fields and is valid shell (bash -n),
and the install lines, run in a scratch root, make private directories. The other checks of the
scheduler examples, which run nothing, are tests/unit/test_deploy_examples.py."""

from __future__ import annotations

import re
import shlex
import stat
import subprocess
from pathlib import Path

from tests.unit.test_deploy_examples import FIELD_RANGES, ROOT, cron_field_ok


def test_crontab_lines_parse_and_run_tokensync() -> None:
    jobs = []
    for line in (ROOT / "crontab.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, line
        for value, (low, high) in zip(fields[:5], FIELD_RANGES, strict=True):
            assert cron_field_ok(value, low, high), (value, line)
        shlex.split(fields[5])  # the command is well-quoted shell
        syntax = subprocess.run(["bash", "-n", "-c", fields[5]], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
        assert "%" not in fields[5].replace("\\%", ""), "cron turns a bare % into a newline"
        jobs.append((fields[:5], fields[5]))
    schedules = {cmd.split("tokensync ")[1].split()[0]: when for when, cmd in jobs}
    assert schedules["refresh-tokens"][0] == "*/5" and schedules["poll-platforms"][0] == "*/30"
    commands = " ".join(cmd for _, cmd in jobs)
    assert "flock -n" in commands and "/etc/tokensync/env" in commands and "logger" in commands
    assert "jq" in (ROOT / "crontab.example").read_text()
    for _, cmd in jobs:
        # A pipeline's status is tokensync's, and nothing tokensync says goes to cron's mail.
        assert "set -o pipefail;" in cmd, cmd
        assert re.search(r"tokensync [^|]* 2>>/var/log/tokensync/\S+\.err\.log \|", cmd), cmd
    assert "tokensync data prune --deleted-before" in commands


def test_crontab_installation_works_without_etc_tokensync(tmp_path: Path) -> None:
    """The install lines, run in a scratch root as the current user: directories are made,
    the environment file is private."""
    import getpass

    lines = [
        line.lstrip("#").strip()
        for line in (ROOT / "crontab.example").read_text().splitlines()
        if line.lstrip("#").strip().startswith("install ")
    ]
    assert lines and any("install -d" in line for line in lines)
    script = "\n".join(
        line.replace("/etc/", f"{tmp_path}/etc/")
        .replace("/var/log/", f"{tmp_path}/var/log/")
        .replace("-o tokensync", f"-o {getpass.getuser()}")
        for line in lines
    )
    done = subprocess.run(["bash", "-ec", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    env_file = tmp_path / "etc" / "tokensync" / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "etc" / "tokensync").stat().st_mode) == 0o750
    assert (tmp_path / "var" / "log" / "tokensync").is_dir()
