"""`python bench/run.py --polling-against REV` (or `BASE..HEAD`; either may end in +NAME=VALUE,
an environment variable for its runs, e.g. `HEAD+TOKENSYNC_EVENT_LOOP=asyncio`): poll-platforms
of this checkout (or of HEAD) against the same job of another commit (a git worktree of REV,
bench/trees.py), side by side: each on a database of its own in one PostgreSQL, the same provider
stand-in, the same connections
(--poll-scenario: 300 users x spotify, github, discord, or 300 users x Discord's 100 guilds),
runs alternated (this checkout first in odd rounds, REV first in even ones), and the bare poller
(bench/run.py's bare_polls) and the fetch-and-upsert poller (bench/upsert_poller.py) as the
yardsticks of each round. Reports polls/s of each, their ratio per round and its median: how
much a change costs polling, measured rather than guessed (the change feed's positions had to
cost at most 5%), and each side's ratio to the fetch-and-upsert poller.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from tests.support.processes import ProviderProcess

from bench.run import (
    POLL_SCENARIOS,
    Database,
    bare_polls,
    poll_concurrency,
    poll_records,
    seed,
)
from bench.trees import THIS, source_trees
from bench.upsert_poller import upsert_polls

Row = dict[str, Any]


def poll_once(env: dict[str, str], concurrency: int) -> float:
    """One poll-platforms process over every connection: its polls/s, whole process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tokensync", "poll-platforms", "--concurrency", str(concurrency)]
        + ["--results", "none"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    document = json.loads(done.stdout)
    assert document["pollsFailed"] == 0, document
    return float(document["platformCount"]) / wall


def measure(
    admin: Database,
    provider: ProviderProcess,
    env: dict[str, str],
    rev: str,
    args: argparse.Namespace,
) -> Row:
    """This checkout's polling against REV's, alternated `args.repeat` times."""
    users = args.poll_users
    scenario = POLL_SCENARIOS[args.poll_scenario]
    concurrency = poll_concurrency(args)
    records = poll_records(users, scenario.platforms)
    everyone = list(range(users))
    # REV, or BASE..HEAD to compare two other commits (the change a commit range made); either
    # may carry +NAME=VALUE, an environment variable its runs get (uvloop against asyncio's loop).
    base_spec, _, head_spec = rev.partition("..")
    specs = {"base": base_spec, "head": head_spec or THIS}
    commits = {side: spec.partition("+")[0] for side, spec in specs.items()}
    with (
        tempfile.TemporaryDirectory() as place,
        source_trees(sorted(set(commits.values()))) as trees,
    ):
        sides: dict[str, tuple[dict[str, str], Database]] = {}
        for side in ("head", "base"):
            name = f"bench_{side}_{os.getpid()}"
            with psycopg.connect(admin.url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
                conn.execute(f"CREATE DATABASE {name}")
            url = admin.url.rsplit("/", 1)[0] + f"/{name}"
            data = Path(place) / f"data-{side}"
            data.mkdir()
            variable, _, value = specs[side].partition("+")[2].partition("=")
            side_env = {
                **env,
                **({variable: value} if variable else {}),
                "PYTHONPATH": str(trees[commits[side]]),
                "TOKENSYNC_DATABASE_URL": url,
                "TOKENSYNC_DATA_DIR": str(data),
            }
            seed(side_env, provider, records)
            sides[side] = (side_env, Database(url))
        # A round of both, not counted: the first polls of a fresh database and provider
        # state are slower than every later one, whichever side runs them.
        for side_env, db in sides.values():
            db.forget_polls()
            poll_once(side_env, concurrency)
        rounds: list[Row] = []
        for r in range(args.repeat):
            bare, _ = asyncio.run(
                bare_polls(provider.url, everyone, concurrency, scenario.platforms)
            )
            upsert, _ = asyncio.run(
                upsert_polls(provider.url, admin.url, everyone, concurrency, scenario.platforms)
            )
            got: dict[str, float] = {}
            for side in ("head", "base") if r % 2 == 0 else ("base", "head"):
                side_env, db = sides[side]
                db.forget_polls()
                got[side] = poll_once(side_env, concurrency)
            first = 1.0 if r % 2 == 0 else 0.0  # 1: this checkout ran first
            rounds.append(
                {
                    **got,
                    "bare": bare,
                    "upsert": upsert,
                    "ratio": got["head"] / got["base"],
                    "headToUpsert": got["head"] / upsert,
                    "baseToUpsert": got["base"] / upsert,
                    "headFirst": first,
                }
            )
    return {
        "against": rev,
        "scenario": args.poll_scenario,
        "concurrency": concurrency,
        "users": users,
        "connections": users * len(scenario.platforms),
        "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
        "headPollsPerSecond": round(statistics.median(r["head"] for r in rounds), 1),
        "basePollsPerSecond": round(statistics.median(r["base"] for r in rounds), 1),
        "barePollsPerSecond": round(statistics.median(r["bare"] for r in rounds), 1),
        "upsertPollsPerSecond": round(statistics.median(r["upsert"] for r in rounds), 1),
        # Each side against the fetch-and-upsert poller of its round (the speed target's ratio).
        "headToUpsert": round(statistics.median(r["headToUpsert"] for r in rounds), 3),
        "baseToUpsert": round(statistics.median(r["baseToUpsert"] for r in rounds), 3),
        "ratio": round(statistics.median(r["ratio"] for r in rounds), 3),
        # The order of a round moves the ratio (the second run of a round is the faster): the
        # median of each order, and their geometric mean, which the order cannot move.
        "ratioBalanced": round(_balanced(rounds), 3),
    }


def _balanced(rounds: list[Row]) -> float:
    orders = [[r["ratio"] for r in rounds if r["headFirst"] == f] for f in (1.0, 0.0)]
    medians = [statistics.median(o) for o in orders if o]
    return float(statistics.geometric_mean(medians))


def table(result: Row) -> str:
    lines = [
        f"poll-platforms, this checkout against {result['against']}, scenario "
        f"{result['scenario']}, {result['connections']} connections, "
        f"{result['concurrency']} in flight, polls/s",
        "",
        "| round | this checkout | base | ratio | bare poller | fetch-and-upsert poller | "
        "this checkout / it | base / it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(result["rounds"], 1):
        first = "this checkout" if r["headFirst"] else "base"
        lines.append(
            f"| {i} ({first} first) | {r['head']:.1f} | {r['base']:.1f} | {r['ratio']:.3f} | "
            f"{r['bare']:.1f} | {r['upsert']:.1f} | {r['headToUpsert']:.3f} | "
            f"{r['baseToUpsert']:.3f} |"
        )
    lines.append(
        f"| median | {result['headPollsPerSecond']} | {result['basePollsPerSecond']} | "
        f"{result['ratio']} | {result['barePollsPerSecond']} | "
        f"{result['upsertPollsPerSecond']} | {result['headToUpsert']} | "
        f"{result['baseToUpsert']} |"
    )
    lines.append(f"\nratio, balanced over the order of the runs: {result['ratioBalanced']}")
    return "\n".join(lines)
