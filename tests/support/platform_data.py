"""Platform data that changes on command, served by tests/support/provider.py on loopback.

Two endpoints whose real shapes tokensync polls, per user (the provider's user of a bearer token):

- GitHub `GET /user/repos`: a snapshot in `per_page`/`page` pages with a Link header (oldest
  first, as tokensync asks), each repository at its current version (`stargazers_count`).
- Google Calendar `GET /calendars/primary/events`: without `syncToken`, every live event in
  `pageToken` pages, the last one carrying `nextSyncToken`; with one, the events changed since
  (a removed event as `status: "cancelled"`); a sync token older than an `expire` command
  answers `410 Gone`, as Google does when it wants a full sync.

A command (`POST /admin/data`) changes one user's data:

    {"user": 3, "repos": {"upsert": {"7": 2}, "remove": [4]},
     "events": {"upsert": {"9": 1}, "remove": [2]}, "expire": true}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from tests.support import payloads

Pages = Callable[[URL, int], tuple[range, str | None]]  # tests/support/provider.py github_page
GONE = payloads.google_error(
    410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired", "GONE"
)


@dataclass
class UserData:
    """One user's repositories and calendar events, and the calendar's change log."""

    repos: dict[int, int] = field(default_factory=dict)  # number -> version
    events: dict[int, int] = field(default_factory=dict)  # number -> version, live only
    log: list[int] = field(default_factory=list)  # event numbers, in the order they changed
    floor: int = 0  # a sync token before this point answers 410


def _event(number: int, version: int | None) -> dict[str, Any]:
    if version is None:
        return payloads.calendar_event(number, "cancelled")
    event = payloads.calendar_event(number)
    event.update(summary=f"Meeting {number} v{version}", sequence=version)
    event["etag"] = f'"{3181161784712000 + number * 1000 + version}"'
    return event


@dataclass
class PlatformData:
    """Every user's changing data; pages of at most `page_size` items."""

    page_size: int = 3
    users: dict[int, UserData] = field(default_factory=dict)

    def has(self, user: int) -> bool:
        """Whether this user's data is served from here."""
        return user in self.users

    def change(self, command: dict[str, Any]) -> None:
        """Apply one command (see the module docstring)."""
        data = self.users.setdefault(int(command["user"]), UserData())
        repos = command.get("repos", {})
        for number, version in repos.get("upsert", {}).items():
            data.repos[int(number)] = int(version)
        for number in repos.get("remove", []):
            data.repos.pop(int(number), None)
        events = command.get("events", {})
        for number, version in events.get("upsert", {}).items():
            data.events[int(number)] = int(version)
            data.log.append(int(number))
        for number in events.get("remove", []):
            if data.events.pop(int(number), None) is not None:
                data.log.append(int(number))
        if command.get("expire"):
            data.floor = len(data.log)

    def repos(
        self, url: URL, user: int, github_page: Pages
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of GET /user/repos and its Link header."""
        data = self.users[user]
        capped = url.update_query(per_page=min(int(url.query.get("per_page", 30)), self.page_size))
        numbers = sorted(data.repos)
        indices, link = github_page(capped, len(numbers))
        login = f"user{user}"
        repos = [
            payloads.github_repo(n, login, stars=data.repos[n])
            for n in numbers[indices.start : indices.stop]
        ]
        return repos, link

    def events(self, url: URL, user: int) -> tuple[int, dict[str, Any]]:
        """A page of events.list: (status, body)."""
        data = self.users[user]
        query = url.query
        token = query.get("pageToken")
        if token is not None:  # "<since>:<upto>:<offset>", since -1 for a full listing
            since, upto, offset = (int(part) for part in token.split(":"))
        else:
            sync = query.get("syncToken")
            since = -1 if sync is None else int(sync.removeprefix("S"))
            if since >= 0 and since < data.floor:
                return 410, GONE
            upto, offset = len(data.log), 0
        if since < 0:
            listed: list[tuple[int, int | None]] = sorted(data.events.items())
        else:
            changed = sorted(set(data.log[since:upto]))
            listed = [(n, data.events.get(n)) for n in changed]
        shown = listed[offset : offset + self.page_size]
        body = payloads.calendar_page([_event(n, v) for n, v in shown])
        if offset + self.page_size < len(listed):
            body["nextPageToken"] = f"{since}:{upto}:{offset + self.page_size}"
        else:
            body["nextSyncToken"] = f"S{upto}"
        return 200, body
