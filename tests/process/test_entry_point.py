"""The installed program: `python -m tokensync` ends with os._exit, and loses no output doing so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.contract import check_output
from tokensync import __version__


def tokensync(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSYNC_")}
    env.pop("PYTHONUNBUFFERED", None)  # stdout block-buffered, as under cron
    env["TOKENSYNC_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "tokensync", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    check_output(args, done.stdout)
    return done


def test_version_and_a_usage_error_keep_their_exit_codes(tmp_path: Path) -> None:
    version = tokensync(tmp_path, "--version")
    assert (version.returncode, version.stdout) == (0, f"tokensync {__version__}\n")
    wrong = tokensync(tmp_path, "refresh-tokens", "--results", "some")
    assert wrong.returncode == 2
    assert json.loads(wrong.stdout)["error"]["code"] == "usage_error"


def test_a_large_document_is_written_whole_before_the_process_leaves(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "userId": f"user-{i}",
                "platform": "github",
                "accessToken": f"gho_{i}",
                "refreshToken": f"ghr_{i}",
                "expiresIn": 28800,
            }
        )
        for i in range(3000)
    ]
    imported = tokensync(tmp_path, "tokens", "import", stdin="\n".join(lines))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    listed = tokensync(tmp_path, "tokens", "list")
    assert listed.returncode == 0
    assert len(listed.stdout) > 2**16, "more than one pipe buffer"
    assert [c["userId"] for c in json.loads(listed.stdout)] == [f"user-{i}" for i in range(3000)]
