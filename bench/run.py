"""Benchmarks: tokensync against a bare client on the same loopback provider, in one invocation.

    python bench/run.py                    # the full table (a few minutes)
    python bench/run.py --quick            # a small smoke run
    python bench/run.py --database-url postgresql://...   # instead of a throwaway server

Every figure is the median of --repeat runs, measured side by side with its baseline so that
ratios compare like with like on a noisy machine. Prints a table and writes it as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402
from tests.support.pg_server import running_postgres  # noqa: E402
from tests.support.processes import ProviderProcess, running_provider  # noqa: E402
from tests.support.provider import CLIENT_ID, CLIENT_SECRET  # noqa: E402

from tokensync.crypto import generate_key  # noqa: E402

Row = dict[str, Any]


# -- processes ---------------------------------------------------------------------------------


# Peak RSS is read by the process itself as it exits (VmHWM). The rusage wait4 returns would not
# do: it counts the pages of this benchmark process that the child inherited when it forked, and
# this process grows with N (it holds the seeded tokens), which once looked like tokensync's memory
# growing with N.
_PEAK_PRELUDE = """
import os, sys
from tokensync.cli import main as cli

def _peak():
    with open("/proc/self/status") as status, open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        times = os.times()
        out.write(f"{peak} {times.user + times.system}")

_main = cli.main

def _main_then_peak():
    try:
        _main()
    finally:
        _peak()

cli.main = _main_then_peak  # run() leaves with os._exit: no atexit hook would run
sys.argv[0] = "tokensync"
cli.run()
"""


class Ran(NamedTuple):
    """One tokensync process: wall seconds, its JSON, peak RSS in KiB, CPU seconds it used."""

    wall: float
    document: Row
    peak_kib: int
    cpu: float


def run_tokensync(args: list[str], env: dict[str, str]) -> Ran:
    """Run one tokensync process and read what it used."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, "-c", _PEAK_PRELUDE, *args],
            env={**env, "BENCH_PEAK_FILE": peak.name},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        document = json.loads(process.stdout)
        kib, cpu = peak.read().split()
        return Ran(wall, document, int(kib), float(cpu))


def run_parallel(args: list[str], env: dict[str, str], workers: int) -> tuple[float, list[Row]]:
    """Start `workers` tokensync processes together; return (wall until the last ends, docs)."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tokensync", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(workers)
    ]
    documents = [json.loads(p.communicate()[0]) for p in processes]
    return time.perf_counter() - started, documents


# -- the database ------------------------------------------------------------------------------


class Database:
    """The PostgreSQL database the refresh and poll runs use."""

    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql)

    def reset(self) -> None:
        """An empty database: the whole schema goes, whatever tables later migrations add."""
        self.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")

    def expire_all(self) -> None:
        self.execute("UPDATE connections SET expires_at = now() + interval '1 minute'")

    def forget_polls(self) -> None:
        self.execute(
            "TRUNCATE user_platform_data, sync_state; "
            "UPDATE connections SET next_poll_at = NULL, poll_lease_owner = NULL, "
            "poll_lease_expires_at = NULL"
        )


@contextmanager
def database(url: str | None) -> Iterator[Database]:
    if url:
        yield Database(url)
        return
    with running_postgres() as started:
        yield Database(started)


def seed(env: dict[str, str], provider: ProviderProcess, records: list[Row]) -> float:
    """Import connections through `tokens import` and give the provider their grants; the
    seconds the import took."""
    provider.add_grants([r["refreshToken"] for r in records])
    lines = "\n".join(json.dumps(r) for r in records)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tokensync", "tokens", "import"],
        input=lines,
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def discord_records(prefix: str, n: int) -> list[Row]:
    return [
        {
            "userId": f"{prefix}{i}",
            "platform": "discord",
            "accessToken": f"bench-at-{i}-0",
            "refreshToken": f"{prefix}-rt-{i}",
            "expiresIn": 60,
        }
        for i in range(n)
    ]


# -- the baselines -----------------------------------------------------------------------------


def refresh_form(token: str) -> dict[str, str]:
    """The token request every client here sends (client_secret_post)."""
    return {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


async def bare_refreshes(url: str, tokens: list[str], concurrency: int) -> float:
    """The ceiling: aiohttp alone, the same token requests at the same concurrency; req/s."""
    limit = asyncio.Semaphore(concurrency)
    current = list(tokens)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int) -> None:
            async with limit:
                form = refresh_form(current[index])
                async with session.post(f"{url}/token", data=form) as response:
                    body = await response.json()
                    assert response.status == 200, body
                    current[index] = body.get("refresh_token", current[index])

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(len(current))))
        elapsed = time.perf_counter() - started
    tokens[:] = current
    return len(current) / elapsed


async def httpx_refreshes(
    url: str, tokens: list[str], concurrency: int, aiohttp_transport: bool
) -> float:
    """The same requests through httpx, on its own transport or on aiohttp's; req/s."""
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    transport = AiohttpTransport(limits=limits) if aiohttp_transport else None
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(transport=transport, limits=limits) as client:

        async def one(index: int) -> None:
            async with limit:
                form = refresh_form(tokens[index])
                response = await client.post(f"{url}/token", data=form)
                tokens[index] = response.json().get("refresh_token", tokens[index])

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(len(tokens))))
        return len(tokens) / (time.perf_counter() - started)


def measure_transports(provider: ProviderProcess, args: argparse.Namespace) -> Row:
    """Why httpx runs over aiohttp here: the three stacks on the same requests."""
    n = 1000 if not args.quick else 100
    tokens = [f"tr-{i}" for i in range(n)]
    provider.add_grants(tokens)
    rates: dict[str, list[float]] = {"aiohttp": [], "httpxOverAiohttp": [], "httpxDefault": []}
    for _ in range(args.repeat):
        rates["aiohttp"].append(asyncio.run(bare_refreshes(provider.url, tokens, args.concurrency)))
        rates["httpxOverAiohttp"].append(
            asyncio.run(httpx_refreshes(provider.url, tokens, args.concurrency, True))
        )
        rates["httpxDefault"].append(
            asyncio.run(httpx_refreshes(provider.url, tokens, args.concurrency, False))
        )
    return {"n": n, **{k: round(median(v), 1) for k, v in rates.items()}}


def sequential_refreshes(url: str, tokens: list[str]) -> float:
    """The seed's way: one refresh after another; req/s over a sample."""
    with httpx.Client() as client:
        started = time.perf_counter()
        for index, token in enumerate(tokens):
            form = refresh_form(token)
            response = client.post(f"{url}/token", data=form)
            tokens[index] = response.json().get("refresh_token", token)
        return len(tokens) / (time.perf_counter() - started)


# The pages a poll of each platform fetches (the bare pollers fetch the same).
POLL_PATHS = {
    "spotify": ["/spotify/v1/me/player/recently-played?limit=50", "/spotify/v1/me/top/tracks"],
    "github": [
        "/github/user",
        "/github/users/user{u}/events?per_page=100",
        "/github/user/repos",
    ],
    "discord": ["/discord/api/v10/users/@me/guilds?limit=200"],
}


class PollScenario(NamedTuple):
    """What a polling measurement polls: each user's platforms, the Discord guilds a user is in
    (the provider's --guilds), and the polls in flight (None: --concurrency)."""

    platforms: tuple[str, ...]
    guilds: int
    concurrency: int | None


POLL_SCENARIOS = {
    # Every user on spotify, github and discord (5 guilds): pages of 50 tracks, plays and events.
    "mixed": PollScenario(("spotify", "github", "discord"), 5, None),
    # The speed target's own (issue of the speed targets): Discord guilds, 100 a user, 16 at once.
    "discord-guilds": PollScenario(("discord",), 100, 16),
}


def poll_concurrency(args: argparse.Namespace) -> int:
    """The polls in flight of the chosen scenario."""
    return POLL_SCENARIOS[args.poll_scenario].concurrency or args.concurrency


async def bare_polls(
    url: str, users: list[int], concurrency: int, platforms: Sequence[str] = tuple(POLL_PATHS)
) -> tuple[float, float]:
    """Fetch the same pages tokensync fetches, with aiohttp alone; (polls/s, items/s)."""
    limit = asyncio.Semaphore(concurrency)
    items = 0
    paths = POLL_PATHS
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency * 2)) as s:

        async def poll(user: int, platform_name: str) -> None:
            nonlocal items
            async with limit:
                for path in paths[platform_name]:
                    headers = {"Authorization": f"Bearer bench-at-{user}-0"}
                    async with s.get(url + path.format(u=user), headers=headers) as response:
                        body = await response.json()
                        if isinstance(body, list):
                            items += len(body)
                        elif isinstance(body, dict) and "items" in body:
                            items += len(body["items"])

        jobs = [poll(u, p) for u in users for p in platforms]
        started = time.perf_counter()
        await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - started
    return len(jobs) / elapsed, items / elapsed


# -- the measurements --------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure_provider(concurrency: int, repeat: int, node: bool) -> Row:
    """The stand-in alone, with no delay: its capacity must dwarf the rates measured."""
    n = 3000
    rates = []
    with running_provider("--delay", "0", node=node) as provider:
        tokens = [f"cap-{i}" for i in range(n)]
        provider.add_grants(tokens)
        for _ in range(repeat):
            rates.append(asyncio.run(bare_refreshes(provider.url, tokens, concurrency)))
    return {"requestsPerSecondAtZeroDelay": round(median(rates))}


def measure_refresh(
    db: Database, provider: ProviderProcess, env: dict[str, str], n: int, args: argparse.Namespace
) -> Row:
    """tokensync vs the bare client vs one-at-a-time, for N due tokens."""
    db.reset()
    seed(env, provider, discord_records(f"n{n}u", n))
    ceiling_tokens = [f"ceil{n}-{i}" for i in range(n)]
    provider.add_grants(ceiling_tokens)
    ours, in_run, ceilings, rss, cpu_ms = [], [], [], [], []
    for _ in range(args.repeat):
        ceilings.append(asyncio.run(bare_refreshes(provider.url, ceiling_tokens, args.concurrency)))
        db.expire_all()
        wall, document, peak, cpu = run_tokensync(
            ["refresh-tokens", "--concurrency", str(args.concurrency), "--results", "none"], env
        )
        assert document["tokensRefreshed"] == n, document
        ours.append(n / wall)
        cpu_ms.append(cpu * 1000 / n)
        # The same run without the process's fixed costs (interpreter, imports, connecting).
        in_run.append(n / (document["durationMs"] / 1000))
        rss.append(peak)
    sample = [f"seq{n}-{i}" for i in range(min(n, args.sequential_sample))]
    provider.add_grants(sample)
    sequential = sequential_refreshes(provider.url, sample)
    stats = provider.stats()
    assert stats["reused_tokens"] == 0 and stats["revoked_grants"] == 0, stats
    return {
        "n": n,
        "tokensyncPerSecond": round(median(ours), 1),
        "ceilingPerSecond": round(median(ceilings), 1),
        "ratioToCeiling": round(median(ours) / median(ceilings), 3),
        "inRunPerSecond": round(median(in_run), 1),
        "inRunRatioToCeiling": round(median(in_run) / median(ceilings), 3),
        "sequentialPerSecond": round(sequential, 2),
        "sequentialSample": len(sample),
        "ratioToSequential": round(median(ours) / sequential, 1),
        "peakRssMiB": round(median(rss) / 1024, 1),
        # tokensync's own CPU a token, start-up included: what the load of the machine moves least.
        "cpuMsPerToken": round(median(cpu_ms), 3),
    }


def measure_memory(
    db: Database, provider: ProviderProcess, env: dict[str, str], n: int, args: argparse.Namespace
) -> Row:
    """Peak RSS of one refresh run over N due tokens."""
    db.reset()
    seed(env, provider, discord_records(f"m{n}u", n))
    peaks = []
    for _ in range(args.repeat):
        db.expire_all()
        _, document, peak, _ = run_tokensync(
            ["refresh-tokens", "--concurrency", str(args.concurrency), "--results", "none"], env
        )
        assert document["tokensRefreshed"] == n, document
        peaks.append(peak)
    return {"n": n, "peakRssMiB": round(median(peaks) / 1024, 1)}


def measure_scale_out(
    db: Database, provider: ProviderProcess, env: dict[str, str], n: int, args: argparse.Namespace
) -> list[Row]:
    """1, 2 and 4 workers over the same N connections."""
    db.reset()
    seed(env, provider, discord_records(f"s{n}u", n))
    rows = []
    for workers in args.workers:
        rates, split_ok, shares = [], True, []
        for _ in range(args.repeat):
            before = provider.stats()["refreshes"]
            db.expire_all()
            wall, documents = run_parallel(
                ["refresh-tokens", "--concurrency", str(args.concurrency), "--results", "none"],
                env,
                workers,
            )
            done = [d["tokensRefreshed"] for d in documents]
            twice = provider.stats()["refreshes"] - before - n
            # Split correctly: every token refreshed, none twice (the provider counts them).
            split_ok &= sum(done) == n and twice == 0
            shares.append(sorted(done))
            rates.append(n / wall)
        rows.append(
            {
                "workers": workers,
                "n": n,
                "perSecond": round(median(rates), 1),
                "splitCorrectly": split_ok,
                "perWorker": shares[len(shares) // 2],
            }
        )
    stats = provider.stats()
    assert stats["reused_tokens"] == 0, stats
    return rows


def poll_records(users: int, platforms: Sequence[str] = tuple(POLL_PATHS)) -> list[Row]:
    """The connections the polling measurements poll: each user on each of `platforms`."""
    return [
        {
            "userId": f"p{u}",
            "platform": name,
            "accessToken": f"bench-at-{u}-0",
            "refreshToken": f"poll-{name}-{u}",
            "expiresIn": 3600,
        }
        for u in range(users)
        for name in platforms
    ]


def measure_polling(
    db: Database,
    provider: ProviderProcess,
    env: dict[str, str],
    users: int,
    args: argparse.Namespace,
) -> Row:
    """N users of the scenario (--poll-scenario): tokensync vs aiohttp fetching the same pages
    vs the fetch-and-upsert poller (bench/upsert_poller.py), at the same concurrency."""
    scenario = POLL_SCENARIOS[args.poll_scenario]
    concurrency = poll_concurrency(args)
    db.reset()
    seed(env, provider, poll_records(users, scenario.platforms))
    from bench.upsert_poller import upsert_polls

    everyone = list(range(users))

    ours_polls, ours_items, base_polls, base_items, upserts = [], [], [], [], []
    for _ in range(args.repeat):
        polls, items = asyncio.run(
            bare_polls(provider.url, everyone, concurrency, scenario.platforms)
        )
        base_polls.append(polls)
        base_items.append(items)
        upserted, _ = asyncio.run(
            upsert_polls(provider.url, db.url, everyone, concurrency, scenario.platforms)
        )
        upserts.append(upserted)
        db.forget_polls()
        wall, document, _, _ = run_tokensync(
            ["poll-platforms", "--concurrency", str(concurrency), "--results", "none"], env
        )
        assert document["pollsFailed"] == 0, document
        ours_polls.append(document["platformCount"] / wall)
        ours_items.append(document["itemsStored"] / wall)
    return {
        "scenario": args.poll_scenario,
        "concurrency": concurrency,
        "users": users,
        "connections": users * len(scenario.platforms),
        "pollsPerSecond": round(median(ours_polls), 1),
        "itemsStoredPerSecond": round(median(ours_items)),
        "ceilingPollsPerSecond": round(median(base_polls), 1),
        "ceilingItemsPerSecond": round(median(base_items)),
        "ratioToCeiling": round(median(ours_polls) / median(base_polls), 3),
        # A poller written by hand that also stores what it fetches (bench/upsert_poller.py).
        "upsertPollsPerSecond": round(median(upserts), 1),
        "ratioToUpsert": round(median(ours_polls) / median(upserts), 3),
    }


def measure_startup(args: argparse.Namespace) -> Row:
    """Wall time of `tokensync --version` and of a refresh run with nothing due, on SQLite."""
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "TOKENSYNC_DATA_DIR": data}
        env.pop("TOKENSYNC_DATABASE_URL", None)
        env.pop("TOKENSYNC_ENCRYPTION_KEYS", None)
        run_tokensync(["refresh-tokens"], env)  # creates the database and its key

        def wall(command: list[str]) -> float:
            times = []
            for _ in range(max(args.repeat, 5)):
                started = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "tokensync", *command],
                    env=env,
                    capture_output=True,
                    check=False,
                )
                times.append(time.perf_counter() - started)
            return median(times)

        return {
            "versionMs": round(wall(["--version"]) * 1000),
            "refreshNothingDueMs": round(wall(["refresh-tokens"]) * 1000),
            "pythonStartupMs": round(_python_startup() * 1000),
        }


def _python_startup() -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return median(times)


# -- the table ---------------------------------------------------------------------------------


def table(results: Row) -> str:
    lines = [
        f"tokensync benchmark, {results['machine']}, delay {results['delayMs']} ms, "
        f"{results['concurrency']} in flight, median of {results['repeat']}",
        "",
    ]
    lines.append(
        f"provider stand-in alone (no delay): "
        f"{results['provider']['requestsPerSecondAtZeroDelay']} req/s"
    )
    t = results.get("transports")
    if t:
        lines += [
            "",
            f"HTTP stacks, {t['n']} token requests (req/s): aiohttp {t['aiohttp']}, "
            f"httpx over aiohttp {t['httpxOverAiohttp']}, httpx's own transport "
            f"{t['httpxDefault']}",
        ]
    lines += [
        "",
        "| N | tokensync refreshes/s | bare aiohttp/s | ratio | ratio within the run | "
        "sequential/s | tokensync/sequential | peak RSS MiB | CPU ms a token |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["refresh"]:
        lines.append(
            f"| {r['n']} | {r['tokensyncPerSecond']} | {r['ceilingPerSecond']} | "
            f"{r['ratioToCeiling']} | {r['inRunRatioToCeiling']} | "
            f"{r['sequentialPerSecond']} (sample of {r['sequentialSample']}) | "
            f"{r['ratioToSequential']}x | {r['peakRssMiB']} | {r['cpuMsPerToken']} |"
        )
    if results.get("memory"):
        lines += ["", "| N | peak RSS MiB |", "|---|---|"]
        lines += [f"| {m['n']} | {m['peakRssMiB']} |" for m in results["memory"]]
    if results.get("polling"):
        p = results["polling"]
        lines += [
            "",
            f"polling, scenario {p['scenario']}, {p['concurrency']} in flight:",
            "| users (connections) | polls/s | items stored/s | bare polls/s | "
            "bare items/s | ratio | fetch-and-upsert polls/s | ratio to it |",
            "|---|---|---|---|---|---|---|---|",
            f"| {p['users']} ({p['connections']}) | {p['pollsPerSecond']} | "
            f"{p['itemsStoredPerSecond']} | {p['ceilingPollsPerSecond']} | "
            f"{p['ceilingItemsPerSecond']} | {p['ratioToCeiling']} | "
            f"{p['upsertPollsPerSecond']} | {p['ratioToUpsert']} |",
        ]
    if results.get("scaleOut"):
        lines += [
            "",
            "| workers | N | refreshes/s | each worker | all once, none twice |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {s['workers']} | {s['n']} | {s['perSecond']} | {s['perWorker']} | "
            f"{s['splitCorrectly']} |"
            for s in results["scaleOut"]
        ]
    if results.get("scale"):
        from bench.scale import table as scale_table

        lines += scale_table(results["scale"])
    if results.get("importList"):
        from bench.import_list import table as import_table

        lines += ["", *import_table(results["importList"])]
    s = results["startup"]
    lines += [
        "",
        f"start-up: `tokensync --version` {s['versionMs']} ms, refresh with nothing due "
        f"(SQLite) {s['refreshNothingDueMs']} ms, bare `python -c pass` {s['pythonStartupMs']} ms",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Row:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3000,10000", help="N for the refresh throughput")
    parser.add_argument("--memory-sizes", default="1000,10000,50000")
    parser.add_argument("--poll-users", type=int, default=300)
    parser.add_argument(
        "--poll-scenario",
        choices=tuple(POLL_SCENARIOS),
        default="mixed",
        help="what the polling measurements poll: mixed (spotify, github, discord; "
        "--concurrency in flight) or discord-guilds (100 guilds a user, 16 in flight)",
    )
    parser.add_argument("--scale-n", type=int, default=10000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument(
        "--provider",
        choices=("node", "python"),
        default="node",
        help="node: bench/provider.mjs, which costs less CPU than tokensync (the default); "
        "python: tests/support/provider.py, which costs more and so hides tokensync's own cost",
    )
    parser.add_argument("--sequential-sample", type=int, default=50)
    parser.add_argument("--database-url")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument(
        "--scale", action="store_true", help="also the million-connection scenario (bench/scale.py)"
    )
    parser.add_argument("--scale-total", type=int, default=1_000_000, help="PostgreSQL's large")
    parser.add_argument("--scale-sqlite-total", type=int, default=100_000, help="SQLite's large")
    parser.add_argument(
        "--polling-against",
        metavar="REV",
        help="only polling: this checkout against commit REV, side by side "
        "(bench/polling_against.py)",
    )
    parser.add_argument(
        "--refresh-against",
        metavar="REV,REV,...",
        help="only refresh: these commits side by side, '.' for this checkout, N the first of "
        "--sizes (bench/refresh_against.py)",
    )
    parser.add_argument(
        "--import-sizes",
        default="10000,100000,1000000",
        help="with --scale: lines for `tokens import` and `tokens list` (bench/import_list.py)",
    )
    args = parser.parse_args(argv)
    # Measure tokensync as installed, from compiled bytecode: pip compiles what it installs, an
    # editable checkout compiles on first import unless this variable forbids it.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(ROOT / "src" / "tokensync", quiet=1)
    if args.quick:
        args.sizes, args.memory_sizes, args.poll_users = "200", "", 20
        args.scale_n, args.workers, args.repeat, args.sequential_sample = 200, "1,2", 1, 5
    args.sizes = [int(n) for n in str(args.sizes).split(",") if n]
    args.memory_sizes = [int(n) for n in str(args.memory_sizes).split(",") if n]
    args.workers = [int(n) for n in str(args.workers).split(",") if n]

    results: Row = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "delayMs": round(args.delay * 1000),
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "providerKind": args.provider,
        "provider": measure_provider(args.concurrency, args.repeat, args.provider == "node"),
        "startup": measure_startup(args),
    }
    with (
        database(args.database_url) as db,
        running_provider(
            "--delay",
            str(args.delay),
            "--guilds",
            str(POLL_SCENARIOS[args.poll_scenario].guilds),
            node=args.provider == "node",
        ) as provider,
        tempfile.TemporaryDirectory() as data,
    ):
        config = provider.config(Path(data) / "bench.toml", batch_size=200)
        env = {
            **os.environ,
            "TOKENSYNC_DATABASE_URL": db.url,
            "TOKENSYNC_DATA_DIR": data,
            "TOKENSYNC_ENCRYPTION_KEYS": generate_key(),
            "TOKENSYNC_CONFIG": str(config),
        }
        if args.polling_against:
            from bench import polling_against

            found = polling_against.measure(db, provider, env, args.polling_against, args)
            print(polling_against.table(found))
            return found
        if args.refresh_against:
            from bench import refresh_against

            found = refresh_against.measure(db, provider, env, args.refresh_against, args)
            print(refresh_against.table(found))
            return found
        results["transports"] = measure_transports(provider, args)
        results["refresh"] = [measure_refresh(db, provider, env, n, args) for n in args.sizes]
        results["memory"] = [measure_memory(db, provider, env, n, args) for n in args.memory_sizes]
        if args.poll_users:
            results["polling"] = measure_polling(db, provider, env, args.poll_users, args)
        if args.workers:
            results["scaleOut"] = measure_scale_out(db, provider, env, args.scale_n, args)
        if args.scale:
            from bench.scale import measure_scale

            results["scale"] = measure_scale(db.url, Path(data), env, provider, args)
            from bench import import_list

            sizes = [int(n) for n in str(args.import_sizes).split(",") if n]
            work = Path(data) / "import-list"
            work.mkdir()
            results["importList"] = import_list.measure(
                "sqlite", None, work, sizes
            ) + import_list.measure("postgres", db.url, work, sizes)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {output}")
    return results


if __name__ == "__main__":
    main()
