"""`tokens import` and `tokens list` at 10k, 100k and 1M lines, on both engines (issue 15).

Each figure is one tokensync process: its wall time, lines (or rows) a second, and its peak RSS
read inside the process as it exits (VmHWM, as bench/run.py does). The import runs twice on the
same database: first every line is new, then every line replaces a connection. `tokens list`
then writes every connection to a file, as a JSON array and as JSON Lines.

    python bench/import_list.py                 # 10k, 100k, 1M on both engines
    python bench/import_list.py --sizes 10000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from tests.support.pg_server import running_postgres  # noqa: E402
from tests.support.support import with_database  # noqa: E402

from bench.run import _PEAK_PRELUDE  # noqa: E402
from tokensync.crypto import generate_key  # noqa: E402


def write_lines(path: Path, n: int) -> None:
    """n import lines: GitHub App tokens of realistic length, every user distinct."""
    with path.open("w") as out:
        for i in range(n):
            out.write(
                f'{{"userId": "user-{i}", "platform": "github", "accessToken": "ghu_{i:036d}", '
                f'"refreshToken": "ghr_{i:076d}", "expiresIn": 28800, "scope": "repo,user"}}\n'
            )


def run(args: list[str], env: dict[str, str], stdout: Path) -> tuple[float, int, int]:
    """One tokensync process: (wall seconds, exit code, peak RSS in KiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak, stdout.open("w") as out:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _PEAK_PRELUDE, *args],
            env={**env, "BENCH_PEAK_FILE": peak.name},
            stdout=out,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        wall = time.perf_counter() - started
        return wall, done.returncode, int(peak.read().split()[0])


@contextmanager
def databases(engine: str, admin: str | None, work: Path, n: int) -> Iterator[str]:
    """A fresh database URL for one size."""
    if engine == "sqlite":
        yield f"sqlite:///{work / f'import-{n}.db'}"
        return
    assert admin is not None
    name = f"bench_import_{n}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(
    engine: str, admin: str | None, work: Path, sizes: list[int]
) -> list[dict[str, object]]:
    """Import, re-import and list at each size on one engine; print each figure as it comes."""
    rows: list[dict[str, object]] = []
    for n in sizes:
        lines = work / f"lines-{n}.jsonl"
        if not lines.exists():
            write_lines(lines, n)
        with databases(engine, admin, work, n) as url:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("TOKENSYNC_")},
                "TOKENSYNC_DATABASE_URL": url,
                "TOKENSYNC_ENCRYPTION_KEYS": generate_key(),
                "TOKENSYNC_DATA_DIR": str(work / "data"),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            run(["db", "migrate"], env, work / "out.json")
            for what, args in (
                ("import (new)", ["tokens", "import", str(lines)]),
                ("import (replace)", ["tokens", "import", str(lines)]),
                ("list json", ["tokens", "list"]),
                ("list jsonl", ["tokens", "list", "--format", "jsonl"]),
            ):
                out = work / "out.json"
                wall, code, peak = run(args, env, out)
                check = _check(what, out, n)
                rows.append(
                    {
                        "engine": engine,
                        "n": n,
                        "what": what,
                        "seconds": round(wall, 2),
                        "per_second": round(n / wall),
                        "peak_rss_mib": round(peak / 1024, 1),
                        "exit": code,
                        "ok": check,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    return rows


def _check(what: str, out: Path, n: int) -> bool:
    if what.startswith("import"):
        return bool(json.loads(out.read_text())["imported"] == n)
    with out.open() as fh:
        if what == "list jsonl":
            return sum(1 for _ in fh) == n
        return sum(1 for line in fh if line.startswith("{")) == n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--work", type=Path, default=None, help="keep files here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tokensync-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        if "sqlite" in args.engines:
            rows += measure("sqlite", None, work, args.sizes)
        if "postgres" in args.engines:
            admin = os.environ.get("TOKENSYNC_TEST_DATABASE_URL")
            if admin:
                rows += measure("postgres", admin, work, args.sizes)
            else:
                with running_postgres() as url:
                    rows += measure("postgres", url, work, args.sizes)
    print("\n".join(table(rows)))


def table(rows: list[dict[str, object]]) -> list[str]:
    """The figures as a Markdown table (bench/run.py --scale prints it too)."""
    lines = [
        "| engine | lines | what | seconds | per second | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['n']:,} | {r['what']} | {r['seconds']} | {r['per_second']:,} "
            f"| {r['peak_rss_mib']} |" + ("" if r["ok"] and r["exit"] == 0 else " FAILED")
        )
    return lines


if __name__ == "__main__":
    main()
