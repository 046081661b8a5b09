"""What the operator asked of a job run: the options both jobs take, and refresh's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, get_args

from tokensync.runtime.job_kinds import POLL, REFRESH, JobKind
from tokensync.store import Filters

# What the document's results array holds.
Keep = Literal["all", "failures", "none"]
KEEP: tuple[Keep, ...] = get_args(Keep)
# What makes a run exit 1: any failure, or only those an operator can act on (a user's dead
# grant is the application's business: reported and evented, not a failed run).
FailOn = Literal["any", "operator"]
FAIL_ON: tuple[FailOn, ...] = get_args(FailOn)


@dataclass(frozen=True, kw_only=True)
class JobOptions:
    """The options of both jobs."""

    kind: ClassVar[JobKind]  # the job these options are for

    concurrency: int
    filters: Filters = field(default_factory=Filters)
    dry_run: bool = False
    max_duration: float | None = None
    keep: Keep = "all"
    # Act on the selected connections now, whatever the window, back-off or poll_interval.
    force: bool = False
    fail_on: FailOn = "any"

    def keeps(self, success: bool) -> bool:
        """Whether an item that ended so belongs in the results array."""
        return self.keep == "all" or (self.keep == "failures" and not success)


@dataclass(frozen=True, kw_only=True)
class RefreshOptions(JobOptions):
    """refresh-tokens: also how soon a token must expire to be refreshed."""

    kind: ClassVar[JobKind] = REFRESH
    window: float


@dataclass(frozen=True, kw_only=True)
class PollOptions(JobOptions):
    """poll-platforms."""

    kind: ClassVar[JobKind] = POLL
