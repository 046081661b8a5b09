"""What `tokensync doctor` found: one Check per thing it looked at, and the diagnosis they make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tokensync.errors import exit_code_of

# ok: as it should be; warn: worth a look, nothing fails because of it; fail: the jobs (or the
# application) will fail until it is fixed; skip: could not be looked at (an earlier check
# failed, or nothing is configured to look at).
Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One thing looked at: what was found, and (unless all is well) what to do."""

    name: str
    status: Status
    found: str
    fix: str | None = None
    platform: str | None = None

    @classmethod
    def ok(cls, name: str, found: str, *, platform: str | None = None) -> Check:
        """As it should be."""
        return cls(name, "ok", found, platform=platform)


@dataclass(frozen=True)
class Diagnosis:
    """Every check, in the order they ran."""

    checks: Sequence[Check]

    @property
    def success(self) -> bool:
        """No check failed (warnings do not fail the command)."""
        return all(c.status != "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        """1 when a check failed (Concluded)."""
        return exit_code_of(self.success)

    def count(self, status: Status) -> int:
        """How many checks ended so."""
        return sum(c.status == status for c in self.checks)
