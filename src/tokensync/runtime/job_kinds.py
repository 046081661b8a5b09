"""The two scheduled jobs by name: the command that runs each (as the runs table, the metrics and
the step summary name it) and the `cronType` of its document (as the old HTTP endpoints named it).
Named here, below everything that names them: status, the documents, the options and results."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    """One of the two jobs."""

    command: str  # the CLI command: refresh-tokens, poll-platforms
    cron_type: str  # the document's cronType
    noun: str  # what a progress line calls its work: refresh, poll


REFRESH = JobKind("refresh-tokens", "token-refresh", "refresh")
POLL = JobKind("poll-platforms", "platform-polling", "poll")
JOB_KINDS = (REFRESH, POLL)
