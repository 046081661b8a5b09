"""A poll-platforms process killed (SIGKILL) in the middle of a snapshot marks nothing wrong, and
the next run completes the snapshot; on both engines, against a stand-in on loopback.

The job-level tests (tests/jobs/test_poll_deletions.py) stop a run at every page of a snapshot;
this one kills a real process, with nothing of its own left to run: no finally, no rollback of
its own, only what it committed and what the database does with a connection that vanished.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import payloads as p
from tests.support.processes import tokensync, wait_for
from tests.support.support import CLIENT_ENV, Cli, lapse_leases, live_keys, seed, tombstones
from tokensync.store import open_store

PER_PAGE = 2
HOLD = 120.0  # seconds the stand-in holds a page: far more than the test needs to kill


class Spotify:
    """Spotify's top tracks and recently played on loopback; can hold a page of top tracks."""

    def __init__(self) -> None:
        self.tracks = [1, 2, 3, 4, 5, 6]
        self.hold_offset: int | None = None
        self.held = threading.Event()  # a request for the held page has arrived
        self.release = threading.Event()

    def page(self, path: str, query: dict[str, list[str]]) -> dict[str, object]:
        if path.endswith("/me/player/recently-played"):
            return p.spotify_recently_played([], after=None)
        offset = int(query.get("offset", ["0"])[0])
        if offset == self.hold_offset:
            self.held.set()
            self.release.wait(HOLD)
        shown = self.tracks[offset : offset + PER_PAGE]
        return p.spotify_top_tracks(shown, offset=offset, total=len(self.tracks))


@pytest.fixture
def spotify() -> Iterator[tuple[Spotify, str]]:
    """The stand-in, serving on a free loopback port: (its state, its API base)."""
    state = Spotify()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            body = json.dumps(state.page(url.path, parse_qs(url.query))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def track_ids(*numbers: int) -> set[str]:
    return {str(p.spotify_track(n)["id"]) for n in numbers}


def test_a_run_killed_mid_snapshot_marks_nothing_and_the_next_completes_it(
    cli: Cli,
    env: dict[str, str],
    db_url: str,
    tmp_path: Path,
    spotify: tuple[Spotify, str],
) -> None:
    state, base = spotify
    config = tmp_path / "spotify.toml"
    config.write_text(
        f'poll_interval = "0s"\n[platforms.spotify]\napi_base = "{base}"\n'
        f'token_url = "{base}/token"\n'
    )
    run_env = {**env, **CLIENT_ENV, "TOKENSYNC_CONFIG": str(config)}
    seed(cli, ("u1", "spotify"), expires_in=3600)
    where = (db_url, "u1", "spotify", "top_tracks")
    assert cli("poll-platforms", extra_env=run_env).code == 0
    assert live_keys(*where) == track_ids(1, 2, 3, 4, 5, 6)

    state.tracks.remove(2)  # a track leaves the list
    state.hold_offset = PER_PAGE  # the second page of the next snapshot never comes
    process = tokensync(["poll-platforms"], run_env)
    try:
        wait_for(state.held.is_set, "the killed run asks for the second page", timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert tombstones(*where) == {}, "the snapshot was cut short: nothing is known to be gone"
    store = open_store(db_url)
    try:
        resume = store.sync_states("u1", "spotify")["top_tracks"]
    finally:
        store.close()
    assert resume.extra == {"offset": PER_PAGE}, "the first page was committed with its cursor"

    state.hold_offset = None
    state.release.set()
    lapse_leases(db_url, lease="poll_lease")  # the dead run's poll lease, which it never ended
    doc = cli("poll-platforms", extra_env=run_env).json
    assert doc["success"] is True and doc["itemsDeleted"] == 1
    assert tombstones(*where) == dict.fromkeys(track_ids(2), "absent_from_snapshot")
    assert live_keys(*where) == track_ids(1, 3, 4, 5, 6)
